#!/usr/bin/env bash
# Makes sure the jars of the test Kafka broker are in a local cache dir and
# prints that dir.  The first run resolves tests/kafka/pom.xml with Maven
# (downloads from Maven Central into ~/.m2, then copies the jars); later runs
# find the dir complete and only print it.
#
# Usage:  jars=$(tests/lib/kafka-jars.sh)
#         java -cp "$jars/*" kafka.Kafka server.properties
# Env:    MTCTI3_KAFKA_JARS  jar dir (default ~/.cache/mtcti3/kafka-<version>/libs)
#         MVN                maven command (default mvn)
set -euo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
pom=$top/tests/kafka/pom.xml
version=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$pom" | head -n1)
[ -n "$version" ] || { echo "kafka-jars.sh: no <kafka.version> in $pom" >&2; exit 1; }
jars=${MTCTI3_KAFKA_JARS:-${HOME:-/root}/.cache/mtcti3/kafka-$version/libs}
# The stamp names the pom it was made from, so an edited pom refetches.
stamp_name=".complete-$(sha1sum "$pom" | cut -c1-12)"

complete() {
  [ -f "$jars/$stamp_name" ] || return 1
  local j
  while IFS= read -r j; do
    [ -f "$jars/$j" ] || return 1
  done < "$jars/$stamp_name"
}

if ! complete; then
  mkdir -p "$(dirname "$jars")"
  # One fetch at a time (parallel test sessions share the cache).
  exec 9>"$jars.lock"
  flock 9
  if ! complete; then
    tmp="$jars.tmp.$$"
    rm -rf "$tmp"
    log="$(dirname "$jars")/mvn.log"
    if ! ${MVN:-mvn} -B -q -f "$pom" dependency:copy-dependencies \
         -Dkafka.jars.dir="$tmp" >"$log" 2>&1; then
      echo "kafka-jars.sh: maven failed (log $log):" >&2
      tail -n 30 "$log" >&2
      rm -rf "$tmp"
      exit 1
    fi
    [ -f "$tmp/kafka_2.13-$version.jar" ] || {
      echo "kafka-jars.sh: kafka_2.13-$version.jar missing after maven run" >&2
      exit 1; }
    (cd "$tmp" && ls -1 -- *.jar) > "$tmp/$stamp_name"
    rm -rf "$jars"
    mv "$tmp" "$jars"
  fi
  exec 9>&-
fi
printf '%s\n' "$jars"
