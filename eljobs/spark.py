"""The one place that builds Spark sessions: named presets, reuse of an active session.

Library code never builds a session; jobs get one from :func:`get_session` in ``main`` (or
from the caller: notebooks and tests pass their own to ``run``).

Presets (copied before overrides are merged, so module state never changes):

* ``local``: ``local[*]`` master unless ``spark-submit`` already set one, embedded Derby
  metastore and a warehouse under the work folder (:func:`work_dir`), UTC everywhere.
* ``test``: like ``local`` but ``local[2]``, two shuffle partitions, no UI, no progress bar.
* ``cluster``: only the UTC and Python settings; master, metastore and resources come from
  ``spark-submit`` and the site's ``spark-defaults.conf``.

**Iceberg.** When the set-up fetched Iceberg's Spark runtime (``.jvm/iceberg``), ``local`` and
``test`` also put its jar on the class path and define an Iceberg catalog named
:data:`LOCAL_ICEBERG_CATALOG`: a Hadoop catalog (tables are directories, no metastore) whose
warehouse is ``<work>/iceberg``, written by :func:`iceberg_catalog_conf`. A Spark catalog is
created on its first use, so sessions that never name it pay only for the class path entry.
Iceberg's SQL extensions are not enabled: ``refine_dataset`` needs none of their statements, and
they would wrap every SQL parse of every job. A cluster brings the jar with ``--packages`` or
``--jars`` and configures its catalog in ``spark-defaults.conf`` (docs/operations.md,
"Iceberg").
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from eljobs.executors import watch_executors
from eljobs.jvm import module_jars, spark_extra_jars

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

#: JVM options of every eljobs driver and executor. HotSpot leaves methods over 8000 bytes of
#: bytecode to the interpreter, and the code Spark generates for Refine's projections (every
#: struct of a wide event schema rebuilt, plus the added columns) passes that size: measured on
#: a million NavigationTiming events, normalize_and_widen after add_normalized_host took 16.6 s
#: without the option and 10.8 s with it, against 8.5 s for reading and writing the input
#: (bench/refine). Spark's own documentation of spark.sql.codegen.hugeMethodLimit points at
#: this HotSpot limit.
JVM_OPTIONS = "-Duser.timezone=UTC -XX:-DontCompileHugeMethods"

_COMMON: dict[str, str] = {
    "spark.sql.session.timeZone": "UTC",
    "spark.driver.extraJavaOptions": JVM_OPTIONS,
    "spark.executor.extraJavaOptions": JVM_OPTIONS,
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.sql.sources.partitionOverwriteMode": "dynamic",
    "spark.python.worker.reuse": "true",
}

PRESETS: dict[str, dict[str, str]] = {
    "local": {
        "spark.master": "local[*]",
        # In local mode the executors live in the driver JVM: 1 GiB (Spark's default) runs a
        # million-line backfill out of heap.
        "spark.driver.memory": "4g",
        "spark.sql.shuffle.partitions": "8",
        "spark.ui.showConsoleProgress": "true",
    },
    "test": {
        "spark.master": "local[2]",
        "spark.driver.memory": "2g",
        "spark.sql.shuffle.partitions": "2",
        "spark.default.parallelism": "2",
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.adaptive.enabled": "false",
        "spark.rdd.compress": "false",
        "spark.shuffle.compress": "false",
        "spark.sql.ui.retainedExecutions": "1",
    },
    "cluster": {},
}


def work_dir() -> Path:
    """The project work folder (``$ELJOBS_WORK``, default ``./work``); created if missing."""
    p = Path(os.environ.get("ELJOBS_WORK", "work")).absolute()
    p.mkdir(parents=True, exist_ok=True)
    return p


def _log4j_option() -> str:
    # A checkout carries the project's quiet log4j2 file; an installed wheel uses Spark's own.
    conf = Path(__file__).resolve().parent.parent / "conf" / "log4j2.properties"
    return f" -Dlog4j2.configurationFile=file:{conf}" if conf.is_file() else ""


#: The Iceberg catalog the ``local`` and ``test`` presets define (``--iceberg_catalog iceberg``).
LOCAL_ICEBERG_CATALOG = "iceberg"


def iceberg_catalog_conf(
    name: str,
    *,
    catalog_type: str = "hadoop",
    warehouse: str | None = None,
    uri: str | None = None,
    session_catalog: bool = False,
) -> dict[str, str]:
    """The Spark settings that define Iceberg catalog ``name``.

    Args:
        catalog_type: Iceberg's catalog type: ``hadoop`` (tables are directories under
            ``warehouse``) or ``hive`` (tables are entries of the metastore at ``uri``).
        session_catalog: wrap Spark's own catalog (``name`` must then be ``spark_catalog``),
            so Iceberg and Hive tables share one ``db.table`` namespace.
    """
    impl = "SparkSessionCatalog" if session_catalog else "SparkCatalog"
    out = {
        f"spark.sql.catalog.{name}": f"org.apache.iceberg.spark.{impl}",
        f"spark.sql.catalog.{name}.type": catalog_type,
    }
    if warehouse is not None:
        out[f"spark.sql.catalog.{name}.warehouse"] = warehouse
    if uri is not None:
        out[f"spark.sql.catalog.{name}.uri"] = uri
    return out


def _local_jars() -> list[str]:
    # Locally, the jars fetched by the set-up play the part of a cluster's --packages, so
    # `--kafka_sink auto` picks Spark's sink here exactly as it would there, and Iceberg
    # tables can be written.
    return [str(p) for m in ("spark-kafka", "iceberg") for p in spark_extra_jars(m)]


def _local_iceberg(work: Path) -> dict[str, str]:
    if not module_jars("iceberg"):
        return {}
    return iceberg_catalog_conf(LOCAL_ICEBERG_CATALOG, warehouse=str(work / "iceberg"))


def _local_env() -> None:
    # Spark's Python workers otherwise take the first python3 on PATH, which lacks our packages.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    # The hostname resolves to a loopback address here; saying so keeps the logs quiet.
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    os.environ.setdefault("TZ", "UTC")


def session_conf(profile: str = "local", conf: Mapping[str, str] | None = None) -> dict[str, str]:
    """The Spark settings a preset gives, with ``conf`` merged on a copy."""
    if profile not in PRESETS:
        raise ValueError(f"unknown Spark profile {profile!r}; expected one of {sorted(PRESETS)}")
    out = dict(_COMMON)
    out.update(PRESETS[profile])
    if profile in ("local", "test"):
        wd = work_dir()
        derby = wd / "metastore_db"
        out.update(
            {
                "spark.sql.warehouse.dir": str(wd / "warehouse"),
                "spark.hadoop.javax.jdo.option.ConnectionURL": (
                    f"jdbc:derby:;databaseName={derby};create=true"
                ),
                "spark.driver.extraJavaOptions": (
                    f"{JVM_OPTIONS} -Dderby.system.home={wd}{_log4j_option()}"
                ),
                "spark.sql.catalogImplementation": "hive",
            }
        )
        if not sys.stderr.isatty():
            out["spark.ui.showConsoleProgress"] = "false"
        jars = _local_jars()
        if jars:
            out["spark.jars"] = ",".join(jars)
        out.update(_local_iceberg(wd))
    if conf:
        out.update(conf)
    return out


def get_session(
    profile: str = "local",
    *,
    app_name: str = "eljobs",
    conf: Mapping[str, str] | None = None,
    hive: bool = True,
) -> SparkSession:
    """Return the active session, or build one from a preset.

    Args:
        profile: ``local``, ``test`` or ``cluster`` (see the module docstring).
        app_name: the Spark application name.
        conf: extra settings merged over the preset (the preset itself is not changed).
        hive: enable Hive support (the embedded Derby metastore locally).
    """
    # Lazy on purpose: jobs that need no session (salts on the local disk) and the run report
    # import this module, and pyspark takes about 0.4 s to import.
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    settings = session_conf(profile, conf)
    if profile in ("local", "test"):
        _local_env()
    builder: Any = SparkSession.builder.appName(app_name)
    submitted_master = os.environ.get("ELJOBS_SPARK_SUBMIT") or os.environ.get("SPARK_ENV_LOADED")
    for k, v in settings.items():
        if k == "spark.master" and submitted_master:
            continue
        if k == "spark.sql.catalogImplementation" and not hive:
            continue
        builder = builder.config(k, v)
    if hive:
        builder = builder.enableHiveSupport()
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel(os.environ.get("ELJOBS_SPARK_LOG_LEVEL", "WARN"))
    # On a cluster master, a job whose executors cannot be granted fails after a bounded wait
    # instead of waiting forever (eljobs.executors).
    watch_executors(spark)
    return spark
