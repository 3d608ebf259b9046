#!/usr/bin/env bash
# The ingest benchmark: builds the Release tree (build-release/), prepares
# the Python environment and runs tests/bench/bench_ingest.py against a real
# Kafka broker, redis-server, ipo-sim and the bridge, all on loopback.  It
# stops by itself (--max-seconds, default 1500) and writes
# tests/bench/RESULTS.md.  Arguments go to bench_ingest.py (--help).
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
build=${MTCTI3_BENCH_BUILD_DIR:-$top/build-release}
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
ninja -C "$build" ipo-sim mtcti3-bridge >/dev/null
tests/lib/pyenv.sh
# One benchmark at a time on a machine: two would share the cores and both
# measure less.  The lock is held until the benchmark exits.
exec 9>"${TMPDIR:-/tmp}/mtcti3-bench.lock"
if ! flock -n 9; then
  echo "another benchmark is running; waiting for it" >&2
  flock 9
fi
exec env MTCTI3_BUILD_DIR="$build" timeout 1800 tests/.work/venv/bin/python tests/bench/bench_ingest.py "$@"
