#!/usr/bin/env bash
# Builds the libFuzzer targets fuzz_codec and fuzz_snap with clang (into
# build-fuzz) and runs each for SECONDS (default 30) on a scratch copy of
# tests/fuzz/corpus, so the committed seeds are never touched.  A crash leaves its input in
# build-fuzz/fuzz-artifacts/ and makes this script exit non-zero.
# Usage: tests/fuzz/run.sh [SECONDS]
set -euo pipefail
secs=${1:-30}
case $secs in ''|*[!0-9]*) echo "usage: $0 [SECONDS]" >&2; exit 2;; esac
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=${MTCTI3_FUZZ_BUILD_DIR:-$top/build-fuzz}
artifacts=$build/fuzz-artifacts

# -DMTCTI3_FUZZ=ON instruments the code for coverage and links the targets
# with libFuzzer (CMakeLists.txt, codec/CMakeLists.txt, bridge/CMakeLists.txt);
# -DMTCTI3_SANITIZE=ON adds AddressSanitizer and UndefinedBehaviorSanitizer.
CC=clang cmake -S "$top" -B "$build" -G Ninja -DMTCTI3_FUZZ=ON -DMTCTI3_SANITIZE=ON >/dev/null
ninja -C "$build" fuzz_codec fuzz_snap >/dev/null

scratch=$(mktemp -d "${TMPDIR:-/tmp}/fuzz.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
mkdir -p "$artifacts"

# fuzz_codec: the codec (framing, protobuf, JSON, text); fuzz_snap: the
# bridge's state texts and diff on whatever the codec accepts.  Each runs
# SECONDS on its own scratch copy of the seeds.
for target in codec/fuzz_codec bridge/fuzz_snap; do
  name=${target#*/}
  mkdir -p "$scratch/$name"
  cp "$top/tests/fuzz/corpus/"* "$scratch/$name/"
  status=0
  (cd "$scratch" && "$build/$target" -max_total_time="$secs" -max_len=65536 \
    -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$artifacts/$name-" "$scratch/$name") || status=$?
  if [ "$status" -ne 0 ]; then
    echo "$name failed (status $status); inputs in $artifacts/" >&2
    exit 1
  fi
  echo "$name: no crash in ${secs}s"
done
