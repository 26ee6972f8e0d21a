"""The session helper: presets give UTC, Hive with the Derby metastore under the work folder."""

from __future__ import annotations

from pathlib import Path

from eljobs.spark import session_conf


def test_presets_are_copied_not_mutated(work_root: Path) -> None:
    a = session_conf("test", {"spark.sql.shuffle.partitions": "7"})
    b = session_conf("test")
    assert a["spark.sql.shuffle.partitions"] == "7"
    assert b["spark.sql.shuffle.partitions"] == "2"


def test_session_is_utc_with_hive_under_work(spark, work_root: Path) -> None:  # type: ignore[no-untyped-def]
    assert spark.conf.get("spark.sql.session.timeZone") == "UTC"
    spark.sql("CREATE DATABASE IF NOT EXISTS eljobs_smoke")
    assert "eljobs_smoke" in [d.name for d in spark.catalog.listDatabases()]
    assert (work_root / "metastore_db").is_dir()
    assert spark.range(3).count() == 3


def test_local_presets_use_the_project_log4j_file(work_root: Path) -> None:
    conf = Path(__file__).resolve().parent.parent / "conf" / "log4j2.properties"
    opts = session_conf("local")["spark.driver.extraJavaOptions"]
    assert f"-Dlog4j2.configurationFile=file:{conf}" in opts
    assert f"-Dderby.system.home={work_root}" in opts
    assert "-XX:-DontCompileHugeMethods" in opts
