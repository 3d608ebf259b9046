#!/usr/bin/env bash
# The quickstart, from a fresh Debian 12 machine: installs the packages,
# builds, then runs a demo IP Office (ipo-sim, with live call traffic),
# redis-server and mtcti3-bridge on embedded Kafka, and mtcti3-wallboard
# (the queues' live statistics in a browser: it prints the URL), and prints
# the change events as they arrive (kcat).  Everything listens on 127.0.0.1.
#
#   deploy/quickstart.sh                       # runs 60 s, then stops
#   QUICKSTART_SECONDS=0 deploy/quickstart.sh  # until Ctrl-C
#   QUICKSTART_CPS=5 deploy/quickstart.sh      # calls per second
#   QUICKSTART_WALLBOARD=127.0.0.1:8088        # where the wallboard listens (port 0: any)
#   QUICKSTART_PAIR=1 deploy/quickstart.sh     # ipo-sim as a resilient pair (--secondary), the bridge live-live on both
set -euo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${MTCTI3_BUILD_DIR:-$top/build-release}
work=$(mktemp -d /tmp/mtcti3-quickstart.XXXXXX)
cps=${QUICKSTART_CPS:-2}
secs=${QUICKSTART_SECONDS:-60}
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  echo "logs kept in $work"
}
trap cleanup EXIT INT TERM

"$top/deploy/install-deps.sh"
gen=(); command -v ninja >/dev/null && gen=(-G Ninja)
cmake -S "$top" -B "$build" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" --target mtcti3-bridge ipo-sim mtcti3 mtcti3-wallboard -j"$(nproc)" >/dev/null

echo "== the codec on the spec's golden vector (a Lines subscription)"
echo 000000011a0c0801100118901cc202020807 | "$build/codec/mtcti3" decode --hex
echo 000000011a0c0801100118901cc202020807 | "$build/codec/mtcti3" decode --hex --format line
echo
wait_file() { for _ in $(seq 1 600); do [ -s "$1" ] && return 0; sleep 0.1; done; echo "no $1" >&2; exit 1; }
json() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" "$1" "$2"; }

# A free loopback port for Redis, chosen now (the others pick their own).
redis_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no >"$work/redis.log" 2>&1 &
pids+=($!)

export IPO_SIM_PASSWORD=demo-password
"$build/sim/ipo-sim" --listen 127.0.0.1:0 --control 127.0.0.1:0 --ready-file "$work/sim.json" \
  --tls-dir "$work/tls" --users 20 --queues 3 --calls-per-second "$cps" \
  ${QUICKSTART_PAIR:+--secondary 127.0.0.1:0} >"$work/sim.log" 2>&1 &
pids+=($!)
wait_file "$work/sim.json"

export MTCTI3_IPO_URL="wss://127.0.0.1:$(json "$work/sim.json" wss_port)/tpkt/openapi"
export MTCTI3_IPO_USER=mtcti3 MTCTI3_IPO_PASSWORD=$IPO_SIM_PASSWORD
export MTCTI3_IPO_CA_FILE=$(json "$work/sim.json" ca_file)
export MTCTI3_KAFKA_BOOTSTRAP=embedded MTCTI3_REDIS_URL="redis://127.0.0.1:$redis_port/0"
export MTCTI3_PBX_ID=demo
if [ -n "${QUICKSTART_PAIR:-}" ]; then # a resilient pair: the bridge watches both systems live-live
  export MTCTI3_IPO_SECONDARY_URL=$(python3 -c "import json,sys; print([s['url'] for s in json.load(open(sys.argv[1]))['systems'] if s['name'] == 'secondary'][0])" "$work/sim.json")
  echo "resilient pair: primary $MTCTI3_IPO_URL, secondary $MTCTI3_IPO_SECONDARY_URL"
  echo "  fail the primary: curl -XPOST http://127.0.0.1:$(json "$work/sim.json" control_port)/systems/primary/fail (restore: .../restore)"
fi
"$build/bridge/mtcti3-bridge" --ready_file="$work/bridge.json" --http_listen=127.0.0.1:0 \
  >"$work/bridge.out" 2>"$work/bridge.log" &
pids+=($!)
wait_file "$work/bridge.json"
bootstrap=$(json "$work/bridge.json" kafka_bootstrap)
"$build/wallboard/mtcti3-wallboard" --kafka_bootstrap="$bootstrap" --title="Quickstart contact centre" \
  --listen="${QUICKSTART_WALLBOARD:-127.0.0.1:8088}" --ready_file="$work/wallboard.json" >"$work/wallboard.log" 2>&1 &
pids+=($!)
wait_file "$work/wallboard.json"
echo "ipo-sim control: http://127.0.0.1:$(json "$work/sim.json" control_port)/  (try: curl -XPOST .../trunk/call -d '{\"to\":\"2001\"}')"
echo "bridge metrics:  http://127.0.0.1:$(json "$work/bridge.json" http_port)/metrics"
echo "embedded Kafka:  $bootstrap  (kcat -C -b $bootstrap -t mtcti3.calls)"
echo "wallboard:       http://127.0.0.1:$(json "$work/wallboard.json" http_port)/   <- open in a browser"
echo "---- events for ${secs}s (topic key: op seq changed; 0 = until Ctrl-C) ----"
run=(); [ "$secs" -gt 0 ] && run=(timeout "$secs")
"${run[@]}" kcat -C -b "$bootstrap" -G "quickstart-$$" mtcti3.calls mtcti3.presence mtcti3.queues mtcti3.lines mtcti3.bridge mtcti3.queue-stats \
  -o beginning -q -f '%t %k: %s\n' -X topic.metadata.refresh.interval.ms=1000 2>/dev/null |
  python3 -u -c '
import json, sys
for line in sys.stdin:
    head, _, body = line.partition(": ")
    try:
        e = json.loads(body)
    except ValueError:
        print(head, "(tombstone)" if not body.strip() else body.strip()[:80]); continue
    if "waiting" in e:
        w = e["window"]
        print("%s: %s waiting=%s offered=%s answered=%s abandoned=%s" % (head, e["queue"]["name"], e["waiting"],
              w["offered"], w["answered"], w["abandoned"]))
    elif "op" in e:
        extra = " ".join(e["changed"]) if e["op"] == "u" else ""
        print("%s: %s seq=%s %s" % (head, e["op"], e["seq"], extra))
    else:
        print("%s: %s" % (head, e.get("type")))
' || true
