"""Runner helpers: transform lookup, grouping by table, error shortening. No Spark."""

from __future__ import annotations

import pytest

from eljobs.refine import transforms
from eljobs.refine.runner import group_by_table, short_error
from eljobs.refine.targets import RefineTarget
from eljobs.refine.transforms import TransformLookupError, resolve_transforms


def test_transform_names_scala_names_aliases_and_python_paths():
    got = resolve_transforms(
        [
            "event_transforms",
            "org.wikimedia.analytics.refinery.job.refine.deduplicate_eventlogging",
            "eljobs.refine.transforms:add_normalized_host",
            "parseTimestampFields",
            " ",
        ]
    )
    assert got == [
        transforms.event_transforms,
        transforms.deduplicate,
        transforms.add_normalized_host,
        transforms.parse_timestamp_fields,
    ]


@pytest.mark.parametrize(
    "name",
    [
        "nope",
        # Module attributes that are not transforms, and dotted paths without the explicit ':'.
        "find_column",
        "TransformConfigError",
        "eljobs.refine.transforms.remove_canary_events",
        # A registry name under another package than the Scala one.
        "org.example.deduplicate",
    ],
)
def test_names_outside_the_registry_are_refused_listing_the_choices(name: str):
    with pytest.raises(TransformLookupError) as e:
        resolve_transforms(["event_transforms", name])
    msg = str(e.value)
    assert msg.startswith(f"--transform_functions: unknown transform function '{name}'")
    choices = ("event_transforms", "deduplicate_eventbus", "geocode_ip", "parseTimestampFields")
    for choice in choices:
        assert choice in msg
    assert "org.wikimedia.analytics.refinery.job.refine.<name>" in msg
    assert "'package.module:function'" in msg


MOD = "eljobs.refine.transforms"


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("eljobs.nowhere:fn", "cannot import module 'eljobs.nowhere'"),
        ("eljobs.refine.transforms:no_such_fn", f"module {MOD!r} has no function 'no_such_fn'"),
        ("eljobs.refine.transforms:FoundColumn", f"module {MOD!r} has no function 'FoundColumn'"),
    ],
)
def test_explicit_python_functions_must_exist(name: str, why: str):
    with pytest.raises(TransformLookupError, match=f"--transform_functions: '{name}': {why}"):
        resolve_transforms([name])


def _t(table: str, hour: str) -> RefineTarget:
    return RefineTarget(f"/in/{table}/{hour}", "db", table, f"/out/{table}", (("hour", hour),), 1)


def test_targets_grouped_by_table_in_discovery_order():
    ts = [_t("b", "1"), _t("a", "1"), _t("b", "2"), _t("a", "2")]
    groups = group_by_table(ts)
    assert list(groups) == ["db.b", "db.a"]
    assert [t.partition for t in groups["db.b"]] == [(("hour", "1"),), (("hour", "2"),)]


def test_short_error_keeps_the_message():
    assert short_error(ValueError("bad value")) == "ValueError: bad value"
    assert short_error(RuntimeError("")) == "RuntimeError"


def test_short_error_hides_registered_secrets():
    # The runner depends only on the neutral registry, not on the sanitizer that fills it.
    from eljobs import secrets

    salt = "f3" * 32
    secrets.register([salt])
    text = short_error(RuntimeError(f"cast failed near {salt} and 0x{'ab' * 20}"))
    assert salt not in text and "ab" * 20 not in text
    assert text.startswith("RuntimeError: cast failed near *****")
