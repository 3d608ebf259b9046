#!/usr/bin/env bash
# Prints the path of helm at the pinned version, built once with `go install`
# from the Go module proxy into $MTCTI3_TEST_WORK/tools (default tests/.work).
# No Debian package ships helm.  The first build takes several minutes on two
# cores (Go's build cache makes later ones a few seconds); its log is beside it.
set -euo pipefail
version=v4.3.2
top=$(cd "$(dirname "$0")/../.." && pwd)
dir=${MTCTI3_TEST_WORK:-$top/tests/.work}/tools/helm-$version
if [ ! -x "$dir/helm" ]; then
  command -v go >/dev/null || { echo "helm.sh: no go on PATH (helm $version needs Go 1.24 or later)" >&2; exit 1; }
  mkdir -p "$dir"
  if ! GOBIN="$dir" GOFLAGS=-mod=mod nice go install "helm.sh/helm/v4/cmd/helm@$version" >"$dir.log" 2>&1; then
    tail -20 "$dir.log" >&2
    exit 1
  fi
fi
echo "$dir/helm"
