"""Refine transform functions on tiny frames: input and expected side by side,
compared as whole frames with explicit DDL schemas."""

from __future__ import annotations

from typing import Any

import pytest
from chispa import assert_df_equality
from pyspark.sql import DataFrame
from pyspark.sql.types import (
    ArrayType,
    BooleanType,
    IntegerType,
    MapType,
    StringType,
    StructField,
    StructType,
)

from eljobs.columns import NORMALIZED_HOST_TYPE
from eljobs.refine import transforms as T
from eljobs.refine.context import TransformContext
from eljobs.refine.transform_names import TRANSFORM_NAMES
from eljobs.refine.transforms import resolve_transforms

UNKNOWN_GEO = {
    "continent": "Unknown",
    "country_code": "--",
    "country": "Unknown",
    "subdivision": "Unknown",
    "subdivision_code": "--",
    "city": "Unknown",
    "timezone": "Unknown",
}
GB_GEO = {
    "continent": "Europe",
    "country_code": "GB",
    "country": "United Kingdom",
    "subdivision": "England",
    "subdivision_code": "ENG",
    "city": "Willesden",
    "timezone": "Europe/London",
}
CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/118.0.0.0 Safari/537.36"
)
APP = "WikipediaApp/7.4.0 (Android 13; Phone) Google Play"
GOOGLEBOT = "Googlebot/2.1 (+http://www.google.com/bot.html)"


def _sorted(df: DataFrame, key: str = "k") -> DataFrame:
    return df.orderBy(key)


def test_find_column_resolves_nested_paths_case_insensitively() -> None:
    meta = StructType([StructField("ID", StringType()), StructField("Domain", StringType())])
    schema = StructType(
        [
            StructField("Meta", meta),
            StructField("webhost", StringType()),
            StructField("x", IntegerType()),
        ]
    )
    found = T.find_column(schema, "meta.id")
    assert found is not None and found.path == ("Meta", "ID")
    assert [f.name for f in T.find_columns(schema, T.DOMAIN_SOURCES)] == ["Meta.Domain", "webhost"]
    assert T.find_column(schema, "meta.dt") is None
    assert T.find_column(schema, "x.y") is None  # not a struct


def test_remove_canary_events_is_exact_and_case_sensitive(spark: Any) -> None:
    ddl = "k int, meta struct<domain: string>"
    df = spark.createDataFrame(
        [
            (1, ("canary",)),
            (2, ("Canary",)),
            (3, ("CANARY",)),
            (4, (None,)),
            (5, None),
            (6, ("en.wikipedia.org",)),
            (7, ("canary.wikipedia.org",)),
        ],
        ddl,
    )
    expected = spark.createDataFrame(
        [
            (2, ("Canary",)),
            (3, ("CANARY",)),
            (4, (None,)),
            (5, None),
            (6, ("en.wikipedia.org",)),
            (7, ("canary.wikipedia.org",)),
        ],
        ddl,
    )
    assert_df_equality(_sorted(T.remove_canary_events(df)), expected)


def test_transforms_without_their_source_columns_return_the_input(spark: Any) -> None:
    df = spark.createDataFrame([(1, "x")], "k int, other string")
    for fn in (
        T.remove_canary_events,
        T.deduplicate,
        T.geocode_ip,
        T.parse_user_agent,
        T.filter_allowed_domains,
    ):
        assert fn(df) is df, fn.__name__
    # a map column named like a struct path does not count as one
    weird = spark.createDataFrame([(1, {"domain": "canary"})], "k int, meta map<string,string>")
    assert T.remove_canary_events(weird) is weird


def test_deduplicate_keeps_the_latest_and_never_drops_rows_without_ids(spark: Any) -> None:
    ddl = "k int, meta struct<id: string, dt: string, request_id: string>, uuid string"
    rows = [
        (1, ("a", "2024-01-01T00:00:01Z", "r1"), None),
        (2, ("a", "2024-01-01T00:00:03Z", "r2"), None),  # latest of "a": kept
        (3, ("a", None, "r9"), None),  # NULL dt sorts last
        (4, ("a", "2024-01-01T00:00:02Z", "r3"), None),
        (5, (None, "2024-01-01T00:00:00Z", None), "u1"),  # key falls back to uuid
        (6, (None, "2024-01-01T00:00:05Z", None), "u1"),  # latest of "u1": kept
        (7, (None, None, None), None),  # no id at all: never dropped
        (8, (None, None, None), None),
        (9, None, None),
        (10, ("b", "2024-01-01T00:00:00Z", "r1"), None),
        (11, ("b", "2024-01-01T00:00:00Z", "r2"), None),  # same dt: request_id DESC decides
    ]
    df = spark.createDataFrame(rows, ddl)
    keep = {2, 6, 7, 8, 9, 11}
    expected = spark.createDataFrame([r for r in rows if r[0] in keep], ddl)
    out = T.deduplicate(df)
    assert out.schema == df.schema
    assert_df_equality(_sorted(out), expected)
    # The rows are sorted once, after the shuffle (no map-side sort for an early group limit).
    plan = out._jdf.queryExecution().executedPlan().toString()
    assert plan.count(" Sort [") == 1, plan
    # Cached input takes the path that shuffles only the duplicated keys: same answer.
    cached = df.cache()
    try:
        assert T._reads_cached_data(cached.select("k", "meta", "uuid"))
        assert_df_equality(_sorted(T.deduplicate(cached)), expected)
    finally:
        cached.unpersist()
    assert T.deduplicate_eventlogging is T.deduplicate is T.deduplicate_eventbus


def test_deduplicate_without_ordering_columns_keeps_one_row_per_id(spark: Any) -> None:
    df = spark.createDataFrame(
        [(1, "u1"), (2, "u1"), (3, "u2"), (4, None), (5, None)], "k int, UUID string"
    )
    got = sorted((r.UUID or "", r.k) for r in T.deduplicate(df).collect())
    assert [u for u, _ in got] == ["", "", "u1", "u2"]
    assert [k for u, k in got if not u] == [4, 5]


def test_geocode_ip_adds_the_map_and_moves_a_filled_ip_to_the_end(spark: Any) -> None:
    df = spark.createDataFrame(
        [
            (1, ("81.2.69.160",), None, {"stale": "x"}, "a"),
            (2, (None,), "81.2.69.160", None, "b"),  # source: the top-level ip
            (3, ("10.2.3.4",), "1.1.1.1", None, "c"),  # ip kept; http.client_ip geocoded
            (4, ("not an ip",), None, None, "d"),
            (5, (None,), None, None, "e"),
            (6, None, None, None, "f"),
        ],
        "k int, http struct<client_ip: string>, IP string, "
        "Geocoded_Data map<string,string>, z string",
    )
    expected = spark.createDataFrame(
        [
            (1, ("81.2.69.160",), "a", GB_GEO, "81.2.69.160"),
            (2, (None,), "b", GB_GEO, "81.2.69.160"),
            (3, ("10.2.3.4",), "c", UNKNOWN_GEO, "1.1.1.1"),
            (4, ("not an ip",), "d", UNKNOWN_GEO, "not an ip"),
            (5, (None,), "e", None, None),
            (6, None, "f", None, None),
        ],
        "k int, http struct<client_ip: string>, z string, geocoded_data map<string,string>, "
        "ip string",
    )
    assert_df_equality(_sorted(T.geocode_ip(df)), expected)


def test_geocode_ip_with_a_missing_database_fails_naming_it(spark: Any, tmp_path: Any) -> None:
    df = spark.createDataFrame([("1.1.1.1",)], "client_ip string")
    ctx = TransformContext(
        "db", "t", {}, options={"geocode_ip.database": str(tmp_path / "City.mmdb")}
    )
    with pytest.raises(ValueError, match=r"City\.mmdb"):
        T.geocode_ip(df, context=ctx)


UA_MAP_DDL = "map<string,string>"
LEGACY_DDL = (
    "struct<browser_family: string, browser_major: string, browser_minor: string, "
    "device_family: string, is_bot: boolean, is_mediawiki: boolean, os_family: string, "
    "os_major: string, os_minor: string, wmf_app_version: string>"
)


UA_KEYS = (
    "browser_family",
    "browser_major",
    "device_family",
    "os_family",
    "os_major",
    "os_minor",
    "wmf_app_version",
)


def _ua_map(*values: str) -> dict[str, str]:
    return dict(zip(UA_KEYS, values, strict=True))


def test_parse_user_agent_builds_the_map_and_the_legacy_struct(spark: Any) -> None:
    kept = ("KeptBrowser", "1", None, "KeptDevice", False, False, "KeptOS", "2", "3", "-")
    df = spark.createDataFrame(
        [
            (1, (CHROME,), None, None),
            (2, (None,), {"user-agent": APP}, None),  # falls back to the header
            (3, (GOOGLEBOT,), {"user-agent": CHROME}, None),  # agent.ua_string wins
            (4, ("curl/7.1 MediaWiki",), None, None),  # device Other + spider regex
            (5, ("x" * 401,), None, None),  # too long: not parsed
            (6, (CHROME,), None, kept),  # an existing value is kept
            (7, (None,), {"accept": "*/*"}, None),  # no user agent: NULL map and struct
        ],
        f"k int, agent struct<ua_string: string>, http map<string,string>, useragent {LEGACY_DDL}",
    ).withColumnRenamed("http", "http_headers")
    # request_headers lives inside http in the real schemas
    df = df.selectExpr(
        "k", "agent", "named_struct('request_headers', http_headers) AS http", "useragent"
    )
    chrome = _ua_map("Chrome", "118", "Other", "Windows", "10", "-", "-")
    app = _ua_map("Android", "13", "Phone", "Android", "13", "-", "7.4.0")
    bot = _ua_map("Googlebot", "2", "Spider", "Other", "-", "-", "-")
    curl = _ua_map("curl", "7", "Other", "Other", "-", "-", "-")
    dash = _ua_map("-", "-", "-", "-", "-", "-", "-")
    expected = spark.createDataFrame(
        [
            (1, (CHROME,), (None,), chrome,
             ("Chrome", "118", None, "Other", False, False, "Windows", "10", "-", "-")),
            (2, (None,), ({"user-agent": APP},), app,
             ("Android", "13", None, "Phone", False, False, "Android", "13", "-", "7.4.0")),
            (3, (GOOGLEBOT,), ({"user-agent": CHROME},), bot,
             ("Googlebot", "2", None, "Spider", True, False, "Other", "-", "-", "-")),
            (4, ("curl/7.1 MediaWiki",), (None,), curl,
             ("curl", "7", None, "Other", True, True, "Other", "-", "-", "-")),
            (5, ("x" * 401,), (None,), dash,
             ("-", "-", None, "-", False, False, "-", "-", "-", "-")),
            (6, (CHROME,), (None,), chrome, kept),
            (7, (None,), ({"accept": "*/*"},), None, None),
        ],
        f"k int, agent struct<ua_string: string>, "
        f"http struct<request_headers: map<string,string>>, user_agent_map {UA_MAP_DDL}, "
        f"useragent {LEGACY_DDL}",
    )  # fmt: skip
    assert_df_equality(_sorted(T.parse_user_agent(df)), expected, ignore_nullable=True)


def test_parse_user_agent_adds_the_legacy_struct_when_the_table_has_one(spark: Any) -> None:
    df = spark.createDataFrame(
        [(1, {"user-agent": CHROME})], "k int, request_headers map<string,string>"
    ).selectExpr("k", "named_struct('request_headers', request_headers) AS http")
    plain = T.parse_user_agent(df)
    assert plain.columns == ["k", "http", "user_agent_map"]
    table = StructType.fromDDL(f"k int, useragent {LEGACY_DDL}")
    ctx = TransformContext("event", "t", {"year": 2024}, table_schema=table)
    legacy = T.parse_user_agent(df, context=ctx)
    assert legacy.columns == ["k", "http", "user_agent_map", "useragent"]
    assert legacy.schema["useragent"].dataType == T.LEGACY_USERAGENT_TYPE
    assert legacy.schema["user_agent_map"].dataType.simpleString() == UA_MAP_DDL


def test_add_is_wmf_domain(spark: Any) -> None:
    df = spark.createDataFrame(
        [
            (1, ("en.wikipedia.org",), "example.org"),
            (2, (None,), "commons.wikimedia.org"),  # COALESCE falls back to webHost
            (3, (None,), None),
            (4, ("translate.goog",), None),
        ],
        "k int, meta struct<domain: string>, webHost string",
    )
    out = T.add_is_wmf_domain(df)
    assert out.schema["is_wmf_domain"].nullable is False
    expected = spark.createDataFrame(
        [
            (1, ("en.wikipedia.org",), "example.org", True),
            (2, (None,), "commons.wikimedia.org", True),
            (3, (None,), None, False),
            (4, ("translate.goog",), None, False),
        ],
        "k int, meta struct<domain: string>, webHost string, is_wmf_domain boolean not null",
    )
    assert_df_equality(_sorted(out), expected)
    none = T.add_is_wmf_domain(spark.createDataFrame([(1,)], "k int"))
    assert none.schema["is_wmf_domain"].dataType == BooleanType()
    assert none.schema["is_wmf_domain"].nullable is True


def test_filter_allowed_domains(spark: Any) -> None:
    ddl = "k int, webhost string"
    rows = [
        (1, "en.wikipedia.org"),
        (2, "translate.googleusercontent.com"),
        (3, "TRANSLATE.GOOGLE.de"),
        (4, "fr-translate_google.example"),  # "." in the regex is any character
        (5, ""),
        (6, None),
        (7, "en.wikipedia.org.evil.com"),
        (8, "translate.goog"),
        (9, "www.translatoruser-int.com"),
        (10, "wikidata.org."),
    ]
    df = spark.createDataFrame(rows, ddl)
    keep = {1, 2, 3, 4, 5, 6, 10}
    expected = spark.createDataFrame([r for r in rows if r[0] in keep], ddl)
    assert_df_equality(_sorted(T.filter_allowed_domains(df)), expected)
    assert T.eventlogging_filter_is_allowed_hostname is T.filter_allowed_domains


def test_add_normalized_host(spark: Any) -> None:
    df = spark.createDataFrame(
        [(1, ("en.m.wikipedia.org",), None), (2, (None,), "www.wikidata.org"), (3, None, None)],
        "k int, meta struct<domain: string>, webHost string",
    )
    nh = "struct<project_class: string, project: string, qualifiers: array<string>, "
    nh += "tld: string, project_family: string>"
    expected = spark.createDataFrame(
        [
            (1, ("en.m.wikipedia.org",), None, ("wikipedia", "en", ["m"], "org", "wikipedia")),
            (2, (None,), "www.wikidata.org", ("wikidata", "-", [], "org", "wikidata")),
            (3, None, None, ("-", "-", [], "-", "-")),
        ],
        f"k int, meta struct<domain: string>, webHost string, normalized_host {nh}",
    )
    assert_df_equality(_sorted(T.add_normalized_host(df)), expected, ignore_nullable=True)
    none = T.add_normalized_host(spark.createDataFrame([(1,)], "k int"))
    assert none.schema["normalized_host"].dataType == NORMALIZED_HOST_TYPE


def test_parse_timestamp_fields(spark: Any) -> None:
    df = spark.createDataFrame(
        [(1, "2024-01-02T03:04:05Z", ("2024-01-02 03:04:05",)), (2, "garbage", None)],
        "k int, dt string, meta struct<DT: string>",
    )
    with pytest.raises(T.TransformConfigError, match=r"timestampfields.*unset"):
        T.parse_timestamp_fields(df)
    empty = TransformContext("db", "t", {}, options={T.TIMESTAMP_FIELDS_KEY: " , "})
    with pytest.raises(T.TransformConfigError, match="found it empty"):
        T.parse_timestamp_fields(df, context=empty)
    bad = TransformContext("db", "t", {}, options={T.TIMESTAMP_FIELDS_KEY: "dt,meta.nope"})
    with pytest.raises(T.TransformConfigError, match=r"meta\.nope"):
        T.parse_timestamp_fields(df, context=bad)
    ctx = TransformContext("db", "t", {}, options={T.TIMESTAMP_FIELDS_KEY: "dt, meta.dt"})
    from datetime import datetime

    expected = spark.createDataFrame(
        [(1, datetime(2024, 1, 2, 3, 4, 5), (datetime(2024, 1, 2, 3, 4, 5),)), (2, None, None)],
        "k int, dt timestamp, meta struct<DT: timestamp>",
    )
    out = T.parse_timestamp_fields(df, context=ctx)
    assert_df_equality(_sorted(out), expected, ignore_nullable=True)
    assert T.parseTimestampFields is T.parse_timestamp_fields


def test_parse_timestamp_fields_reads_the_spark_conf(spark: Any) -> None:
    df = spark.createDataFrame([(1, "2024-01-02T03:04:05Z")], "k int, dt string")
    spark.conf.set(T.TIMESTAMP_FIELDS_KEY, "dt")
    try:
        out = T.parse_timestamp_fields(df)
    finally:
        spark.conf.unset(T.TIMESTAMP_FIELDS_KEY)
    assert out.schema["dt"].dataType.simpleString() == "timestamp"


def test_event_transforms_chain_in_order(spark: Any) -> None:
    df = spark.createDataFrame(
        [
            (1, ("a", "2024-01-01T00:00:00Z", "canary"), ("81.2.69.160", {"user-agent": CHROME})),
            (2, ("b", "2024-01-01T00:00:00Z", "en.wikipedia.org"), ("81.2.69.160", {})),
            (3, ("b", "2024-01-01T00:00:09Z", "de.wikipedia.org"), (None, None)),
        ],
        "k int, meta struct<id: string, dt: string, domain: string>, "
        "http struct<client_ip: string, request_headers: map<string,string>>",
    )
    out = T.event_transforms(df)
    assert out.columns == [
        "k",
        "meta",
        "http",
        "geocoded_data",
        "user_agent_map",
        "is_wmf_domain",
        "normalized_host",
    ]
    rows = out.collect()
    assert [(r.k, r.geocoded_data, r.is_wmf_domain, r.normalized_host.project) for r in rows] == [
        (3, None, True, "de")
    ]


def test_every_transform_name_resolves_through_the_runner() -> None:
    for name, fn in T.TRANSFORMS.items():
        assert getattr(T, name) is fn
        assert resolve_transforms([name]) == [fn]
        assert resolve_transforms([f"org.wikimedia.analytics.refinery.job.refine.{name}"]) == [fn]
    # The import-free name list (option validation, --help) and the registry agree.
    assert set(T.TRANSFORMS) == set(TRANSFORM_NAMES)


def test_normalize_field_names_and_widen_types_is_the_runner_step(spark: Any) -> None:
    df = spark.createDataFrame([(1, (2.0,))], "`Some-Field` int, s struct<`a-b`: float>")
    out = T.normalize_field_names_and_widen_types(df)
    assert out.schema.simpleString() == "struct<some_field:bigint,s:struct<a_b:double>>"


# The columns the reference's transforms add, as Spark types them there: Hive UDF results
# (geocoded_data, user_agent_map, normalized_host) and SQL CASE/named_struct are nullable, with
# nullable map values, array elements and struct fields; is_wmf_domain is a Scala UDF returning
# a primitive Boolean (never NULL) when a domain column exists, a NULL literal otherwise.
_S = StringType()
_UA_FIELDS = (
    *("browser_family", "browser_major", "browser_minor", "device_family", "is_bot"),
    *("is_mediawiki", "os_family", "os_major", "os_minor", "wmf_app_version"),
)
REFERENCE_ADDED = {
    "geocoded_data": StructField("geocoded_data", MapType(_S, _S, True), True),
    "user_agent_map": StructField("user_agent_map", MapType(_S, _S, True), True),
    "useragent": StructField(
        "useragent",
        StructType(
            [StructField(n, BooleanType() if n.startswith("is_") else _S, True) for n in _UA_FIELDS]
        ),
        True,
    ),
    "is_wmf_domain": StructField("is_wmf_domain", BooleanType(), False),
    "normalized_host": StructField(
        "normalized_host",
        StructType(
            [
                StructField("project_class", _S, True),
                StructField("project", _S, True),
                StructField("qualifiers", ArrayType(_S, True), True),
                StructField("tld", _S, True),
                StructField("project_family", _S, True),
            ]
        ),
        True,
    ),
}


def test_added_columns_have_the_reference_types_and_nullability(spark: Any) -> None:
    df = spark.createDataFrame(
        [("en.m.wikipedia.org", "81.2.69.160", "Mozilla/5.0")],
        "webHost string, ip string, ua string",
    ).selectExpr(
        "webHost",
        "ip",
        "named_struct('request_headers', map('user-agent', ua)) AS http",
        "CAST(NULL AS struct<browser_family: string>) AS useragent",
    )
    out = T.event_transforms(df)
    got = {f.name: f for f in out.schema.fields if f.name in REFERENCE_ADDED}
    assert got == REFERENCE_ADDED
    # Without a domain column both domain columns are typed NULLs, nullable.
    bare = T.add_normalized_host(T.add_is_wmf_domain(spark.createDataFrame([(1,)], "k int")))
    fields = {f.name: f for f in bare.schema.fields}
    assert fields["is_wmf_domain"] == StructField("is_wmf_domain", BooleanType(), True)
    assert fields["normalized_host"] == REFERENCE_ADDED["normalized_host"]
