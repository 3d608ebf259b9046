#!/usr/bin/env bash
# Creates (once) the test virtualenv and generates the Python protobuf module
# from proto/ipo_mtcti3.proto.  Prints nothing on success; sourced or run.
# Also installs the Python client (clients/python) into the virtualenv.
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
# The Python client (clients/python), installed as a user installs it; again
# whenever its files change.
client_stamp="$work/venv/.client-$(cd "$top/clients/python" && find . -type f -not -path '*/__pycache__/*' \
  -not -path './build/*' -not -path '*.egg-info*' -print0 | sort -z | xargs -0 sha1sum | sha1sum | cut -c1-12)"
if [ ! -f "$client_stamp" ]; then
  rm -f "$work"/venv/.client-*
  "$work/venv/bin/pip" install -q --disable-pip-version-check --no-deps "$top/clients/python"
  rm -rf "$top/clients/python/build" "$top/clients/python"/src/*.egg-info
  touch "$client_stamp"
fi
protoc --python_out="$work/py" -I"$top/proto" "$top/proto/ipo_mtcti3.proto"
