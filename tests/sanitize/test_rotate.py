"""Salt rotation: periods from 1970-01-01, creation, expiry; in plain Python and through the
JVM's Hadoop FileSystem."""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from eljobs.io.fs import JvmFileSystem, LocalFileSystem, NeedsSparkError
from eljobs.sanitize import SaltError, load_salts
from eljobs.sanitize.rotate import (
    DurationError,
    parse_duration,
    period_bounds,
    rotate_salts,
)


def dt(*a: int) -> datetime:
    return datetime(*a, tzinfo=UTC)  # type: ignore[misc]


@pytest.mark.parametrize(
    ("now", "period", "bounds"),
    [
        (dt(2024, 2, 10, 5), "3 months", (dt(2024, 1, 1), dt(2024, 4, 1))),
        (dt(2024, 4, 1), "3 months", (dt(2024, 4, 1), dt(2024, 7, 1))),
        (dt(2024, 3, 31, 23, 59), "3 months", (dt(2024, 1, 1), dt(2024, 4, 1))),
        (dt(2024, 12, 31), "3 months", (dt(2024, 10, 1), dt(2025, 1, 1))),
        (dt(2024, 2, 10, 5, 30), "1 hours", (dt(2024, 2, 10, 5), dt(2024, 2, 10, 6))),
        (dt(1970, 1, 3), "2 days", (dt(1970, 1, 3), dt(1970, 1, 5))),
        (dt(2024, 6, 1), "1 year", (dt(2024, 1, 1), dt(2025, 1, 1))),
        (dt(1970, 1, 9), "1 week", (dt(1970, 1, 8), dt(1970, 1, 15))),
    ],
)
def test_period_bounds(now: datetime, period: str, bounds: tuple[datetime, datetime]) -> None:
    assert period_bounds(now, parse_duration(period)) == bounds


@pytest.mark.parametrize("text", ["3", "months", "0 days", "3 fortnights", "-1 days", ""])
def test_bad_durations(text: str) -> None:
    with pytest.raises(DurationError, match="expected '<N> <unit>'"):
        parse_duration(text, option="period")


def test_rotation_creates_keeps_and_deletes(tmp_path: Path) -> None:
    d = tmp_path / "salts"
    r1 = rotate_salts(str(d), period="3 months", retention="50 days", now=dt(2024, 2, 10, 5))
    assert r1.created == ["2024010100_2024040100_2024052100"] and r1.deleted == []
    f = d / r1.created[0]
    value = f.read_text()
    assert re.fullmatch(r"[0-9a-f]{64}", value)  # no newline
    assert oct(os.stat(f).st_mode & 0o777) == "0o600"
    # Same period: nothing new, the salt is kept unchanged.
    r2 = rotate_salts(str(d), period="3 months", retention="50 days", now=dt(2024, 3, 31, 23))
    assert r2.created == [] and r2.kept == [r1.created[0]]
    # Next quarter: a new salt; the old one survives until its deletion time...
    r3 = rotate_salts(str(d), period="3 months", retention="50 days", now=dt(2024, 5, 20, 23))
    assert r3.created == ["2024040100_2024070100_2024082000"] and r3.deleted == []
    salts = load_salts(str(d))
    assert [s.value == value for s in salts] == [True, False]
    # ... and is deleted once now >= deletion.
    r4 = rotate_salts(str(d), period="3 months", retention="50 days", now=dt(2024, 5, 21))
    assert r4.deleted == ["2024010100_2024040100_2024052100"] and r4.created == []
    assert sorted(os.listdir(d)) == ["2024040100_2024070100_2024082000"]


def test_dry_run_changes_nothing(tmp_path: Path) -> None:
    r = rotate_salts(str(tmp_path), period="1 days", retention="2 days", now=dt(2024, 1, 1, 3),
                     dry_run=True)  # fmt: skip
    assert r.created == ["2024010100_2024010200_2024010400"]
    assert os.listdir(tmp_path) == []


def test_foreign_file_stops_rotation(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(SaltError, match=r"notes\.txt"):
        rotate_salts(str(tmp_path), period="3 months", retention="50 days", now=dt(2024, 1, 1))
    assert os.listdir(tmp_path) == ["notes.txt"]


def test_without_spark_only_local_directories_are_reached() -> None:
    with pytest.raises(NeedsSparkError, match="needs a Spark session"):
        rotate_salts("hdfs://nn/salts", period="3 months", retention="50 days", now=dt(2024, 1, 1),
                     fs=LocalFileSystem("file:///"))  # fmt: skip


def test_rotation_through_hadoop(spark: Any, tmp_path: Path) -> None:
    # The JVM layer (the one used for hdfs:// and for bare paths on a cluster) on file:
    d = tmp_path / "salts"
    fs = JvmFileSystem(spark)
    r = rotate_salts(f"file://{d}", period="3 months", retention="50 days",
                     now=dt(2024, 2, 10, 5), fs=fs)  # fmt: skip
    assert r.created == ["2024010100_2024040100_2024052100"]
    assert os.listdir(d) == r.created
    assert oct(os.stat(d / r.created[0]).st_mode & 0o777) == "0o600"
    assert [s.name for s in load_salts(f"file://{d}", fs=fs)] == r.created


def test_initial_salt_of_a_new_directory_covers_older_data(tmp_path: Path) -> None:
    d = tmp_path / "new"
    r = rotate_salts(str(d), period="3 months", retention="50 days", now=dt(2024, 2, 10),
                     initial=True)  # fmt: skip
    assert r.created == ["1970010100_2024040100_2024052100"]
    (salt,) = load_salts(str(d))
    # A partition from before the directory existed finds it (the delayed pass, a backfill).
    assert salt.covers(dt(2023, 11, 1), dt(2023, 12, 1))
    # The daily rotation then sees the current period as covered, and moves on next quarter.
    again = rotate_salts(str(d), period="3 months", retention="50 days", now=dt(2024, 3, 1))
    assert again.created == [] and again.kept == r.created
    later = rotate_salts(str(d), period="3 months", retention="50 days", now=dt(2024, 4, 1))
    assert later.created == ["2024040100_2024070100_2024082000"]
    with pytest.raises(SaltError, match=r"--initial .* already holds 2 salt file\(s\)"):
        rotate_salts(str(d), period="3 months", retention="50 days", now=dt(2024, 4, 2),
                     initial=True)  # fmt: skip


def test_one_off_salt_never_expires_and_is_never_deleted(tmp_path: Path) -> None:
    r = rotate_salts(str(tmp_path), period="none", retention="50 days", now=dt(2024, 2, 10, 5, 30))
    assert r.created == ["2024021005__"]
    (salt,) = load_salts(str(tmp_path))
    assert salt.covers(dt(2024, 2, 10, 5), dt(2999, 1, 1))
    # Years later it is still the one salt: nothing created, nothing deleted.
    r2 = rotate_salts(str(tmp_path), period=None, retention=None, now=dt(2040, 1, 1))
    assert (r2.created, r2.deleted, r2.kept) == ([], [], ["2024021005__"])
    initial = rotate_salts(str(tmp_path / "i"), period=None, retention=None, now=dt(2024, 1, 1),
                           initial=True)  # fmt: skip
    assert initial.created == ["1970010100__"]


def test_without_retention_salts_are_kept_for_ever(tmp_path: Path) -> None:
    r1 = rotate_salts(str(tmp_path), period="1 days", retention="none", now=dt(2024, 1, 1, 3))
    assert r1.created == ["2024010100_2024010200_"]
    r2 = rotate_salts(str(tmp_path), period="1 days", retention=None, now=dt(2025, 1, 1))
    assert r2.deleted == [] and r2.kept == ["2024010100_2024010200_"]
    assert r2.created == ["2025010100_2025010200_"]
    assert [s.name for s in load_salts(str(tmp_path))] == [*r2.kept, *r2.created]
