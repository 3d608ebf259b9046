#!/usr/bin/env bash
# Instructions per Notify of the bridge's own work (decode, state and diff,
# event rendering, queue statistics): builds bench_notify in the Release tree (build-release/),
# replays the committed corpus once natively (digest of every event's bytes,
# CPU time) and once under valgrind's callgrind, collecting inside
# bench_measure only, then prints instructions per Notify, the cost of each
# stage (inclusive) and the functions that cost most (self).  Instructions
# are steadier than times on a shared machine: two runs of the same tree
# agree to a few instructions per Notify.
# Needs Debian's valgrind and xz-utils.
# Usage: tests/bench/callgrind.sh [--passes N] [--corpus FILE.txt[.xz]] [--top N] [--keep FILE]
set -euo pipefail
for tool in valgrind callgrind_annotate xz python3; do
  command -v "$tool" >/dev/null || { echo "callgrind.sh: $tool not found (apt-get install valgrind xz-utils)" >&2; exit 2; }
done
top=$(cd "$(dirname "$0")/../.." && pwd)
passes=2 ntop=25 keep=""
corpus=$top/tests/bench/corpus/notify-300u.txt.xz
while [ $# -gt 0 ]; do
  case $1 in
    --passes) passes=$2; shift 2;;
    --corpus) corpus=$2; shift 2;;
    --top) ntop=$2; shift 2;;
    --keep) keep=$2; shift 2;;
    -h|--help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0;;
    *) echo "usage: $0 [--passes N] [--corpus FILE] [--top N] [--keep FILE]" >&2; exit 2;;
  esac
done
build=${MTCTI3_BENCH_BUILD_DIR:-$top/build-release}
cmake -S "$top" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
nice ninja -C "$build" -j2 bench_notify >/dev/null
bin=$build/tests/bench/bench_notify

work=$(mktemp -d "${TMPDIR:-/tmp}/bench-notify.XXXXXX")
trap 'rm -rf "$work"' EXIT
case $corpus in
  *.xz) xz -dc "$corpus" > "$work/corpus.txt";;
  *) cp "$corpus" "$work/corpus.txt";;
esac

"$bin" --passes "$passes" "$work/corpus.txt" > "$work/native.txt"
nice valgrind --tool=callgrind --toggle-collect=bench_measure \
  --callgrind-out-file="$work/callgrind.out" \
  "$bin" --passes "$passes" --no-digest "$work/corpus.txt" > "$work/cg.txt" 2> "$work/cg.err"
[ -z "$keep" ] || cp "$work/callgrind.out" "$keep"
callgrind_annotate --inclusive=yes "$work/callgrind.out" > "$work/incl.txt"
callgrind_annotate "$work/callgrind.out" > "$work/self.txt"

python3 - "$work" "$ntop" "$corpus" <<'EOF'
import re, sys
work, ntop, corpus = sys.argv[1], int(sys.argv[2]), sys.argv[3]

native = open(f"{work}/native.txt").read()
cg = open(f"{work}/cg.txt").read()
m = re.search(r"measured passes \d+ notifies (\d+) changes (\d+) events (\d+)", cg)
notifies, events = int(m.group(1)), int(m.group(3))
cpu = re.search(r"cpu us per notify (\S+)", native).group(1)
digest = re.search(r"^digest (\S+)", native, re.M).group(1)
qdigest = re.search(r"^qstats digest (\S+)", native, re.M)
qdigest = qdigest.group(1) if qdigest else "-"
records = re.search(r"queue statistics records (\d+)", cg)
records = int(records.group(1)) if records else 0

ROW = re.compile(r"^\s*([\d,]+)\s+\(\s*[\d.]+%\)\s+(.*?)(?: \[(.*)\])?$")

def rows(path):
    got = []
    for line in open(path):
        m = ROW.match(line)
        if not m or "PROGRAM TOTALS" in line:
            continue
        ir = int(m.group(1).replace(",", ""))
        name = m.group(2).split(":", 1)[-1] if ":" in m.group(2) else m.group(2)
        obj = (m.group(3) or "").rsplit("/", 1)[-1]
        got.append((ir, name, obj))
    return got

total = 0
for line in open(f"{work}/self.txt"):
    if "PROGRAM TOTALS" in line:
        total = int(line.split()[0].replace(",", ""))
incl = {}
for ir, name, obj in rows(f"{work}/incl.txt"):
    if not re.search(r"'\d+$", name):  # the outermost call of a recursion holds it all
        incl[name] = incl.get(name, 0) + ir
selfc = {}
for ir, name, obj in rows(f"{work}/self.txt"):
    key = (re.sub(r"'\d+$", "", name), obj)  # every level of a recursion together
    selfc[key] = selfc.get(key, 0) + ir

print(f"corpus {corpus}: {notifies} Notifies measured, {events} events")
print(f"instructions per Notify: {total / notifies:,.0f}   (per event {total / max(events, 1):,.0f})")
print(f"native: {cpu} us of CPU per Notify; events digest {digest}, queue statistics digest {qdigest} ({records} records)")
print()
def per(ir):
    return f"{ir / notifies:>9,.0f}"

applies = sum(incl.get(f"snap_{k}_apply", 0) for k in ("lines", "user", "presence", "queue", "calls"))
qchange = incl.get("qstats_change", 0)
render = incl.get("bench_on_change", 0) - qchange
qstats = qchange + incl.get("qstats_flush", 0)
print("stages (instructions per Notify, callees included):")
decode = incl.get('codec_frame_decode', 0) + incl.get('codec_frame_decode_into', 0)
print(f"  decode (codec_frame_decode[_into])   {per(decode)}")
print(f"    wire check (codec_wire_check)      {per(incl.get('codec_wire_check', incl.get('walk_message', 0)))}")
print(f"    protobuf-c unpack                  {per(incl.get('message__unpack', 0))}")
print(f"  free the message (none in an arena)  {per(incl.get('message__free_unpacked', 0))}")
print(f"  state and diff (snap_*_apply)        {per(applies - render - qchange)}")
print(f"  event rendering (event_render, ...)  {per(render)}")
print(f"  queue statistics (qstats_*)          {per(qstats)}")
print(f"    their records' events              {per(incl.get('event_render_queue_stats', 0))}")
print()
print(f"top {ntop} functions (self instructions per Notify):")
for (name, obj), ir in sorted(selfc.items(), key=lambda kv: -kv[1])[:ntop]:
    print(f"  {ir / notifies:>9,.0f}  {ir * 100 / total:5.1f}%  {name}  [{obj}]")
EOF
