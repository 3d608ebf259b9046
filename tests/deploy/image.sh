#!/usr/bin/env bash
# Builds the container image (deploy/Dockerfile) with podman and checks it:
#   - the image runs as uid 10001 (mtcti3), and holds no -dev package, no compiler;
#   - every library the three binaries link is found (ldd), and the runtime
#     packages the Dockerfile installs are exactly the ones providing them;
#   - ipo-sim and the bridge run from it: the bridge (embedded Kafka) connects
#     to the simulator over TLS, /readyz answers 200, /metrics passes
#     `promtool check metrics`, and SIGTERM (podman stop) ends it with status 0.
# Base image: $MTCTI3_IMAGE_BASE, else docker.io/library/debian:12-slim when
# it is present or can be pulled, else a Debian 12 minbase built once with
# debootstrap from the machine's Debian mirror (localhost/mtcti3-debian:12).
# Podman's defaults need CAP_SYS_RESOURCE (rlimits) and a cgroup layout crun
# accepts; where they fail, the script uses runc and the machine's own limits.
# Prints "image: SKIP <why>" and exits 0 when podman cannot run at all.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
tag=${MTCTI3_IMAGE:-localhost/mtcti3-bridge:test}
work=${MTCTI3_TEST_WORK:-$top/tests/.work}/image
mkdir -p "$work"

say() { printf 'image: %s\n' "$*"; }
if ! command -v podman >/dev/null; then say "SKIP podman is not installed"; exit 0; fi

base=${MTCTI3_IMAGE_BASE:-docker.io/library/debian:12-slim}
if ! podman image exists "$base" && ! podman pull -q "$base" >/dev/null 2>"$work/pull.log"; then
  say "$base cannot be pulled ($(tail -1 "$work/pull.log")); using a debootstrap base"
  base=localhost/mtcti3-debian:12
  if ! podman image exists "$base"; then
    mirror=$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -1)
    rootfs="$work/rootfs"
    rm -rf "$rootfs"
    say "debootstrap --variant=minbase bookworm from ${mirror:-http://deb.debian.org/debian}"
    debootstrap --variant=minbase bookworm "$rootfs" "${mirror:-http://deb.debian.org/debian}" >"$work/debootstrap.log" 2>&1
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
    tar -C "$rootfs" -c . | podman import -q - "$base" >/dev/null
    rm -rf "$rootfs"
  fi
fi

# How podman runs containers here: plain, or runc with the machine's own limits.
podman_cmd=(podman)
run_opts=()
if ! podman run --rm "$base" true 2>"$work/probe.log"; then
  nofile=$(ulimit -Hn)
  alt=(podman --runtime runc)
  alt_opts=(--ulimit "nofile=$nofile:$nofile" --ulimit nproc=4096:4096)
  if command -v runc >/dev/null && "${alt[@]}" run --rm "${alt_opts[@]}" "$base" true 2>>"$work/probe.log"; then
    say "podman's defaults fail here ($(head -1 "$work/probe.log")); using runc, nofile=$nofile, nproc=4096"
    podman_cmd=("${alt[@]}")
    run_opts=("${alt_opts[@]}")
  else
    say "SKIP podman cannot run a container here: $(tr '\n' ' ' <"$work/probe.log")"
    exit 0
  fi
fi
P() { "${podman_cmd[@]}" "$@"; }

t0=$(date +%s)
P build -q "${run_opts[@]}" --build-arg "BASE=$base" -f "$top/deploy/Dockerfile" -t "$tag" "$top" >"$work/build.log" 2>&1 \
  || { tail -30 "$work/build.log"; exit 1; }
say "built $tag from $base in $(( $(date +%s) - t0 )) s"

fail() { say "FAIL $*"; exit 1; }
R() { P run --rm "${run_opts[@]}" "$@"; }

id=$(R --entrypoint id "$tag")
[ "$id" = "uid=10001(mtcti3) gid=10001(mtcti3) groups=10001(mtcti3)" ] || fail "runs as: $id"
for b in mtcti3-bridge ipo-sim mtcti3; do
  out=$(R --entrypoint "/usr/local/bin/$b" "$tag" --version)
  case "$out" in *0.1.0*) ;; *) fail "$b --version: $out";; esac
done
dev=$(R --entrypoint sh "$tag" -c 'dpkg-query -W -f "\${Package}\n" | grep -E -- "-dev$|^gcc(-[0-9]+)?$|^g\+\+|^cpp(-[0-9]+)?$|^binutils|^cmake$|^ninja-build$|^make$" || true')
[ -z "$dev" ] && say "no build tool or -dev package inside" || fail "build packages in the image: $dev"
# The libraries the binaries link directly (ELF NEEDED, read on this machine
# from copies of the image's binaries) -> the image's packages that ship them;
# against the Dockerfile's runtime list (apt brings their own dependencies).
bin="$work/bin"; rm -rf "$bin"; mkdir -p "$bin"
ctr=$(P create "$tag")
for b in mtcti3-bridge ipo-sim mtcti3; do P cp "$ctr:/usr/local/bin/$b" "$bin/$b"; done
P rm "$ctr" >/dev/null
sonames=$(for b in "$bin"/*; do readelf -d "$b" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'; done | sort -u)
need=$(R --entrypoint sh "$tag" -c '
  for b in /usr/local/bin/*; do ldd "$b"; done >/tmp/ldd
  if grep -q "not found" /tmp/ldd; then grep "not found" /tmp/ldd; exit 3; fi
  for so in '"$(echo $sonames)"'; do
    path=$(awk -v so="$so" "\$1 == so {print \$3; exit}" /tmp/ldd)
    dpkg -S "$(readlink -f "$path")" 2>/dev/null || dpkg -S "${path}" 2>/dev/null || echo "?$so"
  done | cut -d: -f1 | sort -u') || fail "a library is missing: $need"
case "$need" in *"?"*) fail "no package ships: $need";; esac
listed=$(sed -n '/^FROM \${BASE}$/,$p' "$top/deploy/Dockerfile" | sed -n '/--no-install-recommends/,/rm -rf/p' \
  | grep -v -e '--no-install-recommends' -e 'rm -rf' | tr -d '\\' | tr ' ' '\n' \
  | grep -E '^[a-z0-9][a-z0-9.+-]+$' | grep -v '^ca-certificates$' | sort -u)
base_pkgs=$(R --entrypoint sh "$base" -c 'dpkg-query -W -f "\${Package}\n"' | sort -u)
missing=$(comm -23 <(comm -23 <(echo "$need") <(echo "$base_pkgs")) <(echo "$listed"))
extra=$(comm -13 <(echo "$need") <(echo "$listed"))
[ -z "$missing" ] || fail "needed, not in the Dockerfile's runtime list: $missing"
[ -z "$extra" ] || fail "in the runtime list, needed by no binary: $extra"
say "runtime packages = the binaries' libraries: $(echo $listed)"

# Run it: the simulator and the bridge, host network (the sim's certificate names 127.0.0.1).
tls="$work/tls"; rm -rf "$tls"; mkdir -m 0777 "$tls"
secrets="$work/secrets"; rm -rf "$secrets"; mkdir -m 0755 "$secrets"
printf 'image-test-%s\n' "$RANDOM$RANDOM" >"$secrets/ipo-password"   # a file: no password on a command line
chmod 0644 "$secrets/ipo-password"
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wss=$(port); ctl=$(port); http=$(port)
sim=$(P run -d "${run_opts[@]}" --network host -v "$tls:/tls" -v "$secrets:/secrets:ro" \
  --entrypoint /usr/local/bin/ipo-sim "$tag" --listen "127.0.0.1:$wss" --control "127.0.0.1:$ctl" --tls-dir /tls \
  --password-file /secrets/ipo-password --users 5 --queues 1 --calls-per-second 1)
bridge=""
cleanup() { P rm -f -t 2 $sim $bridge >/dev/null 2>&1 || true; }
trap cleanup EXIT
for _ in $(seq 50); do [ -s "$tls/ca.pem" ] && break; sleep 0.2; done
bridge=$(P run -d "${run_opts[@]}" --network host -v "$tls:/tls:ro" -v "$secrets:/secrets:ro" \
  -e MTCTI3_IPO_URL="wss://127.0.0.1:$wss/tpkt/openapi" -e MTCTI3_IPO_USER=mtcti3 \
  -e MTCTI3_IPO_PASSWORD_FILE=/secrets/ipo-password \
  -e MTCTI3_IPO_CA_FILE=/tls/ca.pem -e MTCTI3_KAFKA_BOOTSTRAP=embedded -e MTCTI3_COMMANDS=false \
  -e MTCTI3_HTTP_LISTEN="127.0.0.1:$http" -e MTCTI3_LOG_FORMAT=json "$tag")
ready=""
for _ in $(seq 150); do
  ready=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$http/readyz" || true)
  [ "$ready" = 200 ] && break
  sleep 0.2
done
[ "$ready" = 200 ] || { P logs "$bridge" | tail -20; fail "/readyz: $ready"; }
curl -s "http://127.0.0.1:$http/metrics" >"$work/metrics.txt"
promtool check metrics <"$work/metrics.txt" || fail "promtool check metrics"
grep -q '^mtcti3_bridge_pbx_link_state{pbx="[^"]*",state="synced"} 1$' "$work/metrics.txt" || fail "not synced"
P stop -t 15 "$bridge" >/dev/null
status=$(P wait "$bridge" 2>/dev/null || P inspect -f '{{.State.ExitCode}}' "$bridge")
[ "$status" = 0 ] || fail "bridge exit status after SIGTERM: $status"
! P logs "$bridge" 2>&1 | grep -qF "$(cat "$secrets/ipo-password")" || fail "the password is in the log"
P logs "$bridge" 2>&1 | python3 -c 'import json,sys; [json.loads(l) for l in sys.stdin if not l.startswith("embedded Kafka bootstrap: ")]' \
  || fail "a log line is not JSON"
say "ipo-sim and the bridge ran from the image: /readyz 200, metrics clean, SIGTERM -> 0"
say "OK $tag"
