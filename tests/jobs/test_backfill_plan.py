"""The backfill's output plans: one per output, naming the columns the account and the write
both read."""

from __future__ import annotations

from eljobs.io.uris import parse_writer_uri
from eljobs.jobs.backfill import _extra_templates, plan_outputs


def test_plans_of_two_outputs_and_a_separate_invalid_writer() -> None:
    first = parse_writer_uri("kafka:///b:9092?topic=eventlogging_{schema}&key={uuid}")
    second = parse_writer_uri("file:///tmp/out")
    invalid = parse_writer_uri("kafka:///b:9092?topic=errors&key={uuid}")
    plans = plan_outputs([first, second], invalid)
    assert [
        (p.sink, p.topic_column, p.key_column, p.takes_valid, p.takes_invalid) for p in plans
    ] == [
        (first, "topic", "key_0", True, False),
        (second, "topic_1", None, True, False),
        (invalid, "topic", "key_invalid", False, True),
    ]
    valid, invalid_only = _extra_templates(plans)
    assert valid == {"key_0": "{uuid}", "topic_1": second.topic_template}
    assert invalid_only == {"key_invalid": "{uuid}"}


def test_invalid_events_to_the_first_output_add_no_plan() -> None:
    first = parse_writer_uri("file:///tmp/out")
    plans = plan_outputs([first], first)
    assert len(plans) == 1 and plans[0].takes_valid and plans[0].takes_invalid
    assert plans[0].account({"A", "EventError"}).topic_column == "topic"
