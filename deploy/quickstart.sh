#!/usr/bin/env bash
# The quickstart: from a fresh Debian 12 machine, install, build and show the
# project working.  Today it builds everything and shows the codec on the
# specification's golden vector, both ways, and a notify rendered as the
# spec's traces are; the demo grows with the bridge (issue 4).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

deploy/install-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
ninja -C build -j"$(nproc)" >/dev/null
cli=build/codec/mtcti3

golden=000000011a0c0801100118901cc202020807
echo "== The spec's golden vector: a Lines subscription, as websocket payload hex"
echo "$golden"
echo
echo "== mtcti3 decode --hex (proto3 JSON)"
json=$(echo "$golden" | "$cli" decode --hex)
echo "$json"
echo
echo "== mtcti3 decode --hex --format text (as the spec's traces print it)"
echo "$golden" | "$cli" decode --hex --format text
echo
echo "== mtcti3 encode --hex (back to the same bytes)"
back=$(echo "$json" | "$cli" encode --hex)
echo "$back"
[ "$back" = "$golden" ] && echo "round trip: identical"
echo
echo "== An incoming call notify, from JSON to the wire and back to text"
echo '{"notify":{"subscribe_id":7000,"notify_id":1,"callcontrol":{"refreshinstance":1,"callinfo":[{"callid":1,"state":"RINGING","direction":"INBOUND","gcid":"AcCoKgsAAAPs","featuresavailable":35,"callingparty":{"number":"61001","name":"Agent 61001","nametype":5}}]}}}' \
  | "$cli" encode --hex | "$cli" decode --hex --format text
