"""Failure report, rerun command and monitor report text. No Spark."""

from __future__ import annotations

from datetime import UTC, datetime

from eljobs.config import parse_config
from eljobs.refine.options import RefineConfig
from eljobs.refine.report import Failure, failure_report, monitor_report, rerun_window
from eljobs.refine.targets import RefineTarget


def _target(table: str, hour: int) -> RefineTarget:
    return RefineTarget(
        input_path=f"hdfs://nn/raw/eventlogging_{table}/year=2024/month=01/day=05/hour={hour:02d}",
        database="event",
        table=table,
        table_location=f"/wmf/data/event/{table}",
        partition=(("year", "2024"), ("month", "01"), ("day", "05"), ("hour", f"{hour:02d}")),
        input_mtime=1,
    )


CFG = parse_config(
    RefineConfig,
    [
        "--input_path", "/raw", "--input_path_regex", r"eventlogging_(.+)/year=(\d+)",
        "--input_path_regex_capture_groups", "table,year", "--output_path", "/wmf/data/event",
        "--output_database", "event", "--since", "2024-01-05T03:30:00Z",
        "--until", "2024-01-05T05:00:00Z", "--dataframereader_options", "samplingRatio:0.5",
    ],
)  # fmt: skip


def test_rerun_window_widens_to_failed_hours():
    h = datetime(2024, 1, 5, 2, tzinfo=UTC)
    since, until = rerun_window(CFG.since, CFG.until, [h, None])
    assert since == h and until == CFG.until


def test_failure_report_lists_failures_per_table_with_a_rerun_command():
    failures = [
        Failure(_target("savetiming", 2), "Failed refinement of A. Original exception: boom"),
        Failure(_target("test", 4), "Failed refinement of B. Original exception: bang\nline2"),
    ]
    text = failure_report(
        "refine", CFG, failures, {"event.savetiming": 3, "event.test": 1}, application_id="app-1"
    )
    assert text.startswith("Refine failures for path /raw -> database event (/wmf/data/event)\n")
    assert (
        "The following 1 of 3 dataset partitions for output table `event`.`savetiming` failed "
        "refinement:\n\tFailed refinement of A. Original exception: boom\n" in text
    )
    assert "\tFailed refinement of B. Original exception: bang\n\tline2" in text
    assert "Spark application id: app-1" in text
    command = text.rsplit("\n", 1)[1].strip()
    assert command.startswith("python -m eljobs refine --input_path=/raw ")
    assert "--dataframereader_options=samplingRatio:0.5" in command
    assert command.endswith(
        "--ignore_failure_flag=true --table_include_regex='savetiming|test' "
        "--since=2024-01-05T02:00:00Z --until=2024-01-05T05:00:00Z"
    )


def test_monitor_report_sections():
    text = monitor_report(CFG, [_target("test", 4)], [_target("savetiming", 3)])
    assert (
        "Targets with failures (1):\n\t/wmf/data/event/test/year=2024/month=1/day=5/hour=4" in text
    )
    assert "Targets needing refinement (1):\n\t/wmf/data/event/savetiming/year=2024" in text
    assert "no _REFINED flag" in text
