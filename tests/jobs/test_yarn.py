"""backfill and refine submitted to YARN for real: ``bin/backfill`` with ``ELJOBS_MASTER=yarn``
in cluster deploy mode (the driver in a YARN container too), against the mini cluster's YARN,
with the environment packed by ``python -m eljobs.packaging`` (``make pack``).

The raw hour is a Camus-style SequenceFile on HDFS under a bare path; the outputs and the account
go to bare paths too, so they land on HDFS. Each YARN run must write exactly what a local run
(the test session, same input, a ``file://`` output) writes, in a new YARN application whose
containers ran on the NodeManager. Spark settings: ``conf/spark-cluster.conf`` plus the documented
mini-cluster overrides (``eljobs.testing.hadoop.MINI_YARN_SPARK_CONF``).

A second backfill runs in client deploy mode (the driver is a child of the test process) with two
executors, and the test SIGKILLs the JVM of an executor's container while it runs a task: Spark
must run the task again elsewhere, and the account and the files must still be the local run's.

``bin/refine`` runs in cluster deploy mode with ``conf/refine_eventlogging_legacy.properties``
(shipped to the driver's container by the wrapper), on raw capsules in the production layout on
HDFS. Its driver reaches a Hive metastore through a ``hive-site.xml`` shipped with
``ELJOBS_FILES``, as on the site: here an embedded Derby database in a folder of the test
machine, which the containers share (docs/operations.md). The tables, partitions and rows must
be the local run's.
"""

from __future__ import annotations

import copy
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from eljobs.jobs import backfill, refine
from eljobs.refine.geo import bundled_database_path
from eljobs.testing.hadoop import ExecutorProcess, MiniHadoopCluster
from eljobs.testing.sample import (
    generate_lines,
    load_sample_schemas,
    write_sample_schemas,
    write_sequence_hour,
)

ROOT = Path(__file__).resolve().parents[2]

# Minutes each on a busy 2-core machine (docs/operations.md): beyond the default timeout.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(2400)]

HOUR = datetime(2024, 1, 5, 3, tzinfo=UTC)
NAMES = ("navigationtiming", "savetiming")
RAW = "/wmf/yarn-test/raw"
#: Enough lines that an executor's first task (a Python worker started in the packed
#: environment, then 2,000 lines parsed and validated) runs for seconds: the kill lands in it.
LINES = 4000


@pytest.fixture(scope="module")
def yarn_env(
    hadoop_cluster: MiniHadoopCluster, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    """The packed environment, Spark's jars on HDFS and the wrappers' environment for this
    YARN: built once for every application of the module."""
    tmp = tmp_path_factory.mktemp("yarn")
    archive = tmp / "eljobs-env.tar.gz"
    packed = subprocess.run(
        [sys.executable, "-m", "eljobs.packaging", "--output", str(archive)],
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert packed.returncode == 0, packed.stderr[-3000:]
    spark_archive = hadoop_cluster.upload_spark_jars()
    env = dict(os.environ)
    env.update(hadoop_cluster.env())
    env.update(
        {
            "ELJOBS_MASTER": "yarn",
            "ELJOBS_ENV_ARCHIVE": str(archive),
            "ELJOBS_KAFKA_PACKAGES": "none",
            "ELJOBS_SPARK_ARGS": hadoop_cluster.spark_args(spark_archive=spark_archive),
            "ELJOBS_WORK": str(tmp / "work"),
        }
    )
    return {"tmp": tmp, "env": env, "spark_archive": spark_archive}


@pytest.fixture(scope="module")
def yarn_setup(
    spark: Any,
    hadoop_cluster: MiniHadoopCluster,
    yarn_env: dict[str, Any],
    schemas_dir: Path,
) -> dict[str, Any]:
    """The backfill's raw hour on HDFS and the local run of it."""
    tmp: Path = yarn_env["tmp"]
    write_sample_schemas(tmp / "schemas", NAMES, source=schemas_dir)
    lines = generate_lines(
        load_sample_schemas(NAMES, source=schemas_dir),
        LINES,
        hour=HOUR,
        seed=9,
        invalid_fraction=0.2,
    )
    # The test session writes the SequenceFile straight to HDFS through an explicit URI.
    write_sequence_hour(
        spark,
        f"{hadoop_cluster.default_fs}{RAW}/2024/01/05/03",
        [s.line for s in lines],
        partitions=8,
    )
    common = [
        "--since", "2024-01-05T03", "--until", "2024-01-05T04",
        # The containers run on this machine: the driver's local schema folder is theirs too.
        "--schemas_path", f"file://{tmp / 'schemas'}",
        "--output_invalid",
        "--hostname", "yarn-test",
    ]  # fmt: skip
    local_out = tmp / "local-out"
    code = backfill.main(
        [
            *common,
            "--input_path", f"{hadoop_cluster.default_fs}{RAW}",
            "--output", f"file://{local_out}",
            "--report_path", str(tmp / "local.json"),
        ]
    )  # fmt: skip
    assert code == 0
    return {
        "tmp": tmp,
        "lines": len(lines),
        "local": _local_topics(local_out),
        "local_account": json.loads((tmp / "local.json").read_text()),
        "common": common,
        "env": yarn_env["env"],
        "spark_archive": yarn_env["spark_archive"],
    }


def _comparable(line: str) -> str:
    # An EventError carries the time it was made, which differs between any two runs, and a
    # uuid derived from the line's place in its input split (docs/differences.md), which is
    # pinned by the backfill tests rather than here; everything else must be equal.
    capsule = json.loads(line)
    if capsule.get("schema") == "EventError":
        capsule.pop("timestamp", None)
        capsule.pop("uuid", None)
    return json.dumps(capsule, sort_keys=True)


def _local_topics(out: Path) -> dict[str, Counter[str]]:
    topics: dict[str, Counter[str]] = {}
    for d in sorted(out.glob("topic=*")):
        for part in sorted(d.glob("part-*")):
            topics.setdefault(d.name.split("=", 1)[1], Counter()).update(
                _comparable(x) for x in part.read_text().splitlines()
            )
    return topics


def _hdfs_topics(cluster: MiniHadoopCluster, out: str) -> dict[str, Counter[str]]:
    topics: dict[str, Counter[str]] = {}
    for entry in cluster.list_status(out):
        name = str(entry["pathSuffix"])
        if not name.startswith("topic="):
            continue
        lines: Counter[str] = Counter()
        for part in cluster.list_status(f"{out}/{name}"):
            if str(part["pathSuffix"]).startswith("part-"):
                data = cluster.read_bytes(f"{out}/{name}/{part['pathSuffix']}")
                lines.update(_comparable(x) for x in data.decode().splitlines())
        topics[name.split("=", 1)[1]] = lines
    return topics


# Client deploy mode is covered by the executor-kill test below (one YARN application each).
@pytest.mark.parametrize("deploy_mode", ["cluster"])
def test_backfill_on_yarn_writes_what_the_local_run_writes(
    yarn_setup: dict[str, Any], hadoop_cluster: MiniHadoopCluster, deploy_mode: str
) -> None:
    out = f"/wmf/yarn-test/out-{deploy_mode}"
    report = f"/wmf/yarn-test/account-{deploy_mode}.json"
    before = set(hadoop_cluster.yarn_container_logs())
    done = subprocess.run(
        [
            str(ROOT / "bin" / "backfill"),
            *yarn_setup["common"],
            "--input_path",
            RAW,
            "--output",
            out,
            "--report_path",
            report,
        ],
        env=dict(yarn_setup["env"], ELJOBS_DEPLOY_MODE=deploy_mode),
        cwd=yarn_setup["tmp"],
        capture_output=True,
        text=True,
        timeout=1500,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-4000:]

    # One new YARN application, whose containers (application master, executor) ran.
    apps = {k: v for k, v in hadoop_cluster.yarn_container_logs().items() if k not in before}
    assert len(apps) == 1 and len(next(iter(apps.values()))) >= 2, apps
    written = _hdfs_topics(hadoop_cluster, out)
    assert written == yarn_setup["local"]
    assert sum(sum(c.values()) for c in written.values()) == yarn_setup["lines"]
    account = json.loads(hadoop_cluster.read_bytes(report))
    assert account["ok"] is True
    assert account["totals"]["read"] == yarn_setup["lines"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _rest(port: int, path: str) -> Any:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/{path}", timeout=5) as answer:
        return json.loads(answer.read())


def _kill_an_executor_in_a_task(
    cluster: MiniHadoopCluster, proc: subprocess.Popen[bytes], ui_port: int, timeout_s: float
) -> ExecutorProcess:
    """Watch the driver's REST API until an executor runs a task, then SIGKILL that executor's
    JVM in its YARN container; returns what was killed."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            app_id = str(_rest(ui_port, "applications")[0]["id"])
            busy = [
                str(e["id"])
                for e in _rest(ui_port, f"applications/{app_id}/executors")
                if e["id"] != "driver" and int(e["activeTasks"]) > 0
            ]
        except (OSError, ValueError, IndexError, KeyError):
            # The driver's UI is not up yet (or is going down).
            busy = []
        if busy:
            for p in cluster.executor_processes(app_id):
                if p.executor_id == busy[0]:
                    os.kill(p.pid, signal.SIGKILL)
                    return p
        time.sleep(0.5)
    raise AssertionError(
        f"no executor ran a task within {timeout_s:.0f}s (driver exit code {proc.poll()})"
    )


def test_backfill_in_client_mode_survives_a_killed_executor(
    yarn_setup: dict[str, Any], hadoop_cluster: MiniHadoopCluster
) -> None:
    out, report = "/wmf/yarn-test/out-killed", "/wmf/yarn-test/account-killed.json"
    tmp: Path = yarn_setup["tmp"]
    ui_port = _free_port()
    env = dict(
        yarn_setup["env"],
        ELJOBS_DEPLOY_MODE="client",
        # Two executors: the retried task has somewhere to go at once. The driver's UI on a
        # known port: its REST API says when an executor runs a task.
        ELJOBS_SPARK_ARGS=hadoop_cluster.spark_args(
            spark_archive=yarn_setup["spark_archive"],
            conf={"spark.executor.instances": "2", "spark.ui.port": str(ui_port)},
        ),
    )
    before = set(hadoop_cluster.yarn_container_logs())
    with open(tmp / "killed.out", "wb") as stdout, open(tmp / "killed.err", "wb") as stderr:
        proc = subprocess.Popen(
            [
                str(ROOT / "bin" / "backfill"),
                *yarn_setup["common"],
                "--input_path", RAW,
                "--output", out,
                "--report_path", report,
            ],
            env=env, cwd=tmp, stdout=stdout, stderr=stderr,
        )  # fmt: skip
        try:
            killed = _kill_an_executor_in_a_task(hadoop_cluster, proc, ui_port, 1200)
            code = proc.wait(timeout=1200)
        finally:
            if proc.poll() is None:
                proc.kill()
    driver_log = (tmp / "killed.out").read_text() + (tmp / "killed.err").read_text()
    assert code == 0, driver_log[-4000:]

    # The kill landed in a running task: the driver lost a task attempt with the container.
    lost = [
        line
        for line in driver_log.splitlines()
        if "Lost task" in line and "ExecutorLostFailure" in line
    ]
    assert any(killed.container_id in line for line in lost), (killed, lost, driver_log[-4000:])
    # One new application; the killed executor's container is among its containers.
    apps = {k: v for k, v in hadoop_cluster.yarn_container_logs().items() if k not in before}
    assert len(apps) == 1, apps
    assert killed.container_id in {p.name for p in next(iter(apps.values()))}

    # Nothing lost, nothing counted twice: the account and the files are the local run's.
    account = json.loads(hadoop_cluster.read_bytes(report))
    local = yarn_setup["local_account"]
    assert account["ok"] is True
    assert account["totals"] == local["totals"]
    totals = account["totals"]
    assert totals["read"] == yarn_setup["lines"]
    assert totals["read"] == (
        totals["valid"] + totals["validation"] + totals["processor"] + totals["disabled"]
    )
    written = account["written"][out]
    assert written == account["expected"][out]
    assert sum(written.values()) + totals["rejected"] == totals["read"]
    assert written == next(iter(local["written"].values()))
    assert _hdfs_topics(hadoop_cluster, out) == yarn_setup["local"]


#: (schema directory, EventLogging name) refined: both in the include list of the production
#: file refine_eventlogging_legacy.properties.
REFINED = (("navigationtiming", "NavigationTiming"), ("savetiming", "SaveTiming"))
LEGACY_RAW = "/wmf/yarn-test/raw/eventlogging_legacy"
HIVE_SITE = """<?xml version="1.0"?>
<configuration>
  <property>
    <name>javax.jdo.option.ConnectionURL</name>
    <value>jdbc:derby:;databaseName={db};create=true</value>
  </property>
</configuration>
"""


def _capsules(schemas_dir: Path, name: str, el: str, n: int) -> list[str]:
    folder = schemas_dir / name
    latest = max(folder.glob("*.yaml"), key=lambda p: tuple(int(x) for x in p.stem.split(".")))
    example = yaml.safe_load(latest.read_text())["examples"][0].get("event", {})
    out = []
    for i in range(n):
        event = copy.deepcopy(example)
        event["pageviewToken"] = f"pvtok-{name}-{i}"
        capsule = {
            "dt": HOUR.replace(minute=i).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "event": event,
            "ip": "198.51.100.7",
            "recvFrom": "cp1001.eqiad.wmnet",
            "revision": 1,
            "schema": el,
            "seqId": i,
            "uuid": f"{name}{i:04d}",
            "webHost": "en.wikipedia.org",
            "wiki": "enwiki",
        }
        out.append(json.dumps(capsule, sort_keys=True))
    return out


def _derby_query(spark: Any, database: Path, sql: str, columns: int) -> list[tuple[str, ...]]:
    """Rows of ``sql`` on the embedded Derby database at ``database``, opened by the test
    session's JVM (Derby serves several databases in one JVM), then shut down again."""
    jvm = spark.sparkContext._jvm
    conn = jvm.java.sql.DriverManager.getConnection(f"jdbc:derby:{database}")
    try:
        rs = conn.createStatement().executeQuery(sql)
        rows = []
        while rs.next():
            rows.append(tuple(str(rs.getString(i + 1)) for i in range(columns)))
    finally:
        conn.close()
    try:
        jvm.java.sql.DriverManager.getConnection(f"jdbc:derby:{database};shutdown=true")
    except Exception as e:
        # Derby answers a clean shutdown of one database with an exception (SQLState 08006).
        assert "shutdown" in str(e), e
    return sorted(rows)


def _rows(df: Any) -> list[str]:
    return sorted(
        json.dumps(r.asDict(recursive=True), sort_keys=True, default=str) for r in df.collect()
    )


def test_refine_in_cluster_mode_writes_what_the_local_run_writes(
    spark: Any,
    yarn_env: dict[str, Any],
    hadoop_cluster: MiniHadoopCluster,
    schemas_dir: Path,
    tmp_path: Path,
) -> None:
    events = 6
    for name, el in REFINED:
        lines = _capsules(schemas_dir, name, el, events)
        spark.createDataFrame([(x,) for x in lines], "value STRING").coalesce(1).write.text(
            f"{hadoop_cluster.default_fs}{LEGACY_RAW}/eventlogging_{el}/year=2024/month=01/day=05/hour=03"
        )
    # maxminddb-geolite2's 2018 GeoLite2 (the 'local' extra, not in the packed environment).
    geo = bundled_database_path()
    common = [
        "--config_file", str(ROOT / "conf" / "refine_eventlogging_legacy.properties"),
        # The production file but for the roots of the paths, the window, the schema repository
        # (a local folder: the containers share this machine's disk), the geocoding database
        # (a local file of every worker, as the site's MaxMind file) and e-mail.
        "--input_path_regex",
        LEGACY_RAW + r"/eventlogging_(.+)/year=(\d+)/month=(\d+)/day=(\d+)/hour=(\d+)",
        "--since", "2024-01-05T03", "--until", "2024-01-05T04",
        "--schema_base_uris", "eventlogging",
        "--eventlogging_schemas_path", f"file://{schemas_dir}",
        "--geocode_database", geo,
        "--should_email_report", "false",
    ]  # fmt: skip
    spark.sql("CREATE DATABASE IF NOT EXISTS yarn_refine_local")
    code = refine.main(
        [
            *common,
            "--input_path", f"{hadoop_cluster.default_fs}{LEGACY_RAW}",
            "--output_path", f"file://{tmp_path / 'local-event'}",
            "--output_database", "yarn_refine_local",
            "--report_path", str(tmp_path / "local.json"),
        ]
    )  # fmt: skip
    assert code == 0

    metastore = tmp_path / "yarn-metastore"
    (tmp_path / "hive-site.xml").write_text(HIVE_SITE.format(db=metastore))
    out, report = "/wmf/yarn-test/event", "/wmf/yarn-test/refine.json"
    before = set(hadoop_cluster.yarn_container_logs())
    done = subprocess.run(
        [
            str(ROOT / "bin" / "refine"),
            *common,
            "--input_path", LEGACY_RAW,
            "--output_path", out,
            # A new metastore has only `default`; the production `event` would have to be made
            # first, by a JVM of its own.
            "--output_database", "default",
            "--report_path", report,
        ],
        env=dict(
            yarn_env["env"],
            ELJOBS_DEPLOY_MODE="cluster",
            ELJOBS_FILES=str(tmp_path / "hive-site.xml"),
        ),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=1500,
        check=False,
    )  # fmt: skip
    apps = {k: v for k, v in hadoop_cluster.yarn_container_logs().items() if k not in before}
    assert len(apps) == 1 and len(next(iter(apps.values()))) >= 2, apps
    driver = next(iter(apps.values()))[0]
    driver_log = (driver / "stdout").read_text() + (driver / "stderr").read_text()
    assert done.returncode == 0, driver_log[-4000:] + done.stderr[-2000:]

    account = json.loads(hadoop_cluster.read_bytes(report))
    assert account["ok"] is True
    assert sorted((r["table"], r["status"], r["read"], r["written"]) for r in account["rows"]) == [
        (f"default.{name}", "refined", events, events) for name, _ in REFINED
    ]
    # The driver in its container used the shipped metastore: the tables are there, external,
    # located on HDFS, each with the hour's partition at its data-<id> folder.
    tables = _derby_query(
        spark,
        metastore,
        'SELECT d."NAME", t."TBL_NAME", t."TBL_TYPE", s."LOCATION" FROM "APP"."TBLS" t '
        'JOIN "APP"."DBS" d ON t."DB_ID" = d."DB_ID" JOIN "APP"."SDS" s ON t."SD_ID" = s."SD_ID"',
        4,
    )
    assert tables == [
        ("default", name, "EXTERNAL_TABLE", f"{hadoop_cluster.default_fs}{out}/{name}")
        for name, _ in REFINED
    ]
    partitions = _derby_query(
        spark,
        metastore,
        'SELECT t."TBL_NAME", p."PART_NAME", s."LOCATION" FROM "APP"."PARTITIONS" p '
        'JOIN "APP"."TBLS" t ON p."TBL_ID" = t."TBL_ID" '
        'JOIN "APP"."SDS" s ON p."SD_ID" = s."SD_ID"',
        3,
    )
    assert [(t, p) for t, p, _ in partitions] == [
        (name, "year=2024/month=1/day=5/hour=3") for name, _ in REFINED
    ]
    for table, part, location in partitions:
        assert location.startswith(f"{hadoop_cluster.default_fs}{out}/{table}/{part}/data-")
        flags = {str(e["pathSuffix"]) for e in hadoop_cluster.list_status(f"{out}/{table}/{part}")}
        assert "_REFINED" in flags, flags
        # The partition's rows (Spark infers year..hour from the folder names, as the table's
        # partition columns) are the local run's.
        assert _rows(spark.read.parquet(location)) == _rows(
            spark.table(f"yarn_refine_local.{table}")
        )
