#!/usr/bin/env bash
# Quickstart: a demo IP Office (ipo-sim, with live traffic), redis-server and
# mtcti3-bridge on embedded Kafka, then the events as they arrive (kcat).
# Everything listens on 127.0.0.1 and stops on Ctrl-C.
#
#   bridge/quickstart.sh            # build (once), run, show the events
#   QUICKSTART_CPS=5 bridge/quickstart.sh
#
# Needs: cmake, ninja or make, a C compiler, the -dev packages of the build
# (see the top README), redis-server and kcat.
set -euo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${MTCTI3_BUILD_DIR:-$top/build}
work=$(mktemp -d /tmp/mtcti3-quickstart.XXXXXX)
cps=${QUICKSTART_CPS:-1}
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  echo "logs kept in $work"
}
trap cleanup EXIT INT TERM

if [ ! -x "$build/bridge/mtcti3-bridge" ] || [ ! -x "$build/sim/ipo-sim" ]; then
  gen=(); command -v ninja >/dev/null && gen=(-G Ninja)
  cmake -S "$top" -B "$build" "${gen[@]}" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build "$build" --target mtcti3-bridge ipo-sim -j"$(nproc)"
fi

wait_file() { for _ in $(seq 1 100); do [ -s "$1" ] && return 0; sleep 0.1; done; echo "no $1" >&2; exit 1; }
json() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" "$1" "$2"; }

redis_port=$((20000 + RANDOM % 10000))
redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no >"$work/redis.log" 2>&1 &
pids+=($!)

export IPO_SIM_PASSWORD=demo-password
"$build/sim/ipo-sim" --listen 127.0.0.1:0 --control 127.0.0.1:0 --ready-file "$work/sim.json" \
  --tls-dir "$work/tls" --users 20 --queues 3 --calls-per-second "$cps" >"$work/sim.log" 2>&1 &
pids+=($!)
wait_file "$work/sim.json"

export MTCTI3_IPO_URL="wss://127.0.0.1:$(json "$work/sim.json" wss_port)/tpkt/openapi"
export MTCTI3_IPO_USER=mtcti3 MTCTI3_IPO_PASSWORD=$IPO_SIM_PASSWORD
export MTCTI3_IPO_CA_FILE=$(json "$work/sim.json" ca_file)
export MTCTI3_KAFKA_BOOTSTRAP=embedded MTCTI3_REDIS_URL="redis://127.0.0.1:$redis_port/0"
export MTCTI3_PBX_ID=demo
"$build/bridge/mtcti3-bridge" --ready_file="$work/bridge.json" --http_listen=127.0.0.1:0 \
  >"$work/bridge.out" 2>"$work/bridge.log" &
pids+=($!)
wait_file "$work/bridge.json"
bootstrap=$(json "$work/bridge.json" kafka_bootstrap)
echo "ipo-sim control: http://127.0.0.1:$(json "$work/sim.json" control_port)/  (try: curl -XPOST .../trunk/call -d '{\"to\":\"2001\"}')"
echo "bridge metrics:  http://127.0.0.1:$(json "$work/bridge.json" http_port)/metrics"
echo "embedded Kafka:  $bootstrap  (kcat -C -b $bootstrap -t mtcti3.calls)"
echo "---- events (topic key: op seq changed) ----"
kcat -C -b "$bootstrap" -G "quickstart-$$" mtcti3.calls mtcti3.presence mtcti3.queues mtcti3.lines mtcti3.bridge \
  -o beginning -q -f '%t %k: %s\n' -X topic.metadata.refresh.interval.ms=1000 2>/dev/null |
  python3 -u -c '
import json, sys
for line in sys.stdin:
    head, _, body = line.partition(": ")
    try:
        e = json.loads(body)
    except ValueError:
        print(head, "(tombstone)" if not body.strip() else body.strip()[:80]); continue
    if "op" in e:
        extra = " ".join(e["changed"]) if e["op"] == "u" else ""
        print("%s: %s seq=%s %s" % (head, e["op"], e["seq"], extra))
    else:
        print("%s: %s" % (head, e.get("type")))
'
