#!/usr/bin/env bash
# Runs every test of the project, from a fresh Debian 12 machine:
#   1. installs the Debian packages and the Python test environment;
#   2. builds twice with -Werror: plain (build/) and with AddressSanitizer +
#      UndefinedBehaviorSanitizer (build-asan/);
#   3. runs the C unit tests (ctest) in both builds;
#   4. runs the pytest suites (codec interop, CLI, simulator, bridge, the
#      deployment artefacts, and the real Kafka/Redis services) against the
#      sanitized binaries;
#   5. builds the container image with podman and runs it (tests/deploy/image.sh;
#      skipped, saying why, where podman cannot run containers);
#   6. fuzzes the codec for $MTCTI3_FUZZ_SECONDS (default 30) seconds.
# Environment: MTCTI3_FUZZ_SECONDS, PYTEST_ARGS (extra pytest arguments).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
jobs=$(nproc)

step() { printf '\n=== %s\n' "$*"; }

step "dependencies"
deploy/install-deps.sh --test
tests/lib/pyenv.sh
tests/deploy/helm.sh >/dev/null   # helm, pinned, built once with go install (deploy/README.md)

step "build (plain, -Werror)"
cmake -S . -B build -G Ninja -DMTCTI3_WERROR=ON >/dev/null
ninja -C build -j"$jobs"

step "build (ASan + UBSan, -Werror)"
cmake -S . -B build-asan -G Ninja -DMTCTI3_WERROR=ON -DMTCTI3_SANITIZE=ON >/dev/null
ninja -C build-asan -j"$jobs"

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:strict_string_checks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

step "unit tests (plain build)"
ctest --test-dir build --output-on-failure -j"$jobs"
step "unit tests (sanitized build)"
ctest --test-dir build-asan --output-on-failure -j"$jobs"

step "integration tests (pytest, sanitized binaries, real services)"
MTCTI3_BUILD_DIR="$top/build-asan" tests/.work/venv/bin/python -m pytest tests \
  -q -rfE -p no:cacheprovider ${PYTEST_ARGS:-}

step "deploy checks: the container image (podman)"
nice tests/deploy/image.sh

step "fuzz (${MTCTI3_FUZZ_SECONDS:-30} s)"
tests/fuzz/run.sh "${MTCTI3_FUZZ_SECONDS:-30}"

step "all tests passed"
