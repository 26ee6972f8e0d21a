"""Pure tests of option declaration, properties files and command-line parsing (no Spark)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

import pytest

from eljobs.config import (
    ConfigError,
    HelpRequested,
    JobConfig,
    effective_config,
    option,
    parse_config,
    read_properties,
)

NOW = datetime(2024, 3, 22, 19, 42, tzinfo=UTC)


@dataclass(frozen=True)
class Demo(JobConfig):
    """A demo job."""

    output_path: str = option(help="where to write")
    since: datetime = option(default_factory=lambda: NOW - timedelta(hours=24), help="start")
    limit: int | None = option(default=None, help="only the first N")
    dry_run: bool = option(default=False, help="write nothing")
    topics: tuple[str, ...] = option(default=(), help="topics")
    reader_options: dict[str, str] = option(default_factory=dict, help="map option")
    kafka_option: dict[str, str] = option(
        default_factory=dict,
        help="producer settings",
        pair_sep="=",
        accumulate=True,
        prefix="kafka.",
    )
    outputs: tuple[str, ...] = option(default_factory=tuple, help="sinks", accumulate=True)
    include: re.Pattern[str] | None = option(default=None, help="regex")
    mode: Literal["a", "b"] = option(default="a", help="choice")
    output_invalid: str | None = option(default=None, help="invalid output", bare="-")
    password: str | None = option(default=None, help="secret", secret=True)

    def validate(self) -> list[str]:
        return ["--limit: must be positive"] if self.limit is not None and self.limit <= 0 else []


def test_cli_forms_and_types() -> None:
    cfg = parse_config(
        Demo,
        [
            "--output_path",
            "/x",
            "--since=2",
            "--limit",
            "5",
            "--dry_run",
            "--topics",
            "a,b",
            "--reader_options",
            "k1:v1,k2:v2",
            "--include",
            "^t.*$",
            "--mode=b",
            "--output_invalid",
        ],
        now=NOW,
    )
    assert cfg.output_path == "/x"
    assert cfg.since == NOW - timedelta(hours=2)
    assert cfg.limit == 5 and cfg.dry_run is True
    assert cfg.topics == ("a", "b")
    assert cfg.reader_options == {"k1": "v1", "k2": "v2"}
    assert cfg.include is not None and cfg.include.pattern == "^t.*$"
    assert cfg.mode == "b" and cfg.output_invalid == "-"


def test_json_list_and_bool_value() -> None:
    cfg = parse_config(Demo, ["--output_path=/x", "--topics", '["a,b", "c"]', "--dry_run=false"])
    assert cfg.topics == ("a,b", "c") and cfg.dry_run is False


def test_properties_then_cli_override(tmp_path: Path) -> None:
    f1 = tmp_path / "a.properties"
    f1.write_text("# comment\noutput_path = /from/file\nlimit=3\nunknown_key=1\nkafka.acks=all\n")
    f2 = tmp_path / "b.properties"
    f2.write_text("limit: 4\ntopics=x,\\\n  y\n")
    cfg = parse_config(
        Demo,
        ["--config_file", f"{f1},{f2}", "--limit", "7", "--kafka_option", "kafka.linger.ms=50"],
    )
    assert cfg.output_path == "/from/file"
    assert cfg.limit == 7
    assert cfg.topics == ("x", "y")
    assert cfg.kafka_option == {"kafka.acks": "all", "kafka.linger.ms": "50"}


def test_a_list_on_the_command_line_replaces_the_files_list_and_maps_merge(
    tmp_path: Path,
) -> None:
    f = tmp_path / "prod.properties"
    f.write_text("output_path=/x\noutputs=kafka:///prod:9092\nkafka.acks=all\n")
    # A check run on the production file must not also write to its Kafka output.
    cfg = parse_config(
        Demo,
        ["--config_file", str(f), "--outputs", "file:///a", "--outputs", "file:///b",
         "--kafka_option", "kafka.acks=1", "--kafka_option", "kafka.linger.ms=5"],
    )  # fmt: skip
    assert cfg.outputs == ("file:///a", "file:///b")
    assert cfg.kafka_option == {"kafka.acks": "1", "kafka.linger.ms": "5"}
    assert parse_config(Demo, ["--config_file", str(f)]).outputs == ("kafka:///prod:9092",)


def test_all_problems_reported_together() -> None:
    with pytest.raises(ConfigError) as e:
        parse_config(Demo, ["--limit", "x", "--mode", "c", "--nope", "1", "--include", "("])
    msg = str(e.value)
    for part in (
        "--limit: expected a whole number, found 'x'",
        "--mode: expected one of a, b",
        "--nope: unknown option",
        "--include: invalid regular expression",
        "--output_path: required option is missing",
    ):
        assert part in msg


@dataclass(frozen=True)
class Window(JobConfig):
    """Two required options of a type that can fail to convert."""

    since: datetime = option(help="start")
    until: datetime = option(help="end")


def test_a_bad_required_value_is_not_also_reported_missing() -> None:
    with pytest.raises(ConfigError) as e:
        parse_config(Window, ["--since", "yesterday", "--until", "2024-01-05T03"], now=NOW)
    # One problem, the one to fix: the value, not a "missing" option that was given.
    assert len(e.value.problems) == 1, e.value.problems
    assert e.value.problems[0].startswith("--since: ")
    assert "required option is missing" not in str(e.value)
    # An option really absent is still reported missing, next to the bad one.
    with pytest.raises(ConfigError) as e:
        parse_config(Window, ["--since", "yesterday"], now=NOW)
    assert [p.split(":")[0] for p in e.value.problems] == ["--since", "--until"]
    assert "--until: required option is missing" in e.value.problems[1]


def test_an_unknown_bare_flag_at_the_end_is_an_unknown_option() -> None:
    for argv in (
        ["--output_path", "/x", "--dryrun"],  # the last argument
        ["--dryrun", "--output_path", "/x"],  # followed by another option
    ):
        with pytest.raises(ConfigError) as e:
            parse_config(Demo, argv)
        assert e.value.problems == ["--dryrun: unknown option (see --help)"], argv
    # A known option without its value still says so; so does a prefixed dict key.
    with pytest.raises(ConfigError) as e:
        parse_config(Demo, ["--output_path", "/x", "--limit"])
    assert e.value.problems == ["--limit: expected a value"]
    with pytest.raises(ConfigError) as e:
        parse_config(Demo, ["--output_path", "/x", "--kafka.acks"])
    assert e.value.problems == ["--kafka.acks: expected a value"]


def test_validate_hook() -> None:
    with pytest.raises(ConfigError, match="must be positive"):
        parse_config(Demo, ["--output_path", "/x", "--limit", "0"])


def test_a_config_built_in_python_is_validated_too() -> None:
    # Notebooks and the demo build configs directly: the same checks apply there.
    with pytest.raises(ConfigError, match="must be positive") as e:
        Demo(output_path="/x", limit=0)
    assert e.value.problems == ["--limit: must be positive"]
    assert Demo(output_path="/x", limit=1).limit == 1


def test_a_config_built_in_python_takes_command_line_text_and_lists() -> None:
    cfg = Demo(
        output_path="/x",
        since="2024-01-05T03",  # type: ignore[arg-type]
        limit="7",  # type: ignore[arg-type]
        topics=["a", "b"],  # type: ignore[arg-type]
        include="eventlogging_.*",  # type: ignore[arg-type]
        dry_run="true",  # type: ignore[arg-type]
    )
    assert cfg.since == datetime(2024, 1, 5, 3, tzinfo=UTC)
    assert (cfg.limit, cfg.topics, cfg.dry_run) == (7, ("a", "b"), True)
    assert cfg.include is not None and cfg.include.fullmatch("eventlogging_x")


def test_a_config_of_wrong_types_names_every_option_and_hides_secrets() -> None:
    with pytest.raises(ConfigError) as e:
        Demo(
            output_path=3,  # type: ignore[arg-type]
            since=1704423600,  # type: ignore[arg-type]
            dry_run=1,  # type: ignore[arg-type]
            mode="c",  # type: ignore[arg-type]
            limit="many",  # type: ignore[arg-type]
            password=12345,  # type: ignore[arg-type]
        )
    assert e.value.problems == [
        "--output_path: expected str, found int (given 3)",
        "--since: expected datetime|hours-ago, found int (given 1704423600)",
        "--limit: expected a whole number, found 'many' (given 'many')",
        "--dry_run: expected bool, found int (given 1)",
        "--mode: expected one of a, b (given 'c')",
        "--password: expected str, found int (given <secret>)",
    ]


def test_help_lists_every_option_with_default() -> None:
    with pytest.raises(HelpRequested) as h:
        parse_config(Demo, ["--help"])
    for name in ("output_path", "since", "limit", "dry_run", "topics", "kafka_option", "mode"):
        assert f"--{name}" in h.value.text
    assert "(default: required)" in h.value.text and "(default: false)" in h.value.text


def test_effective_config_masks_secrets() -> None:
    cfg = parse_config(
        Demo,
        [
            "--output_path",
            "/x",
            "--password",
            "hunter2",
            "--kafka_option",
            "kafka.sasl.password=pw",
        ],
    )
    shown = effective_config(cfg)
    assert "hunter2" not in str(shown) and "pw" not in shown["kafka_option"]


def test_read_properties_escapes() -> None:
    props = read_properties("a=1\nb : two words\n! c\nd=x\\ty\ne\n")
    assert props == {"a": "1", "b": "two words", "d": "x\ty", "e": ""}
