"""Target discovery helpers: regex matching, names, partition paths and specs, hour windows.
No Spark."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from eljobs.io.fs import LocalFileSystem
from eljobs.refine.targets import (
    DiscoveryScope,
    RefineTarget,
    TargetDiscoveryError,
    candidate_paths,
    db_hour_bounds,
    discover_fs_targets,
    match_candidate,
    parse_hive_partition_path,
    partition_hour,
    partition_path,
    partition_spec,
    partition_values,
    table_collisions,
    table_passes,
)
from eljobs.timewindow import hours_in_window

EVENT_REGEX = re.compile(
    r"/wmf/data/raw/event/(eqiad|codfw)\.(.+)/year=(\d+)/month=(\d+)/day=(\d+)/hour=(\d+)"
)
EVENT_GROUPS = ("datacenter", "table", "year", "month", "day", "hour")


def test_fs_hours_are_ceil_since_to_floor_until():
    since = datetime(2021, 3, 22, 19, 42, tzinfo=UTC)
    until = datetime(2021, 3, 22, 21, 42, tzinfo=UTC)
    assert hours_in_window(since, until) == [datetime(2021, 3, 22, 20, tzinfo=UTC)]
    on_hour = datetime(2021, 3, 22, 19, tzinfo=UTC)
    assert hours_in_window(on_hour, until)[0] == on_hour


def test_candidates_are_deduplicated_for_daily_formats():
    hours = [datetime(2024, 1, 5, h, tzinfo=UTC) for h in (22, 23)] + [
        datetime(2024, 1, 6, 0, tzinfo=UTC)
    ]
    got = candidate_paths(["hdfs://nn/raw/a/", "hdfs://nn/raw/b"], hours, "yyyy/MM/dd")
    assert got == [
        "hdfs://nn/raw/a/2024/01/05",
        "hdfs://nn/raw/a/2024/01/06",
        "hdfs://nn/raw/b/2024/01/05",
        "hdfs://nn/raw/b/2024/01/06",
    ]


def test_regex_is_searched_in_the_fully_qualified_path():
    path = "hdfs://analytics/wmf/data/raw/event/eqiad.mediawiki.page-create/year=2021/month=03/day=22/hour=09"
    table, partition = match_candidate(path, EVENT_REGEX, EVENT_GROUPS)  # type: ignore[misc]
    assert table == "mediawiki_page_create"
    assert partition == (
        ("datacenter", "eqiad"), ("year", "2021"), ("month", "03"), ("day", "22"), ("hour", "09"),
    )  # fmt: skip
    assert match_candidate("/other/eqiad.x/year=1", EVENT_REGEX, EVENT_GROUPS) is None


def test_partition_path_and_spec():
    p = (("datacenter", "eqiad"), ("year", "2021"), ("month", "03"), ("day", "22"), ("hour", "00"))
    assert partition_path(p) == "datacenter=eqiad/year=2021/month=3/day=22/hour=0"
    assert partition_spec(p) == '`datacenter`="eqiad",`year`=2021,`month`=3,`day`=22,`hour`=0'
    assert partition_values(p) == {
        "datacenter": "eqiad", "year": 2021, "month": 3, "day": 22, "hour": 0,
    }  # fmt: skip


@pytest.mark.parametrize(
    ("pairs", "expected"),
    [
        ((("year", "2021"), ("month", "03"), ("day", "22"), ("hour", "19")),
         datetime(2021, 3, 22, 19, tzinfo=UTC)),
        ((("datacenter", "eqiad"), ("year", "2021"), ("month", "3")),
         datetime(2021, 3, 1, tzinfo=UTC)),
        ((("year", "2021"), ("hour", "19")), None),  # hour without day/month
        ((("datacenter", "eqiad"),), None),
        ((("year", "2021"), ("month", "13")), None),
    ],
)  # fmt: skip
def test_partition_hour_needs_a_valid_hierarchy(pairs, expected):
    assert partition_hour(pairs) == expected


@pytest.mark.parametrize(
    ("name", "include", "exclude", "expected"),
    [
        ("navigationtiming", None, None, True),
        ("navigationtiming", "navigation", None, False),  # full match, not search
        ("navigationtiming", "navigation.*", None, True),
        ("navigationtiming", "navigation.*", "navigationtiming", False),  # exclude wins
        ("savetiming", "navigationtiming|savetiming", "nav.*", True),
    ],
)
def test_include_exclude_full_match(name, include, exclude, expected):
    inc = re.compile(include) if include else None
    exc = re.compile(exclude) if exclude else None
    assert table_passes(name, inc, exc) is expected


def test_table_names_are_normalized_before_filtering():
    m = match_candidate(
        "/raw/eventlogging_Test-Table/year=2024/month=1/day=1/hour=1",
        re.compile(r"eventlogging_(.+)/year=(\d+)/month=(\d+)/day=(\d+)/hour=(\d+)"),
        ("table", "year", "month", "day", "hour"),
    )
    assert m is not None and m[0] == "test_table"


def test_target_string_form():
    t = RefineTarget(
        input_path="hdfs://nn/raw/eventlogging_Test/year=2024/month=01/day=05/hour=03",
        database="event",
        table="test",
        table_location="/wmf/data/event/test",
        partition=(("year", "2024"), ("month", "01"), ("day", "05"), ("hour", "03")),
        input_mtime=1,
    )
    assert str(t) == (
        "hdfs://nn/raw/eventlogging_Test/year=2024/month=01/day=05/hour=03 -> "
        "`event`.`test` (year=2024,month=1,day=5,hour=3) at "
        "/wmf/data/event/test/year=2024/month=1/day=5/hour=3"
    )
    assert t.hour == datetime(2024, 1, 5, 3, tzinfo=UTC)


def test_hive_partition_path_parsing():
    got = parse_hive_partition_path("hdfs://nn/x/t/datacenter=eqiad/year=2024/month=1")
    assert got == (("datacenter", "eqiad"), ("year", "2024"), ("month", "1"))


def test_db_mode_window_errors():
    a = datetime(2024, 1, 5, 3, 10, tzinfo=UTC)
    assert db_hour_bounds(a, datetime(2024, 1, 5, 5, tzinfo=UTC))[0] == a.replace(minute=0)
    with pytest.raises(TargetDiscoveryError, match="since equal to until"):
        db_hour_bounds(a, a.replace(minute=50))
    with pytest.raises(TargetDiscoveryError, match="must be before until"):
        db_hour_bounds(a, datetime(2024, 1, 5, 1, tzinfo=UTC))


def _target(table: str, dataset: str | None, hour: str = "3") -> RefineTarget:
    return RefineTarget(
        input_path=f"{dataset}/hour={hour}",
        database="event",
        table=table,
        table_location=f"/out/{table}",
        partition=(("hour", hour),),
        input_mtime=1,
        dataset=dataset,
    )


def test_table_collisions_name_every_dataset_of_a_shared_table():
    targets = [
        _target("bar_x", "/raw/eventlogging_Bar;x"),
        _target("bar_x", "/raw/eventlogging_Bar'x"),
        _target("bar_x", "/raw/eventlogging_Bar'x", hour="4"),
        _target("test", "/raw/eventlogging_Test"),
        _target("test", "/raw/eventlogging_Test", hour="4"),
        _target("nodataset", None),
    ]
    assert table_collisions(targets) == {
        "event.bar_x": ["/raw/eventlogging_Bar'x", "/raw/eventlogging_Bar;x"]
    }


def test_fs_discovery_takes_its_settings_as_arguments(tmp_path: Path):
    # No RefineConfig: the window, the regex, the filters and the output are plain arguments.
    raw = tmp_path / "raw"
    for dataset, hour in (
        ("eventlogging_Foo", 3),
        ("eventlogging_Foo", 4),
        ("eventlogging_Bar", 3),
    ):
        d = raw / dataset / f"year=2024/month=01/day=05/hour={hour:02d}"
        d.mkdir(parents=True)
        (d / "part-0.json").write_text("{}\n")
    scope = DiscoveryScope(
        since=datetime(2024, 1, 5, 3, tzinfo=UTC),
        until=datetime(2024, 1, 5, 6, tzinfo=UTC),
        output_database="event",
        output_path="/out/",
        exclude=re.compile("bar"),
    )
    got = discover_fs_targets(
        LocalFileSystem("file:///"),
        scope,
        input_path=str(raw),
        regex=re.compile(r".*/eventlogging_(.+)/year=(\d+)/month=(\d+)/day=(\d+)/hour=(\d+)"),
        capture_groups=("table", "year", "month", "day", "hour"),
        datetime_format="'year='yyyy/'month='MM/'day='dd/'hour='HH",
    )
    assert [(t.qualified_table, t.partition_path) for t in got] == [
        ("event.foo", "/out/foo/year=2024/month=1/day=5/hour=3"),
        ("event.foo", "/out/foo/year=2024/month=1/day=5/hour=4"),
    ]
    assert {t.dataset for t in got} == {f"file:{raw}/eventlogging_Foo"}
