"""The mask, row by row of the sanitization rules (tables, struct fields, maps, nulls) and
the ``__defaults__`` merging, on tiny frames with chispa. Every error is raised before any
data is read: the input frames of the error tests fail when read."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import pytest
from chispa import assert_df_equality
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from eljobs.refine.context import TransformContext
from eljobs.sanitize import (
    AllowlistError,
    PartitionWindowError,
    Salt,
    load_allowlist,
    make_sanitizer,
    sanitize,
)
from eljobs.sanitize.hashing import hmac_sha256_hex_py

SALT = Salt(datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 4, 1, tzinfo=UTC), "some salt")
PART = {"year": 2024, "month": 1, "day": 5, "hour": 3}


def H(v: str) -> str:
    return hmac_sha256_hex_py("some salt", v)


def frame(spark: SparkSession, ddl: str, rows: Sequence[Sequence[Any]]) -> DataFrame:
    return spark.createDataFrame(list(rows), ddl)


def check(
    spark: SparkSession,
    ddl: str,
    rows: Sequence[Sequence[Any]],
    allowlist: Mapping[str, Any],
    expected: Sequence[Sequence[Any]],
    *,
    partition: Mapping[str, Any] = PART,
    keep_all: bool = False,
    salts: Sequence[Salt] = (SALT,),
) -> None:
    al = load_allowlist(allowlist, keep_all_enabled=keep_all)
    out = sanitize(frame(spark, ddl, rows), al, table="T", partition=partition, salts=salts)
    # Row order is kept by a projection; maps cannot be sorted, so compare in order.
    assert_df_equality(out, frame(spark, ddl, expected), ignore_nullable=True)


def unreadable(spark: SparkSession, ddl: str) -> DataFrame:
    """A frame of the given schema that fails if any row is ever computed."""
    from pyspark.sql.types import StructType

    schema = StructType.fromDDL(ddl)
    cols = [F.raise_error(F.lit("data was read")).cast(f.dataType).alias(f.name) for f in schema]
    return spark.range(1).select(*cols)


def error(spark: SparkSession, ddl: str, allowlist: Mapping[str, Any], **kw: Any) -> str:
    al = load_allowlist(allowlist, keep_all_enabled=kw.pop("keep_all", False))
    with pytest.raises(AllowlistError) as e:
        sanitize(unreadable(spark, ddl), al, table="t", partition=kw.pop("partition", PART), **kw)
    return str(e.value)


# -------------------------------------------------------------------------------------------
# Tables


def test_absent_table_gives_empty_frame_same_schema(spark: SparkSession) -> None:
    ddl = "uuid string, x bigint, year bigint"
    df = frame(spark, ddl, [("u", 1, 2024)])
    out = sanitize(df, {"__defaults__": {"uuid": "keep"}, "other": {"x": "keep"}},
                   table="t", partition={"year": 2024})  # fmt: skip
    assert out.schema == df.schema
    assert out.count() == 0


def test_keep_all_table_is_unchanged(spark: SparkSession) -> None:
    ddl = "uuid string, m map<string,string>, year bigint"
    rows = [("u", {"a": "1"}, 2024), (None, None, 2024)]
    al = {"__defaults__": {"uuid": "keep"}, "t": "keep_all"}
    check(spark, ddl, rows, al, rows, keep_all=True, partition={"year": 2024})


def test_mapping_table_masks_fields(spark: SparkSession) -> None:
    check(
        spark,
        "a string, b string, year bigint",
        [("x", "y", 2024)],
        {"t": {"a": "keep"}},
        [("x", None, 2024)],
    )


@pytest.mark.parametrize("tag", ["keep", "hash"])
def test_table_tag_keep_or_hash_is_an_error(spark: SparkSession, tag: str) -> None:
    msg = error(spark, "a string, year bigint", {"T": tag})
    assert "Invalid allowlist value for table `t`." in msg


def test_table_name_is_normalized_before_lookup(spark: SparkSession) -> None:
    df = frame(spark, "a string, year bigint", [("x", 2024)])
    out = sanitize(df, {"Mediawiki.Page-Create": {"a": "keep"}},
                   table="mediawiki.page-create", partition={"year": 2024})  # fmt: skip
    assert out.collect()[0].a == "x"


# -------------------------------------------------------------------------------------------
# Partition columns


def test_partition_columns_always_kept_top_level_only(spark: SparkSession) -> None:
    ddl = "ev struct<year:bigint, a:string>, datacenter string, year bigint, month bigint"
    check(
        spark,
        ddl,
        [((2024, "a"), "eqiad", 2024, 1)],
        {"t": {"ev": {"a": "keep"}}},
        [((None, "a"), "eqiad", 2024, 1)],
        partition={"datacenter": "eqiad", "year": 2024, "month": 1},
    )


def test_partition_columns_kept_whatever_the_allowlist_says(spark: SparkSession) -> None:
    check(
        spark,
        "a string, year bigint, month bigint",
        [("x", 2024, 1)],
        {"__defaults__": {"month": {"x": "keep"}}, "t": {"year": "hash"}},
        [(None, 2024, 1)],
        partition={"year": 2024, "month": 1},
    )


def test_partition_key_match_is_case_sensitive(spark: SparkSession) -> None:
    check(
        spark,
        "Year bigint, year_ bigint",
        [(2024, 1)],
        {"t": {"other": "keep"}},
        [(None, None)],
        partition={"year": 2024},
    )


# -------------------------------------------------------------------------------------------
# Struct fields


def test_absent_fields_become_null_maps_empty(spark: SparkSession) -> None:
    ddl = "s string, n int, st struct<a:string>, m map<string,bigint>, arr array<string>, k string"
    rows = [("x", 1, ("a",), {"k": 1}, ["a"], "kept"), ("y", 2, None, None, None, "kept")]
    expected = [(None, None, None, {}, None, "kept"), (None, None, None, None, None, "kept")]
    check(spark, ddl, rows, {"t": {"k": "keep"}}, expected)


def test_absent_non_nullable_field_is_an_error(spark: SparkSession) -> None:
    from pyspark.sql.types import LongType, StringType, StructField, StructType

    schema = StructType(
        [StructField("k", StringType()), StructField("n", LongType(), nullable=False)]
    )
    df = spark.createDataFrame([("a", 1)], schema)
    with pytest.raises(AllowlistError) as e:
        sanitize(df, {"t": {"k": "keep"}}, table="t", partition=PART)
    assert "Field 'n' needs to be nullified but is not nullable." in str(e.value)
    assert "field `n`" in str(e.value)
    # Kept, it is fine.
    out = sanitize(df, {"t": {"k": "keep", "n": "keep"}}, table="t", partition=PART)
    assert out.collect()[0].n == 1


def test_non_nullable_map_is_emptied_not_an_error(spark: SparkSession) -> None:
    from pyspark.sql.types import LongType, MapType, StringType, StructField, StructType

    schema = StructType([StructField("m", MapType(StringType(), LongType()), nullable=False)])
    df = spark.createDataFrame([({"a": 1},)], schema)
    assert sanitize(df, {"t": {}}, table="t", partition=PART).collect()[0].m == {}


def test_keep_all_on_struct_and_map_keeps_whole(spark: SparkSession) -> None:
    ddl = "st struct<a:string, b:struct<c:int>>, m map<string,struct<x:string>>"
    rows = [(("a", (1,)), {"K": ("x",)}), (None, None)]
    check(spark, ddl, rows, {"t": {"st": "keep_all", "m": "keep_all"}}, rows, keep_all=True)


def test_struct_mapping_recurses(spark: SparkSession) -> None:
    ddl = "event struct<pageviewToken:string, action:string, inner:struct<a:string, b:int>>"
    rows = [(("tok", "click", ("A", 2)),), (("t2", None, None),)]
    al = {"t": {"event": {"PageviewToken": "hash", "inner": {"b": "keep"}}}}
    expected = [((H("tok"), None, (None, 2)),), ((H("t2"), None, None),)]
    check(spark, ddl, rows, al, expected)


@pytest.mark.parametrize(("col", "tag"), [("st", "keep"), ("st", "hash"), ("m", "keep"),
                                          ("m", "hash")])  # fmt: skip
def test_keep_or_hash_on_struct_or_map_is_an_error(spark: SparkSession, col: str, tag: str) -> None:
    msg = error(spark, "st struct<a:string>, m map<string,int>", {"t": {col: tag}})
    ddl = "`st` STRUCT<`a`: STRING>" if col == "st" else "`m` MAP<STRING, INT>"
    assert f"Invalid allowlist value {tag} for nested field {ddl}" in msg
    assert f"field `{col}`" in msg


def test_string_keep_and_hash(spark: SparkSession) -> None:
    ddl = "a string, b string"
    rows = [("x", "some string value"), (None, None), ("é", "日本語 ü")]
    expected = [("x", "3BF2B893B2A0F57586E7CF73AF0690F061FAA9546F2C385AD93174BB9A81468C"),
                (None, None), ("é", H("日本語 ü"))]  # fmt: skip
    check(spark, ddl, rows, {"t": {"a": "keep", "b": "hash"}}, expected)


def test_hash_without_salt_is_an_error(spark: SparkSession) -> None:
    msg = error(spark, "a string", {"t": {"a": "hash"}}, salts=())
    assert "Salt must be defined in order to use allowlist value hash for field `a` STRING" in msg
    # A salt that exists but covers another period is named as such, not "must be defined".
    msg = error(spark, "a string", {"t": {"a": "hash"}}, salts=[SALT],
                partition={"year": 2024, "month": 4})  # fmt: skip
    assert "Salt must be defined" not in msg
    assert (
        "No salt covers the partition window [2024-04-01T00:00:00Z, 2024-05-01T00:00:00Z): "
        "the 1 salts loaded cover 2024-01-01T00:00:00Z..2024-04-01T00:00:00Z; cannot use "
        "allowlist value hash for field `a` STRING"
    ) in msg
    assert "some salt" not in msg  # spans and names only, never the value
    # The same for a hashed map key.
    msg = error(spark, "m map<string,string>", {"t": {"m": {"k": "hash"}}}, salts=[SALT],
                partition={"year": 2023})  # fmt: skip
    assert "No salt covers the partition window [2023-01-01T00:00:00Z" in msg
    assert "cannot use allowlist value hash for map key 'k'" in msg


def test_other_types_keep(spark: SparkSession) -> None:
    ddl = ("i int, l bigint, d double, b boolean, arr array<string>, "
           "arrs array<struct<x:string>>, ts timestamp, bin binary, dec decimal(5,2)")  # fmt: skip
    from decimal import Decimal

    row = (1, 2, 1.5, True, ["a"], [("x",)], datetime(2024, 1, 1, tzinfo=UTC),
           bytearray(b"\x01"), Decimal("1.25"))  # fmt: skip
    al = {"t": {c.split()[0]: "keep" for c in ddl.split(", ")}}
    check(spark, ddl, [row], al, [row])


@pytest.mark.parametrize(("ddl", "shown"), [("n int", "`n` INT"), ("b boolean", "`b` BOOLEAN"),
                                            ("a array<string>", "`a` ARRAY<STRING>")])  # fmt: skip
def test_hash_on_non_string_is_an_error(spark: SparkSession, ddl: str, shown: str) -> None:
    msg = error(spark, ddl, {"t": {ddl.split()[0]: "hash"}})
    assert f"Invalid allowlist value hash for field {shown}" in msg


@pytest.mark.parametrize(("value", "shown"), [("keep_all", "keep_all"), ({"x": "keep"},
                                              "{x: keep}")])  # fmt: skip
def test_keep_all_or_mapping_on_simple_is_an_error(
    spark: SparkSession, value: Any, shown: str
) -> None:
    msg = error(spark, "s string, n int", {"t": {"n": value}}, keep_all=True)
    assert f"Invalid allowlist value {shown} for field `n` INT" in msg


# -------------------------------------------------------------------------------------------
# Maps


def test_map_keys_filtered_case_insensitively_original_spelling_kept(
    spark: SparkSession,
) -> None:
    ddl = "m map<string,string>"
    rows = [({"Foo": "1", "BAR": "2", "baz": "3", "user-agent": "ua"},), (None,), ({},)]
    al = {"t": {"m": {"foo": "keep", "Bar": "hash", "user-agent": "keep"}}}
    # user-agent normalizes to user_agent and can never match the data key.
    expected = [({"Foo": "1", "BAR": H("2")},), (None,), ({},)]
    check(spark, ddl, rows, al, expected)


def test_map_of_struct_values(spark: SparkSession) -> None:
    ddl = "m map<string,struct<a:string, b:string>>"
    rows = [({"k1": ("a", "b"), "K2": ("c", "d"), "k3": ("e", "f"), "k4": None},)]
    al = {"t": {"m": {"k1": "keep_all", "k2": {"b": "hash"}, "k4": {"a": "keep"}}}}
    expected = [({"k1": ("a", "b"), "K2": (None, H("d")), "k4": None},)]
    check(spark, ddl, rows, al, expected, keep_all=True)


def test_map_of_map_values(spark: SparkSession) -> None:
    ddl = "m map<string,map<string,string>>"
    rows = [({"outer": {"In": "x", "drop": "y"}, "gone": {"a": "b"}},)]
    al = {"t": {"m": {"outer": {"in": "hash"}}}}
    check(spark, ddl, rows, al, [({"outer": {"In": H("x")}},)])


@pytest.mark.parametrize("value", ["keep", "hash"])
def test_map_struct_value_needs_keep_all_or_mapping(spark: SparkSession, value: str) -> None:
    msg = error(spark, "m map<string,struct<a:string>>", {"t": {"m": {"k": value}}})
    assert f"Invalid allowlist value for map key 'k'. Value found '{value}'." in msg
    assert "field `m[k]`" in msg


@pytest.mark.parametrize(
    ("vtype", "value", "salts"),
    [("int", "hash", (SALT,)), ("string", "hash", ()), ("string", "keep_all", (SALT,)),
     ("string", {"x": "keep"}, (SALT,))],
)  # fmt: skip
def test_map_simple_value_rules(
    spark: SparkSession, vtype: str, value: Any, salts: tuple[Salt, ...]
) -> None:
    msg = error(spark, f"m map<string,{vtype}>", {"t": {"m": {"k": value}}}, salts=salts,
                keep_all=True)  # fmt: skip
    from eljobs.sanitize.allowlist import render

    assert f"Invalid salt or allowlist value for map key 'k'. Value found '{render(value)}'." in msg


def test_map_simple_values_keep_non_string(spark: SparkSession) -> None:
    check(spark, "m map<string,bigint>", [({"a": 1, "b": 2},)], {"t": {"m": {"A": "keep"}}},
          [({"a": 1},)])  # fmt: skip


# -------------------------------------------------------------------------------------------
# Nulls


def test_nulls_stay_null(spark: SparkSession) -> None:
    ddl = "st struct<a:string, b:string>, m map<string,string>, h string, k string"
    rows = [(None, None, None, None)]
    al = {"t": {"st": {"a": "keep"}, "m": {"a": "keep"}, "h": "hash", "k": "keep"}}
    check(spark, ddl, rows, al, rows)


# -------------------------------------------------------------------------------------------
# __defaults__


def test_defaults_fill_absent_table_nodes(spark: SparkSession) -> None:
    ddl = "uuid string, dt string, webhost string, year bigint"
    al = {"__defaults__": {"uuid": "keep", "dt": "keep", "nonexistent": "hash"},
          "t": {"webHost": "keep"}}  # fmt: skip
    check(spark, ddl, [("u", "d", "w", 2024)], al, [("u", "d", "w", 2024)])


def test_defaults_structs_merge_pairwise(spark: SparkSession) -> None:
    ddl = "ev struct<a:string, b:string, c:struct<x:string, y:string>>"
    al = {"__defaults__": {"ev": {"a": "keep", "c": {"x": "keep"}}},
          "t": {"ev": {"b": "hash", "c": {"y": "keep"}}}}  # fmt: skip
    check(spark, ddl, [(("a", "b", ("x", "y")),)], al, [(("a", H("b"), ("x", "y")),)])


def test_defaults_maps_union_table_wins_on_conflict(spark: SparkSession) -> None:
    ddl = "m map<string,string>, mm map<string,map<string,string>>"
    al = {"__defaults__": {"m": {"a": "keep", "b": "keep"}, "mm": {"k": {"x": "keep"}}},
          "t": {"m": {"b": "hash", "c": "keep"}, "mm": {"k": {"y": "keep"}}}}  # fmt: skip
    rows = [({"a": "1", "b": "2", "c": "3", "d": "4"}, {"k": {"x": "1", "y": "2", "z": "3"}})]
    expected = [({"a": "1", "b": H("2"), "c": "3"}, {"k": {"x": "1", "y": "2"}})]
    check(spark, ddl, rows, al, expected)


def test_defaults_map_key_struct_values_table_wins(spark: SparkSession) -> None:
    ddl = "m map<string,struct<x:string, y:string>>"
    al = {"__defaults__": {"m": {"k": {"x": "keep"}}}, "t": {"m": {"k": {"y": "keep"}}}}
    check(spark, ddl, [({"k": ("1", "2")},)], al, [({"k": (None, "2")},)])


def test_defaults_keep_all_overridden_by_partial_table_mapping(spark: SparkSession) -> None:
    ddl = "ev struct<a:string, b:string>"
    al = {"__defaults__": {"ev": "keep_all"}, "t": {"ev": {"a": "keep"}}}
    check(spark, ddl, [(("a", "b"),)], al, [(("a", None),)], keep_all=True)


def test_partial_defaults_overridden_by_table_keep_all_or_hash(spark: SparkSession) -> None:
    ddl = "ev struct<a:string, b:string>, s string"
    al = {"__defaults__": {"ev": {"a": "keep"}, "s": "keep"},
          "t": {"ev": "keep_all", "s": "hash"}}  # fmt: skip
    check(spark, ddl, [(("a", "b"), "v")], al, [(("a", "b"), H("v"))], keep_all=True)


def test_invalid_defaults_fail_only_the_tables_they_do_not_fit(spark: SparkSession) -> None:
    al = {"__defaults__": {"n": "hash"}, "t": {"a": "keep"}, "u": {"a": "keep"}}
    msg = error(spark, "a string, n int", al)
    assert "Invalid allowlist value hash for field `n` INT" in msg and "table `t`" in msg
    # Table u has n as a string: the same defaults are fine there.
    df = frame(spark, "a string, n string", [("x", "y")])
    out = sanitize(df, al, table="u", partition=PART, salts=[SALT])
    assert out.collect()[0] == ("x", H("y"))


def test_one_bad_table_does_not_affect_others(spark: SparkSession) -> None:
    al = {"t": {"a": "hash"}, "u": {"a": "keep"}}
    assert "Invalid allowlist value hash" in error(spark, "a int", al)
    df = frame(spark, "a int", [(1,)])
    assert sanitize(df, al, table="u", partition=PART).collect()[0].a == 1


# -------------------------------------------------------------------------------------------
# Partitions, the transform function


def test_partition_without_year_is_a_value_error(spark: SparkSession) -> None:
    df = frame(spark, "a string", [("x",)])
    with pytest.raises(PartitionWindowError) as e:
        sanitize(df, {"u": {"a": "keep"}}, table="t", partition={"datacenter": "eqiad"})
    assert isinstance(e.value, ValueError)


def test_make_sanitizer_reads_context(spark: SparkSession) -> None:
    fn = make_sanitizer({"t": {"a": "hash"}}, [SALT])
    df = frame(spark, "a string, year bigint, month bigint", [("v", 2024, 2)])
    ctx = TransformContext(database="db", table="t", partition={"year": 2024, "month": 2})
    assert fn(df, context=ctx).collect()[0] == (H("v"), 2024, 2)
    ctx_q2 = TransformContext(database="db", table="t", partition={"year": 2024, "month": 4})
    with pytest.raises(AllowlistError, match="No salt covers the partition window"):
        fn(df, context=ctx_q2)
    with pytest.raises(ValueError, match="needs a TransformContext"):
        fn(df)
