#!/usr/bin/env bash
# Installs (once) the npm packages of the tests, pinned by
# tests/contract/package-lock.json, under $MTCTI3_TEST_WORK/node (default
# tests/.work/node), and prints that dir's node_modules.  Install scripts
# are not run: nothing the tests use needs one.
# Usage: NODE_PATH=$(tests/lib/nodeenv.sh) node script.cjs
set -euo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
work=${MTCTI3_TEST_WORK:-$top/tests/.work}
src=$top/tests/contract
dir=$work/node
stamp="$dir/.lock-$(cat "$src/package.json" "$src/package-lock.json" | sha1sum | cut -c1-12)"
if [ ! -f "$stamp" ]; then
  mkdir -p "$dir"
  exec 9>"$dir.lock"
  flock 9
  if [ ! -f "$stamp" ]; then
    rm -rf "$dir/node_modules" "$dir"/.lock-*
    cp "$src/package.json" "$src/package-lock.json" "$dir/"
    if ! (cd "$dir" && npm ci --ignore-scripts --no-audit --no-fund >"$dir/npm.log" 2>&1); then
      echo "nodeenv.sh: npm ci failed (log $dir/npm.log):" >&2
      tail -n 20 "$dir/npm.log" >&2
      exit 1
    fi
    touch "$stamp"
  fi
fi
printf '%s\n' "$dir/node_modules"
