"""Creating and evolving a Hive table through the catalog, and the opt-in re-creation of a
table whose struct change the metastore refuses."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import Row
from pyspark.sql.types import StructType

from eljobs.io.fs import JvmFileSystem
from eljobs.refine import ddl as ddl_module
from eljobs.refine.ddl import TableRecreateRefusedError, create_or_evolve_table
from eljobs.refine.evolution import planned_table_schema
from eljobs.refine.hive_table import HiveTableWriter
from eljobs.refine.targets import RefineTarget

DB = "t_refine_ddl"
KEYS = ["year", "hour"]


def ddl(s: str) -> StructType:
    """Parse a DDL schema (needs the JVM: tests using it take the ``spark`` fixture)."""
    return StructType.fromDDL(s)


@pytest.fixture
def db(spark: Any) -> str:
    spark.sql(f"DROP DATABASE IF EXISTS {DB} CASCADE")
    spark.sql(f"CREATE DATABASE {DB}")
    return DB


def _evolve(spark: Any, table: str, location: Path, frame: StructType, **kw: Any) -> Any:
    return create_or_evolve_table(
        spark,
        DB,
        table,
        location=str(location),
        partition_keys=KEYS,
        frame_schema=frame,
        **kw,
    )


def test_create_then_evolve_table_with_new_column_and_struct_member(
    spark: Any, tmp_path: Path, db: str
):
    first = ddl("event STRUCT<Action: STRING>, dt STRING, year BIGINT, hour BIGINT")
    planned = planned_table_schema(KEYS, first, None)
    schema, issued = _evolve(spark, "evolving", tmp_path / "evolving", first)
    assert issued[0].startswith(f"CREATE EXTERNAL TABLE `{db}`.`evolving`")
    assert schema == ddl("event STRUCT<Action: STRING>, dt STRING, year BIGINT, hour BIGINT")
    # Refine writes before any DDL, conformed to the schema it predicts the catalog will have.
    assert planned == schema

    frame = ddl(
        "event STRUCT<Action: STRING, newField: BIGINT>, dt STRING, zz STRING, aa BIGINT, "
        "year BIGINT, hour BIGINT"
    )
    planned = planned_table_schema(KEYS, frame, schema)
    schema, issued = _evolve(spark, "evolving", tmp_path / "evolving", frame)
    assert planned == schema
    assert issued[0] == f"ALTER TABLE `{db}`.`evolving` ADD COLUMNS (`aa` BIGINT, `zz` STRING)"
    assert schema == ddl(
        "event STRUCT<Action: STRING, newField: BIGINT>, dt STRING, aa BIGINT, zz STRING, "
        "year BIGINT, hour BIGINT"
    )
    # Nothing new: no DDL.
    assert _evolve(spark, "evolving", tmp_path / "evolving", frame)[1] == []


def _table_with_one_partition(spark: Any, tmp_path: Path, table: str) -> RefineTarget:
    target = RefineTarget(
        input_path="file:/in",
        database=DB,
        table=table,
        table_location=str(tmp_path / table),
        partition=(("year", "2024"), ("hour", "3")),
        input_mtime=1,
    )
    frame = ddl("s STRUCT<a: STRING>, year BIGINT, hour BIGINT")
    writer = HiveTableWriter(spark, JvmFileSystem(spark), target)
    writer.evolve(frame, None)
    df = spark.createDataFrame([(("x",), 2024, 3)], frame)
    writer.commit(writer.stage(df, codec="snappy"))
    return target


def test_refused_struct_change_fails_naming_table_and_column_unless_allowed(
    spark: Any, tmp_path: Path, db: str, monkeypatch: pytest.MonkeyPatch
):
    # A remote metastore enforcing its incompatible-type check refuses the in-place change.
    monkeypatch.setattr(ddl_module, "try_alter_data_schema", lambda *a, **k: False)
    _table_with_one_partition(spark, tmp_path, "refused")
    wider = ddl("s STRUCT<a: STRING, b: BIGINT>, year BIGINT, hour BIGINT")
    with pytest.raises(TableRecreateRefusedError) as refused:
        _evolve(spark, "refused", tmp_path / "refused", wider)
    message = str(refused.value)
    assert f"`{db}`.`refused`" in message
    assert "s: table has struct<a:string>, data needs struct<a:string,b:bigint>" in message
    assert "--allow_table_recreate=true" in message
    # Off by default: the table is still there, unchanged, with its row.
    table = spark.table(f"{db}.refused")
    assert table.schema == ddl("s STRUCT<a: STRING>, year BIGINT, hour BIGINT")
    assert table.collect() == [Row(s=Row(a="x"), year=2024, hour=3)]

    # Opted in: dropped and re-created with its partition at the same location.
    schema, issued = _evolve(spark, "refused", tmp_path / "refused", wider, allow_recreate=True)
    assert schema == wider
    assert any("CHANGE COLUMN `s`" in s for s in issued)
    spark.catalog.refreshTable(f"{db}.refused")
    assert spark.table(f"{db}.refused").collect() == [Row(s=Row(a="x", b=None), year=2024, hour=3)]


def test_in_place_struct_change_keeps_partition_and_data(spark: Any, tmp_path: Path, db: str):
    # The local metastore accepts the change once its check is relaxed: no re-creation.
    _table_with_one_partition(spark, tmp_path, "widened")
    wider = ddl("s STRUCT<a: STRING, b: BIGINT>, year BIGINT, hour BIGINT")
    schema, _ = _evolve(spark, "widened", tmp_path / "widened", wider)
    assert schema == wider
    assert spark.table(f"{db}.widened").collect() == [Row(s=Row(a="x", b=None), year=2024, hour=3)]
