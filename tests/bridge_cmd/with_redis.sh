#!/usr/bin/env bash
# Run a test program against a fresh redis-server on a free 127.0.0.1 port:
# the port goes to the program in MTCTI3_TEST_REDIS_PORT.  The server keeps
# nothing (no RDB, no AOF) and is stopped when the program ends.
# Usage: with_redis.sh PROGRAM [ARGS...]
set -euo pipefail
server=${MTCTI3_REDIS_SERVER:-$(command -v redis-server || echo /usr/bin/redis-server)}
dir=$(mktemp -d)
pid=
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$dir"
}
trap cleanup EXIT
for attempt in 1 2 3 4 5; do
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  "$server" --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$dir" \
    --logfile "$dir/redis.log" &
  pid=$!
  for _ in $(seq 100); do
    if redis-cli -p "$port" ping >/dev/null 2>&1; then break; fi
    if ! kill -0 "$pid" 2>/dev/null; then break; fi
    sleep 0.05
  done
  if redis-cli -p "$port" ping >/dev/null 2>&1; then
    MTCTI3_TEST_REDIS_PORT=$port "$@"
    exit $?
  fi
  kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; pid=
done
echo "with_redis.sh: could not start redis-server" >&2
exit 1
