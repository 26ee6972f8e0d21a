"""Raw hourly partition reader: listing, format detection, round trips written by Spark,
missing hours and unreadable files."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from eljobs.errors import InputError
from eljobs.io.raw import (
    alternate_padding,
    detect_format,
    hour_label,
    list_raw_input,
    naming_bad_input,
    read_raw,
)

H3 = datetime(2024, 1, 5, 3, tzinfo=UTC)

# Realistic lines: TABs between the varnishkafka fields, spaces inside the user agent, a
# non-ASCII character, and lengths that differ (a reader reusing its buffers would show it).
LINES = [
    "?%7B%22event%22%3A%7B%7D%7D;\tcp3030.esams.wmnet\t1\t2024-01-05T03:00:01\t1.2.3.4"
    '\t"Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0"',
    '?x;\tcp1\t2\t2024-01-05T03:00:02\t-\t"curl/8"',
    "short",
    "tab\tinside\tand\t\ttwo tabs, ünïcode",
    "",
    "a" * 3000,
]


def test_detect_format_by_magic_bytes() -> None:
    assert detect_format(b"SEQ\x06") == ("sequence", None)
    assert detect_format(b"\x1f\x8b\x08\x00") == ("text", "gzip")
    assert detect_format(b"BZh9") == ("text", "bzip2")
    assert detect_format(b"1234") == ("text", None)
    assert detect_format(b"") == ("text", None)


def test_alternate_padding_switches_fields_not_literals() -> None:
    assert alternate_padding("yyyy/MM/dd/HH") == "yyyy/M/d/H"
    assert (
        alternate_padding("'year='yyyy/'month='M/'day='d/'hour='H")
        == "'year='yyyy/'month='MM/'day='dd/'hour='HH"
    )
    assert alternate_padding("yyyy") is None


def test_hour_label() -> None:
    assert hour_label(H3) == "2024-01-05T03:00Z"


def _save_sequence(spark: Any, path: Path, lines: list[str], codec: str | None = None) -> None:
    pairs = [(1000 + i, line) for i, line in enumerate(lines)]
    spark.sparkContext.parallelize(pairs, 2).saveAsSequenceFile(str(path), codec)


def _save_text(spark: Any, path: Path, lines: list[str], codec: str | None = None) -> None:
    keyed = [f"{1000 + i}\t{line}" for i, line in enumerate(lines)]
    spark.sparkContext.parallelize(keyed, 1).saveAsTextFile(str(path), codec)


def test_round_trips_missing_hour_and_auto_detection(spark: Any, tmp_path: Path) -> None:
    base = tmp_path / "raw"
    _save_sequence(spark, base / "2024/01/05/03", LINES, "org.apache.hadoop.io.compress.GzipCodec")
    # 04 is missing; 05 is gzip text as `hdfs dfs -text | gzip` would have saved it.
    _save_text(spark, base / "2024/01/05/05", LINES, "org.apache.hadoop.io.compress.GzipCodec")
    (base / "2024/01/05/06").mkdir(parents=True)  # exists, no data

    hours = list_raw_input(
        spark,
        str(base),
        since=datetime(2024, 1, 5, 2, 30),
        until=datetime(2024, 1, 5, 7, 0),
    )
    assert [(hour_label(h.hour), h.status) for h in hours] == [
        ("2024-01-05T03:00Z", "ok"),
        ("2024-01-05T04:00Z", "missing"),
        ("2024-01-05T05:00Z", "ok"),
        ("2024-01-05T06:00Z", "empty"),
    ]
    assert {f.format for f in hours[0].files} == {"sequence"}
    assert {(f.format, f.compression) for f in hours[2].files} == {("text", "gzip")}
    assert hours[1].directory.endswith("2024/01/05/04")

    rows = read_raw(spark, hours).collect()
    by_hour: dict[str, list[str]] = {}
    for r in rows:
        by_hour.setdefault(r.hour, []).append(r.raw)
        assert r.file.startswith("file:") and "/2024/01/05/0" in r.file
    # Every line back, exactly, TABs kept (only the key up to the first TAB is gone).
    assert sorted(by_hour["2024-01-05T03:00Z"]) == sorted(LINES)
    assert sorted(by_hour["2024-01-05T05:00Z"]) == sorted(LINES)
    assert set(by_hour) == {"2024-01-05T03:00Z", "2024-01-05T05:00Z"}


def test_hive_layout_unpadded_and_lines_format(spark: Any, tmp_path: Path) -> None:
    base = tmp_path / "hive"
    d = base / "year=2024/month=1/day=5/hour=3"
    d.mkdir(parents=True)
    (d / "part-0.txt").write_text("line one\tx\n\nline three\n", encoding="utf-8")
    (d / "_SUCCESS").write_text("")
    hours = list_raw_input(
        spark,
        f"file://{base}",
        since=H3,
        until=datetime(2024, 1, 5, 4, tzinfo=UTC),
        datetime_format="'year='yyyy/'month='MM/'day='dd/'hour='HH",
        input_format="lines",
    )
    assert [h.status for h in hours] == ["ok"]
    assert [f.path.rsplit("/", 1)[1] for f in hours[0].files] == ["part-0.txt"]
    raws = sorted(r.raw for r in read_raw(spark, hours).collect())
    # `lines` has no key: the TAB stays, and the empty line is a line (a processor error later).
    assert raws == ["", "line one\tx", "line three"]


def test_compressed_text_without_codec_extension_is_refused(spark: Any, tmp_path: Path) -> None:
    d = tmp_path / "raw/2024/01/05/03"
    d.mkdir(parents=True)
    (d / "part-0").write_bytes(gzip.compress(b"1\tline\n"))
    with pytest.raises(InputError, match=r"part-0: the content is gzip-compressed"):
        list_raw_input(
            spark, str(tmp_path / "raw"), since=H3, until=datetime(2024, 1, 5, 4, tzinfo=UTC)
        )


def test_sequencefile_given_as_text_is_refused(spark: Any, tmp_path: Path) -> None:
    d = tmp_path / "raw/2024/01/05/03"
    d.mkdir(parents=True)
    (d / "part-0").write_bytes(b"SEQ\x06garbage")
    with pytest.raises(InputError, match=r"part-0: --input_format text was given"):
        list_raw_input(
            spark,
            str(tmp_path / "raw"),
            since=H3,
            until=datetime(2024, 1, 5, 4, tzinfo=UTC),
            input_format="text",
        )


def test_corrupt_file_fails_naming_the_file(spark: Any, tmp_path: Path) -> None:
    base = tmp_path / "raw"
    _save_sequence(spark, base / "2024/01/05/03", LINES[:2])
    bad = base / "2024/01/05/03/part-99999"
    bad.write_bytes(b"SEQ\x06\x19org.apache.hadoop.io.Text" + b"\x00\xff" * 20)
    hours = list_raw_input(spark, str(base), since=H3, until=datetime(2024, 1, 5, 4, tzinfo=UTC))
    assert {f.format for f in hours[0].files} == {"sequence"}
    with pytest.raises(InputError) as err, naming_bad_input(spark, hours):
        read_raw(spark, hours).count()
    msg = str(err.value)
    assert "part-99999" in msg and "format sequence" in msg and "2024-01-05T03:00Z" in msg


def test_auto_tells_keyed_text_from_raw_lines(spark: Any, tmp_path: Path) -> None:
    d = tmp_path / "raw/2024/01/05/03"
    d.mkdir(parents=True)
    (d / "keyed.txt").write_text("17\t?q;\tcp1\n")
    (d / "lines.txt").write_text("?q;\tcp1\n")
    (d / "lines.gz").write_bytes(gzip.compress(b"?q;\tcp2\n"))
    hours = list_raw_input(
        spark, str(tmp_path / "raw"), since=H3, until=datetime(2024, 1, 5, 4, tzinfo=UTC)
    )
    formats = {f.path.rsplit("/", 1)[1]: f.format for f in hours[0].files}
    assert formats == {"keyed.txt": "text", "lines.txt": "lines", "lines.gz": "lines"}
    assert sorted(r.raw for r in read_raw(spark, hours).collect()) == [
        "?q;\tcp1",
        "?q;\tcp1",
        "?q;\tcp2",
    ]
