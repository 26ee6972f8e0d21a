#!/usr/bin/env bash
# Fetch the JVM artifacts of jvm/pom.xml (the one pinned declaration) into .jvm/<module>/ with
# Maven: Spark's Kafka connector, Apache Kafka's broker, Hadoop's mini cluster, Iceberg's Spark
# runtime. Idempotent: a stamp of the POMs' hash skips the work when nothing changed. Needs
# `mvn` and Maven Central; at test time nothing is downloaded.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${ELJOBS_JVM_DIR:-$PWD/.jvm}"
hash="$(cat jvm/pom.xml jvm/*/pom.xml jvm/settings.xml | sha1sum | cut -c1-12)"
stamp="$out/.fetched-$hash"
if [ -f "$stamp" ]; then
  exit 0
fi
if ! command -v mvn >/dev/null 2>&1; then
  echo "eljobs: the JVM artifacts need Maven ('mvn' is not on PATH): apt-get install maven" >&2
  exit 1
fi
# Resolve into a fresh folder and swap it in at the end, so a failed fetch leaves the old set
# whole and processes using the old jars are not pulled from under them mid-fetch.
new="$out.new.$$"
rm -rf "$new"
mkdir -p "$new"
trap 'rm -rf "$new"' EXIT
# -U: a look-up that failed on an earlier day is asked again rather than taken from the cache.
mvn --batch-mode --quiet -U -s jvm/settings.xml -f jvm/pom.xml package -Djvm.out="$new"
touch "$new/.fetched-$hash"
rm -rf "$out.old"
[ -d "$out" ] && mv "$out" "$out.old"
mv "$new" "$out"
rm -rf "$out.old"
echo "eljobs: JVM artifacts ready in $out ($(find "$out" -name '*.jar' | wc -l) jars)"
