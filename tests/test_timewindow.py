"""Pure tests of since/until parsing, hour windows and Joda patterns (no Spark)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from eljobs.timewindow import (
    TimeWindowError,
    ceil_hour,
    floor_hour,
    format_hour,
    hours_in_window,
    parse_when,
)

NOW = datetime(2024, 3, 22, 19, 42, 10, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2021-03-22", datetime(2021, 3, 22, tzinfo=UTC)),
        ("2021-03-22T19", datetime(2021, 3, 22, 19, tzinfo=UTC)),
        ("2021-03-22T19:00:00Z", datetime(2021, 3, 22, 19, tzinfo=UTC)),
        ("2021-03-22T19:30:00+01:00", datetime(2021, 3, 22, 18, 30, tzinfo=UTC)),
        ("2021-03-22T19:30:00.250", datetime(2021, 3, 22, 19, 30, 0, 250000, tzinfo=UTC)),
        ("26", datetime(2024, 3, 21, 17, 42, 10, tzinfo=UTC)),
        ("0", NOW),
    ],
)
def test_parse_when(text: str, expected: datetime) -> None:
    assert parse_when(text, now=NOW) == expected


@pytest.mark.parametrize("bad", ["yesterday", "2021-13-01", "-3", "2021/03/22"])
def test_parse_when_rejects(bad: str) -> None:
    with pytest.raises(TimeWindowError, match=repr(bad).replace("(", r"\(")):
        parse_when(bad, now=NOW)


def test_hours_window_rounds_since_up_and_until_down() -> None:
    since = datetime(2024, 1, 1, 19, 42, tzinfo=UTC)
    until = datetime(2024, 1, 1, 21, 42, tzinfo=UTC)
    assert hours_in_window(since, until) == [datetime(2024, 1, 1, 20, tzinfo=UTC)]
    assert hours_in_window(since, until, round_since="floor") == [
        datetime(2024, 1, 1, 19, tzinfo=UTC),
        datetime(2024, 1, 1, 20, tzinfo=UTC),
    ]
    on_hour = datetime(2024, 1, 1, 19, tzinfo=UTC)
    assert hours_in_window(on_hour, until)[0] == on_hour
    assert hours_in_window(until, since) == []


def test_floor_and_ceil() -> None:
    t = datetime(2024, 1, 1, 19, 0, 0, 1, tzinfo=UTC)
    assert floor_hour(t) == datetime(2024, 1, 1, 19, tzinfo=UTC)
    assert ceil_hour(t) == datetime(2024, 1, 1, 20, tzinfo=UTC)


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("yyyy/MM/dd/HH", "2024/03/05/07"),
        ("'year='yyyy/'month='M/'day='d/'hour='H", "year=2024/month=3/day=5/hour=7"),
        ("'year='yyyy/'month='MM/'day='dd/'hour='HH", "year=2024/month=03/day=05/hour=07"),
        ("yyyy-MM-dd", "2024-03-05"),
    ],
)
def test_format_hour(pattern: str, expected: str) -> None:
    assert format_hour(pattern, datetime(2024, 3, 5, 7, tzinfo=UTC)) == expected


def test_format_rejects_unquoted_letters() -> None:
    with pytest.raises(TimeWindowError, match="quote literal text"):
        format_hour("year=yyyy", datetime(2024, 3, 5, 7, tzinfo=UTC))
