#!/usr/bin/env bash
# Builds the libFuzzer target fuzz_codec with clang (into build-fuzz) and runs
# it for SECONDS (default 30) on a scratch copy of tests/fuzz/corpus, so the
# committed seeds are never touched.  A crash leaves its input in
# build-fuzz/fuzz-artifacts/ and makes this script exit non-zero.
# Usage: tests/fuzz/run.sh [SECONDS]
set -euo pipefail
secs=${1:-30}
case $secs in ''|*[!0-9]*) echo "usage: $0 [SECONDS]" >&2; exit 2;; esac
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=${MTCTI3_FUZZ_BUILD_DIR:-$top/build-fuzz}
artifacts=$build/fuzz-artifacts

# -DMTCTI3_FUZZ=ON instruments the codec for coverage and links the target
# with libFuzzer (CMakeLists.txt, codec/CMakeLists.txt).
CC=clang cmake -S "$top" -B "$build" -G Ninja -DMTCTI3_FUZZ=ON >/dev/null
ninja -C "$build" fuzz_codec >/dev/null

scratch=$(mktemp -d "${TMPDIR:-/tmp}/fuzz_codec.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
mkdir -p "$scratch/corpus" "$artifacts"
cp "$top/tests/fuzz/corpus/"* "$scratch/corpus/"

status=0
(cd "$scratch" && "$build/codec/fuzz_codec" -max_total_time="$secs" -max_len=65536 \
  -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
  -artifact_prefix="$artifacts/" "$scratch/corpus") || status=$?
if [ "$status" -ne 0 ]; then
  echo "fuzz_codec failed (status $status); inputs in $artifacts/" >&2
  exit 1
fi
echo "fuzz_codec: no crash in ${secs}s"
