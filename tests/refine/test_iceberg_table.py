"""The Iceberg table writer: its schema-evolution plan and DDL (pure), the catalog check, and
a table created, widened and partitioned as the writer needs it (Spark, the test session's
Hadoop catalog ``iceberg``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql.types import (
    ArrayType,
    DecimalType,
    DoubleType,
    FloatType,
    IntegerType,
    LongType,
    MapType,
    StringType,
    StructField,
    StructType,
)

from eljobs.refine.iceberg_table import (
    IcebergCatalogError,
    SchemaChange,
    change_statements,
    check_iceberg_catalog,
    create_statement,
    iceberg_planned_schema,
    plan_iceberg_evolution,
    promotable,
)
from eljobs.spark import LOCAL_ICEBERG_CATALOG

KEYS = ["year", "month", "day", "hour"]


def _s(*fields: tuple[str, Any]) -> StructType:
    return StructType([StructField(n, t, True) for n, t in fields])


# --------------------------------------------------------------------------------------------
# Plan (no JVM)


def test_promotions_are_the_iceberg_specs() -> None:
    assert promotable(IntegerType(), LongType())
    assert promotable(FloatType(), DoubleType())
    assert promotable(DecimalType(10, 2), DecimalType(12, 2))
    assert not promotable(LongType(), IntegerType())
    assert not promotable(DecimalType(10, 2), DecimalType(12, 3))
    assert not promotable(IntegerType(), StringType())


def test_plan_adds_top_level_sorted_nested_in_frame_order_and_widens() -> None:
    table = _s(
        ("a", StringType()),
        ("s", _s(("x", IntegerType()))),
        ("arr", ArrayType(_s(("p", StringType())))),
        ("m", MapType(StringType(), _s(("v", FloatType())))),
        ("year", LongType()),
    )
    frame = _s(
        ("zz", StringType()),
        ("A", StringType()),  # top-level names compare case-insensitively
        ("s", _s(("x", LongType()), ("z", StringType()), ("y", StringType()))),
        ("arr", ArrayType(_s(("p", StringType()), ("q", LongType())))),
        ("m", MapType(StringType(), _s(("v", DoubleType())))),
        ("bb", LongType()),
    )
    plan = plan_iceberg_evolution(table, frame)
    assert plan.changes == [
        SchemaChange("widen", ("s", "x"), LongType()),
        SchemaChange("add", ("s", "z"), StringType()),
        SchemaChange("add", ("s", "y"), StringType()),
        SchemaChange("add", ("arr", "element", "q"), LongType()),
        SchemaChange("widen", ("m", "value", "v"), DoubleType()),
        SchemaChange("add", ("bb",), LongType()),
        SchemaChange("add", ("zz",), StringType()),
    ]
    assert [f.name for f in plan.schema.fields] == ["a", "s", "arr", "m", "year", "bb", "zz"]
    assert plan.schema["s"].dataType == _s(
        ("x", LongType()), ("z", StringType()), ("y", StringType())
    )
    assert plan.warnings == []


def test_plan_keeps_types_iceberg_cannot_change_with_a_warning() -> None:
    table = _s(("n", LongType()), ("m", MapType(StringType(), StringType())))
    frame = _s(("n", StringType()), ("m", MapType(LongType(), StringType())))
    plan = plan_iceberg_evolution(table, frame)
    assert plan.changes == []
    assert plan.schema == table
    assert len(plan.warnings) == 2
    assert "field n: table type bigint kept" in plan.warnings[0]
    assert "field m.key" in plan.warnings[1]


def test_planned_schema_new_table_puts_keys_last_existing_appends_after_them() -> None:
    frame = _s(("b", StringType()), ("year", LongType()), ("a", LongType()))
    assert [f.name for f in iceberg_planned_schema(["year"], frame, None).fields] == [
        "b",
        "a",
        "year",
    ]
    existing = _s(("b", StringType()), ("year", LongType()))
    assert [f.name for f in iceberg_planned_schema(["year"], frame, existing).fields] == [
        "b",
        "year",
        "a",
    ]


def test_statements_add_in_one_alter_then_widen_each() -> None:
    changes = [
        SchemaChange("add", ("s", "y"), StringType()),
        SchemaChange("widen", ("s", "x"), LongType()),
        SchemaChange("add", ("new col",), _s(("k", LongType()))),
    ]
    assert change_statements("`c`.`d`.`t`", changes) == [
        "ALTER TABLE `c`.`d`.`t` ADD COLUMNS (`s`.`y` STRING, `new col` STRUCT<`k`: BIGINT>)",
        "ALTER TABLE `c`.`d`.`t` ALTER COLUMN `s`.`x` TYPE BIGINT",
    ]
    assert change_statements("`c`.`d`.`t`", []) == []


def test_create_statement_partitions_by_identity_keys() -> None:
    schema = _s(("a", StringType()), ("year", LongType()), ("hour", LongType()))
    assert create_statement("`c`.`d`.`t`", schema, ["year", "hour"], "/w/d/t") == (
        "CREATE TABLE `c`.`d`.`t` (`a` STRING, `year` BIGINT, `hour` BIGINT) USING iceberg "
        "PARTITIONED BY (`year`, `hour`) LOCATION '/w/d/t'"
    )


# --------------------------------------------------------------------------------------------
# With Spark


def test_catalog_check_names_the_setting_it_expected(spark: Any) -> None:
    check_iceberg_catalog(spark, LOCAL_ICEBERG_CATALOG)
    with pytest.raises(IcebergCatalogError, match=r"spark\.sql\.catalog\.spark_catalog"):
        check_iceberg_catalog(spark, "spark_catalog")


def _hour(tmp_path: Path, events: list[dict[str, Any]], name: str = "in") -> Path:
    d = tmp_path / name
    d.mkdir()
    (d / "part-00000.json").write_text("".join(json.dumps(e) + "\n" for e in events))
    return d


def test_existing_table_is_widened_in_place_and_wrong_partitioning_refused(
    spark: Any, tmp_path: Path
) -> None:
    from eljobs.jobs import refine_dataset

    warehouse = spark.conf.get(f"spark.sql.catalog.{LOCAL_ICEBERG_CATALOG}.warehouse")
    db = "ice_widen"
    spark.sql(f"DROP TABLE IF EXISTS iceberg.{db}.t")
    spark.sql(f"DROP TABLE IF EXISTS iceberg.{db}.by_year")
    spark.sql(
        f"CREATE TABLE iceberg.{db}.t (n INT, s STRUCT<x: INT>, year BIGINT, hour BIGINT) "
        "USING iceberg PARTITIONED BY (year, hour)"
    )
    spark.sql(
        f"CREATE TABLE iceberg.{db}.by_year (n INT, year BIGINT) USING iceberg "
        "PARTITIONED BY (year)"
    )
    src = _hour(tmp_path, [{"n": 2**40, "s": {"x": 2**35}}, {"n": 1, "s": {"x": 2}}])
    common = [
        f"--input_paths={src}",
        "--partition_paths=year=2024/hour=3",
        "--table_format=iceberg",
        f"--iceberg_catalog={LOCAL_ICEBERG_CATALOG}",
        f"--output_path={warehouse}/{db}",
    ]
    assert (
        refine_dataset.main([*common, f"--table={db}.t", f"--report_path={tmp_path / 'r.json'}"])
        == 0
    )
    table = spark.table(f"iceberg.{db}.t")
    assert table.schema["n"].dataType == LongType()
    assert table.schema["s"].dataType == _s(("x", LongType()))
    assert sorted((r.n, r.s.x) for r in table.collect()) == [(1, 2), (2**40, 2**35)]

    code = refine_dataset.main(
        [*common, f"--table={db}.by_year", f"--report_path={tmp_path / 'r2.json'}"]
    )
    assert code == 1
    error = json.loads((tmp_path / "r2.json").read_text())["failures"][0]["error"]
    assert "IcebergTableError" in error
    assert "partitioned by (year)" in error and "missing hour" in error
    assert spark.table(f"iceberg.{db}.by_year").count() == 0


def test_writer_commit_of_no_rows_empties_only_its_partition(spark: Any, tmp_path: Path) -> None:
    from eljobs.io.fs import filesystem
    from eljobs.refine.iceberg_table import IcebergTableWriter
    from eljobs.refine.targets import RefineTarget

    db = "ice_empty"
    spark.sql(f"DROP TABLE IF EXISTS iceberg.{db}.t")
    spark.sql(
        f"CREATE TABLE iceberg.{db}.t (n BIGINT, year BIGINT, hour BIGINT) USING iceberg "
        "PARTITIONED BY (year, hour)"
    )
    spark.sql(f"INSERT INTO iceberg.{db}.t VALUES (1, 2024, 3), (2, 2024, 3), (3, 2024, 4)")
    warehouse = spark.conf.get(f"spark.sql.catalog.{LOCAL_ICEBERG_CATALOG}.warehouse")
    target = RefineTarget(
        input_path=str(tmp_path),
        database=db,
        table="t",
        table_location=f"{warehouse}/{db}/t",
        partition=(("year", "2024"), ("hour", "3")),
        input_mtime=0,
    )
    writer = IcebergTableWriter(spark, filesystem(spark), target, catalog=LOCAL_ICEBERG_CATALOG)
    existing = writer.existing_schema()
    assert existing is not None
    empty = spark.createDataFrame([], existing)
    staged = writer.stage(empty, codec="snappy")
    writer.commit(staged)
    rows = spark.table(f"iceberg.{db}.t").collect()
    assert [(r.n, r.hour) for r in rows] == [(3, 4)]
    assert not Path(staged).exists()
