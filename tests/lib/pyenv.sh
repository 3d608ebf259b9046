#!/usr/bin/env bash
# Creates (once) the test virtualenv and generates the Python protobuf module
# from proto/ipo_mtcti3.proto.  Prints nothing on success; sourced or run.
# Usage: tests/lib/pyenv.sh   (then use $MTCTI3_TEST_WORK/venv/bin/python)
set -euo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
work=${MTCTI3_TEST_WORK:-$top/tests/.work}
mkdir -p "$work/py"
if [ ! -x "$work/venv/bin/python" ]; then
  python3 -m venv "$work/venv"
fi
stamp="$work/venv/.req-$(sha1sum "$top/tests/requirements.txt" | cut -c1-12)"
if [ ! -f "$stamp" ]; then
  "$work/venv/bin/pip" install -q --disable-pip-version-check -r "$top/tests/requirements.txt"
  touch "$stamp"
fi
protoc --python_out="$work/py" -I"$top/proto" "$top/proto/ipo_mtcti3.proto"
