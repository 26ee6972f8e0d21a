# shellcheck shell=bash
# Sourced by every bin/<job> wrapper: builds the spark-submit command of one eljobs job, then
# runs it (or prints it with --print_command). No job logic lives here: options are parsed and
# checked by `python -m eljobs <job>` inside the Spark driver.
#
#   bin/<job> [--config_file conf/<file>.properties] [--option value ...] [--print_command]
#
# Environment (all optional):
#   ELJOBS_MASTER            Spark master: local[*] (default) or yarn
#   ELJOBS_DEPLOY_MODE       client (default) or cluster (driver in a YARN container)
#   SPARK_HOME               use $SPARK_HOME/bin/spark-submit; default: the venv's pyspark
#   ELJOBS_PYTHON            driver Python on this host (default .venv/bin/python)
#   ELJOBS_ENV_ARCHIVE       packed environment for YARN (default dist/eljobs-env.tar.gz,
#                            built by `make pack`); unpacked as ./env in every container
#   ELJOBS_SPARK_PROPERTIES  Spark defaults (default conf/spark-local.conf locally,
#                            conf/spark-cluster.conf on YARN)
#   ELJOBS_KAFKA_PACKAGES    Kafka connector for --packages: `conf` reads `packages` from
#                            conf/spark-kafka.properties, `none` leaves it out, anything else
#                            is used as the Maven coordinates. Default: `conf` for the Kafka
#                            jobs (backfill, extract) on YARN, `none` locally.
#   ELJOBS_SPARK_ARGS        extra spark-submit arguments, word-split (e.g. "--num-executors 8")
#   ELJOBS_FILES             extra files for --files on YARN, comma separated (e.g. hive-site.xml)
#   ELJOBS_SPARK_PROFILE     eljobs.spark preset of the driver: local (default with a local
#                            master: embedded metastore in ./work) or cluster (default on YARN;
#                            use it with a local master on a launcher host to reach the site's
#                            metastore, as the monitors do)
#   ELJOBS_WORK              local work folder (default ./work): warehouse, metastore, reports

set -euo pipefail

ELJOBS_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# The driver's JVM options (eljobs.spark.JVM_OPTIONS; executors: conf/spark-*.conf). Spark's
# generated code for wide event schemas passes HotSpot's 8000-byte JIT limit.
ELJOBS_JVM_OPTIONS="-Duser.timezone=UTC -XX:-DontCompileHugeMethods"

# eljobs_print_or_run CMD...: print the command (shell-quoted, one line) or exec it.
eljobs_print_or_run() {
  if [ "${ELJOBS_PRINT_COMMAND:-0}" = 1 ]; then
    local a sep=""
    for a in "$@"; do
      if [[ "$a" =~ ^[A-Za-z0-9_./:=,@%+-]+$ ]]; then
        printf '%s%s' "$sep" "$a"
      else
        printf "%s'%s'" "$sep" "${a//\'/\'\\\'\'}"
      fi
      sep=" "
    done
    printf '\n'
    exit 0
  fi
  if [ ! -x "${ELJOBS_PYTHON:-$ELJOBS_ROOT/.venv/bin/python}" ]; then
    echo "eljobs: no Python at ${ELJOBS_PYTHON:-$ELJOBS_ROOT/.venv/bin/python}: run 'make setup'" \
      "first (or set ELJOBS_PYTHON)" >&2
    exit 2
  fi
  exec "$@"
}

# eljobs_python_job JOB ARGS...: run a job that needs no Spark (salts) with the venv's Python.
eljobs_python_job() {
  local job="$1"
  shift
  local py="${ELJOBS_PYTHON:-$ELJOBS_ROOT/.venv/bin/python}"
  local args=()
  ELJOBS_PRINT_COMMAND=0
  for a in "$@"; do
    if [ "$a" = "--print_command" ]; then ELJOBS_PRINT_COMMAND=1; else args+=("$a"); fi
  done
  eljobs_print_or_run env "PYTHONPATH=$ELJOBS_ROOT${PYTHONPATH:+:$PYTHONPATH}" \
    "$py" -m eljobs "$job" ${args[@]+"${args[@]}"}
}

# eljobs_submit JOB KAFKA ARGS...: build and run spark-submit for JOB. KAFKA is 1 for the jobs
# that read or write Kafka (they get the connector on YARN by default).
eljobs_submit() {
  local job="$1" kafka="$2"
  shift 2
  local master="${ELJOBS_MASTER:-local[*]}"
  local deploy="${ELJOBS_DEPLOY_MODE:-client}"
  local py="${ELJOBS_PYTHON:-$ELJOBS_ROOT/.venv/bin/python}"
  local submit="$ELJOBS_ROOT/.venv/bin/spark-submit"
  if [ -n "${SPARK_HOME:-}" ]; then submit="$SPARK_HOME/bin/spark-submit"; fi
  local local_mode=0
  case "$master" in local*) local_mode=1 ;; esac
  local log4j="$ELJOBS_ROOT/conf/log4j2.properties"

  # The user's arguments: --print_command is ours; --config_file files are shipped with
  # --files on YARN (and named by their basename when the driver runs in a container).
  ELJOBS_PRINT_COMMAND=0
  local user=() files=() expect_config=0 a v f out
  for a in "$@"; do
    if [ "$expect_config" = 1 ]; then
      expect_config=0
      v="$a"
    elif [ "$a" = "--print_command" ]; then
      ELJOBS_PRINT_COMMAND=1
      continue
    elif [ "$a" = "--config_file" ]; then
      expect_config=1
      user+=("$a")
      continue
    elif [ "${a#--config_file=}" != "$a" ]; then
      v="${a#--config_file=}"
      user+=("--config_file")
    else
      user+=("$a")
      continue
    fi
    if [ "$local_mode" = 1 ]; then
      user+=("$v")
      continue
    fi
    out=""
    IFS=',' read -r -a parts <<<"$v"
    for f in "${parts[@]}"; do
      files+=("$f")
      if [ "$deploy" = cluster ]; then f="$(basename "$f")"; fi
      out="${out:+$out,}$f"
    done
    user+=("$out")
  done

  local cmd=(env)
  local props pkgs="${ELJOBS_KAFKA_PACKAGES:-}"
  if [ "$local_mode" = 1 ]; then
    local work="${ELJOBS_WORK:-$PWD/work}"
    props="${ELJOBS_SPARK_PROPERTIES:-$ELJOBS_ROOT/conf/spark-local.conf}"
    [ -n "$pkgs" ] || pkgs=none
    cmd+=("ELJOBS_SPARK_PROFILE=${ELJOBS_SPARK_PROFILE:-local}" "PYSPARK_PYTHON=$py"
      "PYTHONPATH=$ELJOBS_ROOT${PYTHONPATH:+:$PYTHONPATH}")
    cmd+=("$submit" --master "$master" --deploy-mode client --name "eljobs-$job")
    cmd+=(--properties-file "$props")
    cmd+=(--driver-java-options
      "$ELJOBS_JVM_OPTIONS -Dlog4j2.configurationFile=file:$log4j -Dderby.system.home=$work")
    cmd+=(--conf "spark.pyspark.python=$py" --conf "spark.pyspark.driver.python=$py")
  else
    local archive="${ELJOBS_ENV_ARCHIVE:-$ELJOBS_ROOT/dist/eljobs-env.tar.gz}"
    props="${ELJOBS_SPARK_PROPERTIES:-$ELJOBS_ROOT/conf/spark-cluster.conf}"
    if [ -z "$pkgs" ]; then
      if [ "$kafka" = 1 ]; then pkgs=conf; else pkgs=none; fi
    fi
    local driver_py="$py" driver_log4j="file:$log4j"
    if [ "$deploy" = cluster ]; then
      driver_py=./env/bin/python
      driver_log4j=log4j2.properties
    fi
    # PYSPARK_DRIVER_PYTHON also lets the venv's spark-submit find its Spark home.
    cmd+=("ELJOBS_SPARK_PROFILE=${ELJOBS_SPARK_PROFILE:-cluster}" "PYSPARK_DRIVER_PYTHON=$py"
      "PYTHONPATH=$ELJOBS_ROOT${PYTHONPATH:+:$PYTHONPATH}")
    cmd+=("$submit" --master "$master" --deploy-mode "$deploy" --name "eljobs-$job")
    cmd+=(--properties-file "$props")
    cmd+=(--archives "$archive#env")
    cmd+=(--conf "spark.pyspark.python=./env/bin/python"
      --conf "spark.pyspark.driver.python=$driver_py")
    cmd+=(--driver-java-options
      "$ELJOBS_JVM_OPTIONS -Dlog4j2.configurationFile=$driver_log4j")
    local shipped="$log4j"
    for f in ${files[@]+"${files[@]}"}; do shipped="$shipped,$f"; done
    if [ -n "${ELJOBS_FILES:-}" ]; then shipped="$shipped,$ELJOBS_FILES"; fi
    cmd+=(--files "$shipped")
  fi
  if [ "$pkgs" = conf ]; then
    pkgs="$(sed -n 's/^[[:space:]]*packages[[:space:]]*[=:][[:space:]]*//p' \
      "$ELJOBS_ROOT/conf/spark-kafka.properties" | tail -n 1)"
  fi
  if [ -n "$pkgs" ] && [ "$pkgs" != none ]; then
    cmd+=(--packages "$pkgs")
  fi
  if [ -n "${ELJOBS_SPARK_ARGS:-}" ]; then
    # shellcheck disable=SC2206  # word splitting is the documented behaviour
    local extra=(${ELJOBS_SPARK_ARGS})
    cmd+=("${extra[@]}")
  fi
  cmd+=("$ELJOBS_ROOT/eljobs/bin_entry.py" "$job")
  eljobs_print_or_run "${cmd[@]}" ${user[@]+"${user[@]}"}
}
