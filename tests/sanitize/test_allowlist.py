"""Allowlist loading and validation. Pure Python, no Spark."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from eljobs.sanitize import AllowlistError, load_allowlist
from eljobs.sanitize.allowlist import DEFAULTS_KEY


@pytest.fixture(scope="module")
def allowlists(shared_data: Path) -> Path:
    return shared_data / "allowlists"


def test_analytics_allowlist_loads_with_keep_all_disabled(allowlists: Path) -> None:
    a = load_allowlist(allowlists / "event_sanitized_analytics_allowlist.yaml")
    assert len(a.keys()) == 52
    assert a.keys()[0] == DEFAULTS_KEY
    assert set(a.defaults or {}) == {
        "dt", "recvfrom", "revision", "schema", "seqid", "timestamp", "topic", "uuid"
    }  # fmt: skip
    # Keys are normalized at every level.
    assert a.tables["cpubenchmark"] == {
        "event": {"score": "keep", "pageviewtoken": "hash"},
        "geocoded_data": {"country": "keep"},
        "useragent": {"browser_family": "keep", "os_family": "keep", "is_bot": "keep"},
    }
    assert "pageviewToken" not in str(a.tables["cpubenchmark"])
    rx = re.compile(a.include_regex())
    assert rx.fullmatch("cpubenchmark") and rx.fullmatch("__defaults__")
    assert not rx.fullmatch("cpubenchmarkx") and not rx.fullmatch("navigation")


def test_main_allowlist_needs_keep_all_enabled(allowlists: Path) -> None:
    path = allowlists / "event_sanitized_main_allowlist.yaml"
    a = load_allowlist(path, keep_all_enabled=True)
    assert len(a.tables) == 22
    assert set(a.tables.values()) == {"keep_all"}
    assert a.defaults is None
    with pytest.raises(AllowlistError) as e:
        load_allowlist(path)
    msg = str(e.value)
    assert "'keep_all' tag is not permitted in sanitization allowlist." in msg
    assert "(mediawiki_centralnotice_campaign_change: keep_all)" in msg
    assert str(path) in msg


def test_load_from_file_uri_and_mapping(tmp_path: Path) -> None:
    p = tmp_path / "a.yaml"
    p.write_text("Some-Table:\n  Event:\n    pageviewToken: hash\n")
    a = load_allowlist(f"file://{p}")
    assert a.tables == {"some_table": {"event": {"pageviewtoken": "hash"}}}
    assert load_allowlist({"Some-Table": {"Event": {"pageviewToken": "hash"}}}).tables == a.tables
    assert a.entry("Some-Table") == {"event": {"pageviewtoken": "hash"}}


@pytest.mark.parametrize(
    ("raw", "fragments"),
    [
        (
            {"t": {"event": {"deep": {"x": "keep_all"}}}},
            [
                "'keep_all' tag is not permitted in sanitization allowlist. (x: keep_all)",
                "table `t`",
                "field `event.deep.x`",
            ],
        ),
        (
            {"t": {"event": {"a": None}}},
            ["'null' tag is not a sanitization tag. (a: null)", "table `t`", "field `event.a`"],
        ),
        (
            {"t": {"event": {"a": "drop"}}},
            ["Allowlist object can not be cast to Map[String, Any].", "'drop'", "field `event.a`"],
        ),
        ({"t": {"a": 3}}, ["can not be cast to Map[String, Any]", "int 3", "field `a`"]),
        ({"t": {"a": True}}, ["can not be cast to Map[String, Any]", "bool True"]),
        ({"t": {"a": ["keep"]}}, ["can not be cast to Map[String, Any]", "a list"]),
        ({"t": None}, ["'null' tag is not a sanitization tag. (t: null)", "table `t`"]),
        ({"T": "keep", "t": "keep"}, ["'T' and 't' both normalize to 't'"]),
        ({"t": {"a-b": "keep", "a_b": "keep"}}, ["'a-b' and 'a_b' both normalize to 'a_b'"]),
        ({"t": {True: "keep"}}, ["Allowlist keys must be strings, found bool True"]),
        ({"__defaults__": "keep"}, ["__defaults__ must be a mapping", "str 'keep'"]),
    ],
)
def test_invalid_allowlists_name_table_and_field(raw: dict, fragments: list[str]) -> None:  # type: ignore[type-arg]
    with pytest.raises(AllowlistError) as e:
        load_allowlist(raw)
    assert isinstance(e.value, ValueError)
    for frag in fragments:
        assert frag in str(e.value)


def test_root_must_be_a_mapping(tmp_path: Path) -> None:
    p = tmp_path / "list.yaml"
    p.write_text("- a\n- b\n")
    with pytest.raises(AllowlistError, match=r"can not be cast to Map\[String, Any\]") as e:
        load_allowlist(p)
    assert str(p) in str(e.value)


def test_invalid_yaml_names_the_file(tmp_path: Path) -> None:
    p = tmp_path / "bad.yaml"
    p.write_text("a: [unclosed\n")
    with pytest.raises(AllowlistError, match="not valid YAML") as e:
        load_allowlist(p)
    assert str(p) in str(e.value)


def test_yaml_1_1_boolean_keys_are_rejected_not_misread(tmp_path: Path) -> None:
    p = tmp_path / "on.yaml"
    p.write_text("t:\n  on: keep\n")
    with pytest.raises(AllowlistError, match="must be strings"):
        load_allowlist(p)


def test_keep_all_allowed_at_any_depth_when_enabled() -> None:
    a = load_allowlist({"t": {"event": {"x": "keep_all"}}, "u": "keep_all"}, keep_all_enabled=True)
    assert a.tables == {"t": {"event": {"x": "keep_all"}}, "u": "keep_all"}
    # Re-validating a loaded allowlist with keep_all disabled fails.
    with pytest.raises(AllowlistError, match="'keep_all' tag is not permitted"):
        load_allowlist(a)
