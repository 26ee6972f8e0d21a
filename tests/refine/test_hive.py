"""Normalize-and-widen, schema merge, conform and evolution plans;
the catalog side is in test_ddl.py."""

from __future__ import annotations

from typing import Any

import pytest
from chispa import assert_df_equality
from pyspark.sql import Row
from pyspark.sql.types import StructType

from eljobs.refine.ddl import type_ddl
from eljobs.refine.evolution import merge_schemas, plan_evolution, same_columns
from eljobs.refine.frames import (
    SchemaMismatchError,
    add_partition_columns,
    conform_to_table,
    normalize_and_widen,
)


def ddl(s: str) -> StructType:
    """Parse a DDL schema (needs the JVM: tests using it take the ``spark`` fixture)."""
    return StructType.fromDDL(s)


def test_normalize_widens_inside_structs_and_fills_null_structs(spark: Any):
    df = spark.createDataFrame(
        [
            (1, "x", (2, 1.5), {"k": 3}, [4]),
            (5, None, None, None, None),
        ],
        "`Foo-Bar` INT, `$schema` STRING, `S` STRUCT<`inner-Field`: INT, f: FLOAT>, "
        "m MAP<STRING, INT>, a ARRAY<INT>",
    )
    out = normalize_and_widen(df)
    expected = spark.createDataFrame(
        [
            (1, "x", (2, 1.5), {"k": 3}, [4]),
            # A NULL struct becomes a struct whose fields are NULL (reference parity).
            (5, None, (None, None), None, None),
        ],
        "foo_bar BIGINT, _schema STRING, s STRUCT<inner_Field: BIGINT, f: DOUBLE>, "
        "m MAP<STRING, INT>, a ARRAY<INT>",
    )
    assert_df_equality(out, expected, ignore_nullable=True)


def test_normalize_fills_null_structs_that_need_no_renaming_or_widening(spark: Any):
    # Such structs are kept whole when present (no member-by-member copy): same values.
    ddl_ = "n BIGINT, meta STRUCT<id: STRING, dt: STRING, tags: ARRAY<STRING>>, " + (
        "outer STRUCT<inner: STRUCT<v: STRING>>"
    )
    df = spark.createDataFrame(
        [(1, ("a", "t", ["x"]), (("v1",),)), (2, None, None), (3, (None, None, None), (None,))],
        ddl_,
    )
    out = normalize_and_widen(df)
    expected = spark.createDataFrame(
        [
            (1, ("a", "t", ["x"]), (("v1",),)),
            (2, (None, None, None), ((None,),)),  # NULL structs, nested ones too, filled
            (3, (None, None, None), ((None,),)),
        ],
        ddl_,
    )
    assert_df_equality(out, expected, ignore_nullable=True)
    assert all(f.nullable for f in out.schema["meta"].dataType.fields)
    assert out.schema["meta"].nullable


def test_partition_columns_are_bigint_when_numeric(spark: Any):
    df = spark.createDataFrame([("a", "old")], "v STRING, datacenter STRING")
    out = add_partition_columns(df, (("datacenter", "eqiad"), ("year", "2024"), ("month", "03")))
    expected = spark.createDataFrame(
        [("a", "eqiad", 2024, 3)], "v STRING, datacenter STRING, year BIGINT, month BIGINT"
    )
    assert_df_equality(out, expected, ignore_nullable=True)


def test_merge_keeps_table_types_and_order_top_level_case_insensitive(spark: Any):
    table = ddl("a BIGINT, s STRUCT<Inner: STRING>, t STRING, st STRUCT<x: INT>")
    frame = ddl(
        "A DOUBLE, new2 STRING, S STRUCT<Inner: STRING, inner: BIGINT>, t STRUCT<q: INT>, "
        "st STRING, new1 MAP<STRING, STRUCT<v: INT>>"
    )
    merged = merge_schemas(table, frame)
    assert merged.schema == ddl(
        "a BIGINT, s STRUCT<Inner: STRING, inner: BIGINT>, t STRING, st STRUCT<x: INT>, "
        "new2 STRING, new1 MAP<STRING, STRUCT<v: INT>>"
    )
    assert len(merged.warnings) == 3  # a, t and st keep the table type


def test_merge_recurses_into_arrays_and_maps(spark: Any):
    table = ddl("arr ARRAY<STRUCT<a: INT>>, m MAP<STRING, STRUCT<a: INT>>")
    frame = ddl("arr ARRAY<STRUCT<b: INT>>, m MAP<STRING, STRUCT<a: INT, c: STRING>>")
    assert merge_schemas(table, frame).schema == ddl(
        "arr ARRAY<STRUCT<a: INT, b: INT>>, m MAP<STRING, STRUCT<a: INT, c: STRING>>"
    )


def test_evolution_plan_sorts_new_columns_and_struct_changes(spark: Any):
    plan = plan_evolution(
        ddl("a BIGINT, z STRUCT<x: INT>, b STRUCT<x: INT>"),
        ddl("zeta STRING, z STRUCT<x: INT, y: INT>, alpha BIGINT, b STRUCT<x: INT, w: INT>"),
    )
    assert [f.name for f in plan.add_columns] == ["alpha", "zeta"]
    assert [f.name for f in plan.changed_structs] == ["b", "z"]
    assert plan.new_data_schema.names == ["a", "z", "b", "alpha", "zeta"]
    assert type_ddl(plan.changed_structs[0].dataType) == "STRUCT<`x`: INT, `w`: INT>"


TABLE_DDL = (
    "id BIGINT, amount BIGINT, label STRING, s STRUCT<a: STRING, b: BIGINT>, "
    "m MAP<STRING, STRUCT<a: STRING, b: BIGINT>>, arr ARRAY<STRUCT<a: STRING, b: BIGINT>>, "
    "webhost STRING, year BIGINT"
)


def test_conform_casts_fills_and_orders(spark: Any):
    df = spark.createDataFrame(
        [
            (2024, "en.wikipedia.org", 1.7, "456", ("x",), {"k": ("y",)}, [("z",)], (1, "q")),
            (2024, None, 2.2, "abc", None, None, None, None),
            (2024, None, None, "9223372036854776000", None, None, None, None),
        ],
        "year BIGINT, WebHost STRING, amount DOUBLE, id STRING, s STRUCT<a: STRING>, "
        "m MAP<STRING, STRUCT<a: STRING>>, arr ARRAY<STRUCT<a: STRING>>, "
        "label STRUCT<n: INT, t: STRING>",
    )
    out = conform_to_table(df, ddl(TABLE_DDL))
    expected = spark.createDataFrame(
        [
            (456, 1, "{1, q}", ("x", None), {"k": ("y", None)}, [("z", None)],
             "en.wikipedia.org", 2024),
            (None, 2, None, (None, None), None, None, None, 2024),
            (None, None, None, (None, None), None, None, None, 2024),
        ],
        TABLE_DDL,
    )  # fmt: skip
    assert_df_equality(out, expected, ignore_nullable=True)


def test_conform_refuses_non_struct_data_in_a_struct_column(spark: Any):
    df = spark.createDataFrame([("x",)], "s STRING")
    with pytest.raises(SchemaMismatchError, match=r"table has a struct .* data has string"):
        conform_to_table(df, ddl("s STRUCT<a: STRING>"))


def test_conform_missing_table_columns_are_typed_nulls(spark: Any):
    df = spark.createDataFrame([(1,)], "year BIGINT")
    out = conform_to_table(df, ddl("s STRUCT<a: STRING>, n BIGINT, year BIGINT"))
    assert out.collect() == [Row(s=None, n=None, year=1)]


def test_same_columns_ignores_top_level_case_and_nullability_only(spark: Any):
    a = ddl("Dt STRING, event STRUCT<Action: STRING>")
    assert same_columns(a, ddl("dt STRING NOT NULL, event STRUCT<Action: STRING>"))
    assert not same_columns(a, ddl("dt STRING, event STRUCT<action: STRING>"))  # nested case
    assert not same_columns(a, ddl("event STRUCT<Action: STRING>, dt STRING"))  # order
    assert not same_columns(a, ddl("dt STRING, event STRUCT<Action: BIGINT>"))


def test_conform_keeps_columns_already_of_the_table_type(spark: Any):
    # No rebuild when the types match: the plan keeps the column as it is.
    df = spark.createDataFrame([(("x",), 1)], "s STRUCT<a: STRING>, n BIGINT")
    out = conform_to_table(df, df.schema)
    plan = out._jdf.queryExecution().optimizedPlan().toString()
    assert "named_struct" not in plan and "struct(" not in plan
    assert out.collect() == [Row(s=Row(a="x"), n=1)]
