"""Column helpers: WMF-host test, host normalization and spider test, input and expected side by
side (one Spark action per helper)."""

from __future__ import annotations

from typing import Any

from chispa import assert_column_equality
from pyspark.sql import functions as F

from eljobs.columns import (
    WMF_DOMAINS,
    field,
    is_spider,
    is_wmf_hostname,
    normalized_host,
)


def test_is_wmf_hostname(spark: Any) -> None:
    rows = [
        ("en.wikipedia.org", True),
        ("EN.M.WIKIPEDIA.ORG", True),
        ("wikidata.org", True),
        ("www.wikidata.org...", True),  # trailing dots stripped
        ("wikifunctions.org", True),
        ("toolforge.org", True),
        ("en-wiki.org", False),
        ("en.wikipedia.nom.it", False),
        ("en.wikipedi0.org", False),
        ("wikipedia.org.evil.com", False),
        ("en.wikipedia.org:443", False),  # no port handling in the reference test
        ("org", False),
        ("a..org", False),
        ("", False),
        (None, False),  # NULL is not a WMF host (never NULL out)
        ("x" * 786 + ".wikipedia.org", True),  # 800 characters
        ("x" * 787 + ".wikipedia.org", False),  # 801 characters
    ]
    df = spark.createDataFrame(rows, "host string, expected boolean")
    out = df.withColumn("got", is_wmf_hostname(F.col("host")))
    assert out.schema["got"].nullable is False
    assert_column_equality(out, "got", "expected")
    assert len(WMF_DOMAINS) == 18


def test_normalized_host(spark: Any) -> None:
    unknown = ("-", "-", [], "-", "-")
    rows = [
        ("en.m.wikipedia.org", ("wikipedia", "en", ["m"], "org", "wikipedia")),
        ("EN.Wikipedia.ORG", ("wikipedia", "en", [], "org", "wikipedia")),
        ("www.wikipedia.org", ("wikipedia", "-", [], "org", "wikipedia")),
        ("www.en.wikipedia.org", ("wikipedia", "-", ["en"], "org", "wikipedia")),
        ("m.wikidata.org", ("wikidata", "-", ["m"], "org", "wikidata")),
        ("en.zero.m.wikipedia.org", ("wikipedia", "en", ["zero", "m"], "org", "wikipedia")),
        ("commons.wikimedia.org:8080", ("wikimedia", "commons", [], "org", "wikimedia")),
        ("en..m//wikipedia.org.", ("wikipedia", "en", ["m"], "org", "wikipedia")),
        ("wikipedia.org", ("wikipedia", "-", [], "org", "wikipedia")),
        ("localhost", unknown),
        ("127.0.0.1", unknown),  # numeric last label: an IP address
        ("10.0.0.1:80", unknown),
        ("", unknown),
        ("   ", unknown),
        ("\t\n", unknown),  # blank as Java's trim() sees it
        (None, unknown),
    ]
    ddl = (
        "host string, expected struct<project_class: string, project: string, "
        "qualifiers: array<string>, tld: string, project_family: string>"
    )
    df = spark.createDataFrame(rows, ddl)
    out = df.withColumn("got", normalized_host(F.col("host")))
    assert_column_equality(out, "got", "expected")


def test_is_spider(spark: Any) -> None:
    rows = [
        ("Googlebot/2.1 (+http://www.google.com/bot.html)", True),
        ("curl/7.68.0", True),
        ("CURL/7.68.0", True),  # case-insensitive, as the reference's pattern
        ("Mozilla/5.0 compatible; SomeSpider", True),
        ("MediaWiki/1.41 (https://example.org)", True),
        ("someone@example.org my-tool/1.0", True),  # an e-mail address first
        ("my-tool/1.0 (someone@example.org)", False),  # ... counts only at the start
        ("-", True),
        ("Mozilla/5.0 (X11; Linux x86_64; rv:109.0) Gecko/20100101 Firefox/118.0", False),
        ("Mozilla/5.0 (iPhone; CPU iPhone OS 16_6 like Mac OS X) Mobile/15E148", False),
        ("I use curl/7", False),  # tool names count only at the start
        ("", False),
        (None, None),
    ]
    df = spark.createDataFrame(rows, "ua string, expected boolean")
    assert_column_equality(df.withColumn("got", is_spider(F.col("ua"))), "got", "expected")


def test_field_builds_nested_columns_from_literal_parts() -> None:
    assert str(field(("meta", "domain"))) == str(F.col("meta").getField("domain"))
    assert "`a.b`" in str(field(("a.b",)))
