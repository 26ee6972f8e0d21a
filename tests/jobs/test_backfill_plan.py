"""The backfill's output plans: one per output, naming the columns the account and the write
both read."""

from __future__ import annotations

import re

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


def test_only_kafka_outputs_routed_by_the_capsule_topic_are_guarded() -> None:
    by_capsule = parse_writer_uri("kafka:///b:9092")
    fixed = parse_writer_uri("kafka:///b:9092?topic=anything_{schema}")
    files = parse_writer_uri("file:///tmp/out")
    guard = re.compile("eventlogging_.*")
    plans = plan_outputs([by_capsule, fixed, files], by_capsule, topics_regex=guard)
    assert [p.topics_allowed for p in plans] == [guard, None, None]
    # The whole name must match: a prefix match or a suffix is not enough.
    seen = {"eventlogging_A", "other", "xeventlogging_A"}
    assert plans[0].rejected(seen) == {"other", "xeventlogging_A"}
    writer = plans[0].account({"A"}, seen)
    assert writer.rejected_topics == {"other", "xeventlogging_A"}
    assert plans[1].rejected(seen) == frozenset() and plans[2].rejected(seen) == frozenset()
    # Without a regex (--topics_regex ''), nothing is rejected.
    (unguarded,) = plan_outputs([by_capsule], None, topics_regex=None)
    assert unguarded.rejected(seen) == frozenset()
