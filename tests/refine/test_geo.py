"""MaxMind City lookups for geocode_ip (no Spark), on the real GeoLite2 City database."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from pyspark.sql import functions as F

from eljobs.refine import geo


@pytest.fixture(scope="module")
def db() -> str:
    return geo.resolve_database_path(geo.BUNDLED)


def test_bundled_database_is_the_packaged_geolite2_city_and_says_it_is_for_tests(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level("WARNING", logger="eljobs.refine.geo"):
        db = geo.resolve_database_path(options={"geocode_ip.database": "bundled"})
    assert Path(db).name == "GeoLite2-City.mmdb"
    assert Path(db).stat().st_size > 10_000_000
    assert (
        "for the demo and tests only" in caplog.text and "option geocode_ip.database" in caplog.text
    )
    assert geo.describe_database(db) == "GeoLite2-City built 2018-07-03"


def test_without_a_setting_the_production_database_is_required(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from eljobs.refine.options import RefineConfig

    monkeypatch.delenv(geo.DATABASE_ENV, raising=False)
    assert geo.PRODUCTION_DATABASE == "/usr/share/GeoIP/GeoIP2-City.mmdb"
    field = RefineConfig.__dataclass_fields__["geocode_database"]
    assert field.default == geo.PRODUCTION_DATABASE
    if Path(geo.PRODUCTION_DATABASE).is_file():
        pytest.skip("this machine has the production database")
    # Never a silent fallback to the bundled GeoLite2: the error names the path and its source.
    with pytest.raises(
        geo.GeocodeDatabaseError,
        match=r"'/usr/share/GeoIP/GeoIP2-City\.mmdb' \(from the production default\); found no",
    ):
        geo.resolve_database_path()


def test_public_ipv4_and_ipv6_get_english_names_and_codes(db: str) -> None:
    assert geo.lookup("81.2.69.160", db) == (
        "Europe",
        "GB",
        "United Kingdom",
        "England",
        "ENG",
        "Willesden",
        "Europe/London",
    )
    assert geo.lookup(" 2001:4860:4860::8888 ", db) == (
        "North America",
        "US",
        "United States",
        "California",
        "CA",
        "Mountain View",
        "America/Los_Angeles",
    )


def test_missing_parts_are_unknown_and_codes_double_dash(db: str) -> None:
    # Country-level only in this database: no subdivision, city or time zone.
    assert geo.lookup("8.8.8.8", db) == (
        "North America",
        "US",
        "United States",
        "Unknown",
        "--",
        "Unknown",
        "Unknown",
    )


@pytest.mark.parametrize(
    "ip",
    [
        "10.64.0.1",  # internal 10/8
        "91.198.174.192",  # Wikimedia esams, present in the database but never geocoded
        "208.80.154.224",
        "2620:0:861:ed1a::1",
        "2a02:ec80:300::1",
        "192.168.1.1",  # private: not in the database
        "127.0.0.1",
        "not-an-ip",  # unparsable: no DNS lookup, just unknown
        "en.wikipedia.org",
        "",
        "999.1.1.1",
    ],
)
def test_internal_private_and_unparsable_addresses_are_unknown(db: str, ip: str) -> None:
    assert geo.lookup(ip, db) == geo.UNKNOWN_GEO


def test_wikimedia_range_is_excluded_although_the_database_knows_it(db: str) -> None:
    import maxminddb

    with maxminddb.open_database(db) as reader:
        assert reader.get("91.198.174.192") is not None
    assert geo.is_wikimedia_ip(geo.parse_ip("91.198.174.192"))  # type: ignore[arg-type]
    assert not geo.is_wikimedia_ip(geo.parse_ip("81.2.69.160"))  # type: ignore[arg-type]


def test_geocode_batch_keeps_nulls_and_looks_each_distinct_ip_up_once(db: str) -> None:
    geo.lookup.cache_clear()
    ips = pa.array(["81.2.69.160", None, "bogus", "81.2.69.160", "81.2.69.160"])
    got = geo.geocode_batch(ips, db).to_pylist()
    gb = dict(zip(geo.GEO_KEYS, geo.lookup("81.2.69.160", db), strict=True))
    unknown = dict(zip(geo.GEO_KEYS, geo.UNKNOWN_GEO, strict=True))
    assert got == [gb, None, unknown, gb, gb]
    assert gb["country_code"] == "GB"
    info = geo.lookup.cache_info()
    assert info.misses == 2  # "81.2.69.160" and "bogus", once each


def test_database_path_from_options_env_and_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, db: str
) -> None:
    assert geo.resolve_database_path(options={"geocode_ip.database": db}) == db
    assert geo.resolve_database_path(options={"maxmind.database.city": f"file://{db}"}) == db
    monkeypatch.setenv(geo.DATABASE_ENV, db)
    assert geo.resolve_database_path() == db
    missing = str(tmp_path / "nope.mmdb")
    with pytest.raises(geo.GeocodeDatabaseError, match=r"nope\.mmdb.*option geocode_ip\.database"):
        geo.resolve_database_path(options={"geocode_ip.database": missing})
    monkeypatch.setenv(geo.DATABASE_ENV, missing)
    with pytest.raises(geo.GeocodeDatabaseError, match=r"ELJOBS_MAXMIND_CITY_DB"):
        geo.resolve_database_path()


def test_a_database_off_the_local_disk_is_shipped_to_the_workers(
    spark: Any, tmp_path: Path, db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the path an hdfs:// database takes (Spark's addFile), shown with a file: URI
    monkeypatch.setattr(geo, "_SHIPPED", set())
    shipped_name = "shipped-city.mmdb"
    (tmp_path / shipped_name).write_bytes(Path(db).read_bytes())
    path = geo.ship_database(f"file://{tmp_path}/{shipped_name}")
    assert path == f"sparkfiles:{shipped_name}"
    assert geo.describe_database(path).startswith("GeoLite2-City built ")
    got = (
        spark.createDataFrame([("81.2.69.160",)], "ip string")
        .select(geo.geocode_struct(F.col("ip"), path).getField("country_code").alias("cc"))
        .collect()
    )
    assert got[0]["cc"] == "GB"
    with pytest.raises(geo.GeocodeDatabaseError, match=r"none\.mmdb"):
        geo.ship_database(f"file://{tmp_path}/none.mmdb")
