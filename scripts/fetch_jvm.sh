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
rm -rf "$out"
mkdir -p "$out"
# -U: a look-up that failed on an earlier day is asked again rather than taken from the cache.
mvn --batch-mode --quiet -U -s jvm/settings.xml -f jvm/pom.xml package -Djvm.out="$out"
touch "$stamp"
echo "eljobs: JVM artifacts ready in $out ($(find "$out" -name '*.jar' | wc -l) jars)"
