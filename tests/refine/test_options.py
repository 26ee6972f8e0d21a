"""RefineConfig: option names, defaults, value forms and validation. No Spark."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from eljobs.config import ConfigError, parse_config, usage
from eljobs.refine.options import RefineConfig

NOW = datetime(2024, 1, 5, 12, 30, tzinfo=UTC)
FS = [
    "--input_path",
    "/raw",
    "--input_path_regex",
    r"eventlogging_(.+)/year=(\d+)/month=(\d+)/day=(\d+)/hour=(\d+)",
    "--input_path_regex_capture_groups",
    "table,year,month,day,hour",
    "--output_path",
    "/out",
    "--output_database",
    "event",
]


def test_defaults():
    cfg = parse_config(RefineConfig, FS, now=NOW)
    assert cfg.input_path_datetime_format == "'year='yyyy/'month='MM/'day='dd/'hour='HH"
    assert cfg.parallelism == (os.cpu_count() or 1)
    assert cfg.compression_codec == "snappy"
    assert cfg.smtp_uri == "localhost:25"
    assert cfg.from_email == "Refine <noreply@wikimedia.org>"
    assert cfg.schema_field == "/$schema"
    assert cfg.corrupt_record_failure_threshold == 1
    assert cfg.dataframereader_options == {}
    assert not (cfg.dry_run or cfg.ignore_done_flag or cfg.ignore_failure_flag)
    assert timedelta(hours=23, minutes=59) < cfg.until - cfg.since <= timedelta(hours=24, seconds=5)


def test_properties_files_then_cli_overrides(tmp_path: Path):
    a = tmp_path / "a.properties"
    a.write_text(
        "output_database = event\nsince = 26\nuntil = 2\n"
        "dataframereader_options = samplingRatio:0.5,primitivesAsString:true\n"
        "table_whitelist_regex = ignored_legacy_key\n"
    )
    b = tmp_path / "b.properties"
    b.write_text('output_database: other\nschema_base_uris = ["file:///s1", "file:///s2"]\n')
    cfg = parse_config(
        RefineConfig,
        [f"--config_file={a},{b}", *FS[:-2], "--dry_run=true", "--limit", "3"],
        now=NOW,
    )
    assert cfg.output_database == "other"
    assert cfg.since == NOW - timedelta(hours=26) and cfg.until == NOW - timedelta(hours=2)
    assert cfg.dataframereader_options == {"samplingRatio": "0.5", "primitivesAsString": "true"}
    assert cfg.schema_base_uris == ("file:///s1", "file:///s2")
    assert cfg.dry_run and cfg.limit == 3


def test_all_problems_are_reported_together():
    with pytest.raises(ConfigError) as e:
        parse_config(
            RefineConfig,
            [
                "--input_path",
                "/raw",
                "--input_database",
                "event",
                "--input_path_regex_capture_groups",
                "year,hour",
                "--input_format",
                "avro",
            ],
        )
    assert e.value.problems == [
        "Only one of input_path or input_database is allowed.",
        "input_path_regex is required when input_path is given.",
        "Invalid input_path_regex_capture_groups year,hour. Must at least contain 'table' as "
        "a named capture group.",
        "Invalid input_format avro. Must be one of parquet,json,sequence_json,text,empty.",
        "output_path is required.",
        "output_database is required.",
    ]


def test_neither_input_and_group_count_mismatch():
    with pytest.raises(ConfigError, match="Must provide one of input_path or input_database"):
        parse_config(RefineConfig, ["--output_path", "/o", "--output_database", "d"])
    with pytest.raises(ConfigError, match=r"has 1 capturing groups but .* names 2"):
        parse_config(
            RefineConfig,
            [
                "--input_path",
                "/r",
                "--input_path_regex",
                "x/(.+)",
                "--input_path_regex_capture_groups",
                "table,hour",
                "--output_path",
                "/o",
                "--output_database",
                "d",
            ],
        )


def test_eventlogging_mode_needs_a_schema_directory():
    with pytest.raises(ConfigError, match="needs eventlogging_schemas_path"):
        parse_config(RefineConfig, [*FS, "--schema_base_uris", "eventlogging"])


def test_help_documents_every_option_and_the_reader_options_quirk():
    text = usage(RefineConfig)
    for name in (
        "input_path_regex_capture_groups",
        "dataframereader_options",
        "smtp_uri",
        "merge_with_hive_schema_before_read",
        "corrupt_record_failure_threshold",
    ):
        assert f"--{name} " in text
    assert "dataframe_reader_options" in text


def test_subclass_adds_required_options():
    from dataclasses import dataclass

    from eljobs.config import option

    @dataclass(frozen=True, kw_only=True)
    class Sub(RefineConfig):
        allowlist_path: str = option(help="allowlist")

    cfg = parse_config(Sub, [*FS, "--allowlist_path", "/a.yaml"])
    assert cfg.allowlist_path == "/a.yaml" and cfg.output_database == "event"
    with pytest.raises(ConfigError, match="--allowlist_path: required option is missing"):
        parse_config(Sub, FS)


def test_unknown_transform_function_is_an_option_problem():
    with pytest.raises(ConfigError, match="unknown transform function 'no_such_fn'"):
        parse_config(RefineConfig, [*FS, "--transform_functions", "event_transforms,no_such_fn"])
    # Any attribute of the transforms module used to pass here and fail every target later.
    with pytest.raises(ConfigError, match="unknown transform function 'find_column'"):
        parse_config(RefineConfig, [*FS, "--transform_functions", "find_column"])


def test_an_inverted_or_empty_db_window_is_an_option_problem():
    after = ["--since", "2024-01-05T05:00:00Z", "--until", "2024-01-05T03:00:00Z"]
    with pytest.raises(ConfigError) as e:
        parse_config(RefineConfig, [*FS, *after], now=NOW)
    assert e.value.problems == [
        "since (2024-01-05T05:00:00+00:00) is after until (2024-01-05T03:00:00+00:00): "
        "expected since before until."
    ]
    db = ["--input_database", "event", "--output_database", "o", "--output_path", "/o"]
    with pytest.raises(ConfigError, match="is after until"):
        parse_config(RefineConfig, [*db, *after], now=NOW)
    same_hour = ["--since", "2024-01-05T03:10:00Z", "--until", "2024-01-05T03:50:00Z"]
    with pytest.raises(ConfigError, match="since equal to until at hour granularity"):
        parse_config(RefineConfig, [*db, *same_hour], now=NOW)
    # FS mode: an empty window inside one hour is no error (nothing to refine), as upstream.
    assert parse_config(RefineConfig, [*FS, *same_hour], now=NOW).since.minute == 10
