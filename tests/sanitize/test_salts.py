"""Salt files, partition windows and salt selection at the window edges.
Pure Python, no Spark."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from eljobs.sanitize import PartitionWindowError, Salt, SaltError, load_salts
from eljobs.sanitize.salts import (
    NEVER,
    missing_salt_reason,
    parse_salt_name,
    partition_window,
    select_salt,
)


def dt(*a: int) -> datetime:
    return datetime(*a, tzinfo=UTC)  # type: ignore[misc]


def test_salt_naive_is_utc_and_value_hidden() -> None:
    s = Salt(datetime(2024, 1, 1), datetime(2024, 4, 1), "secretvalue")
    assert s.start == dt(2024, 1, 1) and s.end == dt(2024, 4, 1)
    assert "secretvalue" not in repr(s) and "secretvalue" not in str(s)
    with pytest.raises(SaltError):
        Salt(datetime(2024, 1, 1), datetime(2024, 4, 1), "")


def test_load_salts_in_name_order(tmp_path: Path) -> None:
    (tmp_path / "2024040100_2024070100_2024082000").write_text("bbb")
    (tmp_path / "2024010100_2024040100_2024052000").write_text("aa\na\n")
    (tmp_path / ".2024010100_2024040100_2024052000.crc").write_text("x")
    salts = load_salts(str(tmp_path))
    assert [s.name for s in salts] == [
        "2024010100_2024040100_2024052000",
        "2024040100_2024070100_2024082000",
    ]
    assert salts[0].value == "aaa"  # lines concatenated without separators
    assert (salts[0].start, salts[0].end) == (dt(2024, 1, 1), dt(2024, 4, 1))
    assert load_salts(f"file://{tmp_path}")[1].value == "bbb"


@pytest.mark.parametrize("name", ["2018010100__", "2018010100_", "2018010100__2019010100"])
def test_empty_end_means_never_expires(name: str) -> None:
    start, end, _ = parse_salt_name(name)
    assert start == dt(2018, 1, 1) and end == NEVER


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("README.md", "expected a name <start>_<end>_<deletion>"),
        ("notes_2024", "expected a yyyyMMddHH timestamp, found 'notes'"),
        ("2024010100_2024013200_2024052000", "invalid timestamp '2024013200'"),
        ("2024010100_2023010100_2024052000", "is not after start"),
        ("2024010100_2024040100_2024052000_x", "found 4 part(s)"),
    ],
)
def test_foreign_or_malformed_files_name_the_file(tmp_path: Path, name: str, fragment: str) -> None:
    (tmp_path / name).write_text("s" * 64)
    with pytest.raises(SaltError) as e:
        load_salts(str(tmp_path))
    assert name in str(e.value) and fragment in str(e.value)
    assert "s" * 64 not in str(e.value)


def test_empty_salt_file_and_missing_dir(tmp_path: Path) -> None:
    (tmp_path / "2024010100_2024040100_2024052000").write_text("")
    with pytest.raises(SaltError, match="is empty"):
        load_salts(str(tmp_path))
    with pytest.raises(SaltError, match="cannot list salts_path"):
        load_salts(str(tmp_path / "nope"))


@pytest.mark.parametrize(
    ("partition", "window"),
    [
        ({"year": 2024}, (dt(2024, 1, 1), dt(2025, 1, 1))),
        ({"year": "2024", "month": "02"}, (dt(2024, 2, 1), dt(2024, 3, 1))),
        ({"year": 2024, "month": 12}, (dt(2024, 12, 1), dt(2025, 1, 1))),
        ({"year": 2024, "month": 2, "day": 29}, (dt(2024, 2, 29), dt(2024, 3, 1))),
        ({"datacenter": "eqiad", "year": 2024, "month": 3, "day": 31, "hour": 23},
         (dt(2024, 3, 31, 23), dt(2024, 4, 1, 0))),
        ({"year": 2024, "day": 5, "hour": 3}, (dt(2024, 1, 1), dt(2025, 1, 1))),
    ],
)  # fmt: skip
def test_partition_window(partition: dict, window: tuple) -> None:  # type: ignore[type-arg]
    assert partition_window(partition) == window


def test_partition_without_year_fails() -> None:
    with pytest.raises(PartitionWindowError, match="has no 'year' key") as e:
        partition_window({"datacenter": "eqiad", "month": 1})
    assert isinstance(e.value, ValueError)
    with pytest.raises(PartitionWindowError, match="must be a whole number"):
        partition_window({"year": "twenty"})
    with pytest.raises(PartitionWindowError, match="not a valid date"):
        partition_window({"year": 2024, "month": 13})


Q1 = Salt(dt(2024, 1, 1), dt(2024, 4, 1), "q1", name="q1")
Q2 = Salt(dt(2024, 4, 1), dt(2024, 7, 1), "q2", name="q2")
Y = Salt(dt(2023, 1, 1), dt(2025, 1, 1), "y", name="y")


@pytest.mark.parametrize(
    ("salts", "partition", "expected"),
    [
        # hour partitions at the exact edges of the salt span
        ([Q1, Q2], {"year": 2024, "month": 1, "day": 1, "hour": 0}, "q1"),
        ([Q1, Q2], {"year": 2024, "month": 3, "day": 31, "hour": 23}, "q1"),  # end == salt end
        ([Q1, Q2], {"year": 2024, "month": 4, "day": 1, "hour": 0}, "q2"),
        ([Q1, Q2], {"year": 2023, "month": 12, "day": 31, "hour": 23}, None),
        # day partitions
        ([Q1, Q2], {"year": 2024, "month": 3, "day": 31}, "q1"),
        ([Q1, Q2], {"year": 2024, "month": 4, "day": 1}, "q2"),
        # month partitions
        ([Q1, Q2], {"year": 2024, "month": 3}, "q1"),
        ([Q1, Q2], {"year": 2024, "month": 7}, None),
        # year partitions: a quarter salt does not cover a year; a two-year one does
        ([Q1, Q2], {"year": 2024}, None),
        ([Q1, Q2, Y], {"year": 2024}, "y"),
        ([Y], {"year": 2025}, None),
        # first match in the given (name) order wins
        ([Y, Q1], {"year": 2024, "month": 2}, "y"),
        ([Q1, Y], {"year": 2024, "month": 2}, "q1"),
    ],
)
def test_select_salt_at_window_edges(
    salts: list[Salt],
    partition: dict,
    expected: str | None,  # type: ignore[type-arg]
) -> None:
    chosen = select_salt(salts, partition)
    assert (chosen.value if chosen else None) == expected


def test_select_salt_needs_year_even_without_salts() -> None:
    with pytest.raises(PartitionWindowError):
        select_salt([], {"hour": 1})


def test_missing_salt_reason_names_the_window_and_the_spans_only() -> None:
    # No salt loaded: nothing to add to the reference's "Salt must be defined".
    assert missing_salt_reason([], {"year": 2024, "month": 8}) is None
    # A salt covers the window: no reason either.
    assert missing_salt_reason([Q1, Q2], {"year": 2024, "month": 5}) is None
    reason = missing_salt_reason([Q1, Q2], {"year": 2024, "month": 8, "day": 2, "hour": 5})
    assert reason == (
        "No salt covers the partition window [2024-08-02T05:00:00Z, 2024-08-02T06:00:00Z): the "
        "2 salts loaded cover 2024-01-01T00:00:00Z..2024-04-01T00:00:00Z (q1), "
        "2024-04-01T00:00:00Z..2024-07-01T00:00:00Z (q2)"
    )
    # The salt values ("q1", "q2") appear only as the file names given; an unnamed salt's
    # value never does.
    secret = Salt(dt(2024, 1, 1), dt(2024, 2, 1), "the-secret-value")
    assert "the-secret-value" not in (missing_salt_reason([secret], {"year": 2025}) or "")
