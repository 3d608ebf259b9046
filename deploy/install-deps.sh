#!/usr/bin/env bash
# Installs what the project needs from Debian's packages, idempotently:
# nothing is downloaded outside the package manager, nothing is vendored.
#
#   deploy/install-deps.sh           build and run (quickstart)
#   deploy/install-deps.sh --test    also what the test suite needs
#
# Runs apt-get only when something is missing, so a second run is instant.
set -euo pipefail

build_pkgs=(
  build-essential cmake ninja-build pkg-config
  librdkafka-dev libprotobuf-c-dev protobuf-c-compiler
  libwebsockets-dev libjansson-dev libhiredis-dev libssl-dev openssl
  libsystemd-dev                  # sd_notify (optional to the build; the tests expect it)
  redis-server kcat tzdata
)
test_pkgs=(
  clang libclang-rt-14-dev        # libFuzzer and the sanitizer runtimes
  protobuf-compiler               # protoc: Python bindings, the independent proto3 side
  python3 python3-venv python3-pip
  default-jdk-headless maven      # the real Kafka broker from Maven Central jars
  chromium chromium-driver        # the wallboard's browser test (headless, through Selenium)
  tzdata                          # the queue statistics' time zones (unit tests use Europe/Berlin)
  systemd                         # systemd-analyze verify/security of the unit
  prometheus                      # promtool: alert rules, their unit tests, /metrics (the package
                                  # also ships a server; under systemd, apt enables it)
  podman buildah runc debootstrap curl # the container image (runc: where crun cannot run; debootstrap:
                                  # the base image where no registry of images can be reached)
)                                 # and helm: tests/deploy/helm.sh, with the machine's Go (1.24 or later)

pkgs=("${build_pkgs[@]}")
[ "${1:-}" = "--test" ] && pkgs+=("${test_pkgs[@]}")

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# The machine may carry its own JDK and Maven outside dpkg; accept them.
if command -v java >/dev/null && command -v mvn >/dev/null; then
  missing=($(printf '%s\n' "${missing[@]}" | grep -vx -e default-jdk-headless -e maven || true))
fi
if command -v python3 >/dev/null && python3 -c 'import venv, ensurepip' 2>/dev/null; then
  missing=($(printf '%s\n' "${missing[@]}" | grep -vx -e python3 -e python3-venv -e python3-pip || true))
fi
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
echo "install-deps: installing ${missing[*]}" >&2
$sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
