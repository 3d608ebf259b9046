#!/usr/bin/env bash
# Builds (once, again when its pom or source changes) the Flink consumer of
# tests/consumers/flink/ with Maven (Flink's jars from Maven Central, into
# ~/.m2), into $MTCTI3_TEST_WORK/flink (default tests/.work/flink), and
# prints the Java class path to run it with.
# Usage: java -cp "$(tests/consumers/flink.sh)" mtcti3.consumers.CallsCheck BOOTSTRAP TOPIC OUT.json
# Env:   MVN  maven command (default mvn)
set -euo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
src=$top/tests/consumers/flink
work=${MTCTI3_TEST_WORK:-$top/tests/.work}
dir=$work/flink
stamp="$dir/.built-$(cd "$src" && find pom.xml src -type f -print0 | sort -z | xargs -0 sha1sum | sha1sum | cut -c1-12)"
if [ ! -f "$stamp" ]; then
  mkdir -p "$dir"
  exec 9>"$dir.lock"
  flock 9
  if [ ! -f "$stamp" ]; then
    rm -rf "$dir/target" "$dir/deps" "$dir"/.built-*
    if ! ${MVN:-mvn} -B -q -f "$src/pom.xml" -Dcheck.build.dir="$dir/target" compile \
         dependency:copy-dependencies -DoutputDirectory="$dir/deps" -DincludeScope=runtime \
         >"$dir/mvn.log" 2>&1; then
      echo "flink.sh: maven failed (log $dir/mvn.log):" >&2
      tail -n 30 "$dir/mvn.log" >&2
      exit 1
    fi
    touch "$stamp"
  fi
fi
printf '%s\n' "$dir/target/classes:$dir/deps/*"
