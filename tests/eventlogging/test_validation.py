"""eljobs.eventlogging.validation: the compiled draft-3 checker decides exactly as jsonschema.

The differential tests generate events from real schemas (mostly valid, with random type,
enum, bound, length, pattern, required and extra-key violations) and from small schemas that
exercise every keyword the generator translates, and compare the fast decision with
``Draft3Validator.is_valid`` on the encapsulated schema.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft3Validator

from eljobs.eventlogging.schemas import event_platform_documents
from eljobs.eventlogging.validation import (
    CompiledSchema,
    InvalidSchema,
    compile_checker,
    encapsulate,
    json_equal,
)

SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=6)
)
ANY_JSON = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)


def from_schema(schema: dict[str, Any], clean: bool, depth: int = 0) -> st.SearchStrategy[Any]:
    """Values for a schema: ``clean`` ones fit it (mostly), the others often do not."""
    alts: list[st.SearchStrategy[Any]] = []
    t = schema.get("type")
    if "enum" in schema:
        alts.append(st.sampled_from(schema["enum"]))
    elif t == "string":
        if "pattern" in schema:
            alts.append(st.from_regex(schema["pattern"], fullmatch=True))
        else:
            lo, hi = schema.get("minLength", 0), schema.get("maxLength", 12)
            if clean:
                alts.append(st.text(min_size=lo, max_size=min(hi, lo + 12)))
            else:
                alts.append(st.text(min_size=max(0, lo - 1), max_size=min(hi + 1, lo + 12)))
    elif t in ("integer", "number"):
        lo, hi = schema.get("minimum"), schema.get("maximum")
        alts.append(st.integers(min_value=lo, max_value=hi))
        if not clean:
            alts.append(st.sampled_from([x for x in (lo, hi) if x is not None] or [0]))
            if lo is not None:
                alts.append(st.just(lo - 1))
            alts.append(st.floats(allow_nan=False) | st.just(1.0) | st.just(2.5))
    elif t == "boolean":
        alts.append(st.booleans())
        if not clean:
            alts.append(st.sampled_from([0, 1]))
    elif t == "array":
        alts.append(st.lists(from_schema(schema.get("items", {}), clean, depth + 1), max_size=3))
    elif t == "object" or "properties" in schema:
        alts.append(object_from(schema, clean, depth + 1))
    if not clean or not alts:
        alts.append(ANY_JSON)
    return st.one_of(alts)


def object_from(
    schema: dict[str, Any], clean: bool, depth: int
) -> st.SearchStrategy[dict[str, Any]]:
    props = schema.get("properties", {})
    required = {k: from_schema(v, clean, depth) for k, v in props.items() if v.get("required")}
    optional = {k: from_schema(v, clean, depth) for k, v in props.items() if not v.get("required")}
    base = st.fixed_dictionaries(required, optional=optional)
    if clean:
        return base

    def mutate(d: dict[str, Any], extra: str | None, drop: int) -> dict[str, Any]:
        d = dict(d)
        if extra is not None:
            d[extra] = 1
        if drop and d:
            d.pop(sorted(d)[drop % len(d)])
        return d

    return st.builds(
        mutate,
        base,
        st.none() | st.none() | st.none() | st.sampled_from(["extra", *props][:3]),
        st.integers(0, 6).map(lambda n: n if n >= 5 else 0),
    )


def capsule_from(event_schema: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    """Capsules around events of the schema: half built to be valid, half anything goes."""
    event = {"type": "object", **event_schema}
    clean = st.fixed_dictionaries(
        {
            "schema": st.just("S"),
            "revision": st.just(1),
            "wiki": st.just("enwiki"),
            "recvFrom": st.just("cp1"),
            "uuid": st.just("0" * 32),
            "event": from_schema(event, clean=True),
        },
        optional={"seqId": st.integers(), "dt": st.just("2020"), "userAgent": ANY_JSON},
    )
    dirty = st.fixed_dictionaries(
        {
            "schema": st.just("S"),
            "revision": st.sampled_from([1, 1.0, True]),
            "wiki": st.just("enwiki") | st.just(None),
            "recvFrom": st.just("cp1"),
            "uuid": st.just("0" * 32),
        },
        optional={
            "event": from_schema(event, clean=False) | ANY_JSON,
            "webHost": st.just("en.wikipedia.org") | ANY_JSON,
            "seqId": st.integers() | st.just("7"),
            "timestamp": st.integers() | st.floats() | st.booleans(),
            "ip": st.just("-") | st.integers(),
            "topic": st.just("t"),
            "unexpected": st.just(1),
        },
    )
    return clean | dirty


SHARED = Path(__file__).resolve().parents[3] / "shared" / "data" / "event-schemas-secondary"
DOCS = event_platform_documents(SHARED) if SHARED.is_dir() else {}
DIFFERENTIAL = [
    "NavigationTiming",
    "EditAttemptStep",  # patterns, minLength
    "InukaPageView",  # objects with required fields inside arrays
    "QuickSurveysResponses",  # additionalProperties schema
    "UniversalLanguageSelector",  # fragment with $schema, patterns
    "SearchSatisfaction",
]


def _schema(name: str) -> dict[str, Any]:
    (found,) = [s for (n, _), s in DOCS.items() if n == name]
    return found


def test_every_real_schema_compiles_to_generated_code() -> None:
    assert len(DOCS) == 55, f"expected the 55 real schemas under {SHARED}"
    for scid, schema in DOCS.items():
        assert CompiledSchema(schema).generated, scid


@pytest.mark.parametrize("name", DIFFERENTIAL)
def test_differential_real_schemas(name: str) -> None:
    compiled = CompiledSchema(_schema(name))
    reference = Draft3Validator(encapsulate(_schema(name)))
    seen = {True: 0, False: 0}

    @settings(
        max_examples=150,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(capsule_from(_schema(name)))
    def check(capsule: dict[str, Any]) -> None:
        expected = reference.is_valid(capsule)
        assert compiled.is_valid(capsule) is expected
        assert (compiled.first_error(capsule) is None) is expected
        seen[expected] += 1

    check()
    assert seen[True] >= 15 and seen[False] >= 15, seen  # both outcomes really exercised


KEYWORD_SCHEMAS: list[dict[str, Any]] = [
    {"type": ["integer", "null"], "minimum": 0, "exclusiveMinimum": True, "maximum": 5},
    {"type": "number", "maximum": 2.5, "exclusiveMaximum": True},
    {"type": "any"},
    {"type": []},
    {"enum": [1, True, "a", None, [1, {"x": False}], {"k": [0]}, 2.0]},
    {"enum": [False, 0.0]},
    {"type": "string", "minLength": 1, "maxLength": 3, "pattern": "^a"},
    {"type": "array", "items": {"type": "integer"}, "minItems": 1, "maxItems": 2},
    {
        "properties": {"a": {"type": "string", "required": True}, "b": {"required": False}},
        "patternProperties": {"^x": {"type": "integer"}, "y$": {"type": "boolean"}},
        "additionalProperties": False,
    },
    {"properties": {"a": {"type": "object"}}, "additionalProperties": {"type": "string"}},
    {
        "patternProperties": {"^p": {"minimum": 3}},
        "additionalProperties": {"enum": [1, 2]},
    },
    {"properties": {"a": {"required": True}}, "additionalProperties": False},
    {"format": "date-time", "description": "ignored", "unknownKeyword": {"type": "null"}},
    {"items": {"properties": {"z": {"type": "null", "required": True}}}},
]


@pytest.mark.parametrize("schema", KEYWORD_SCHEMAS)
def test_differential_keywords(schema: dict[str, Any]) -> None:
    Draft3Validator.check_schema(schema)
    fast = compile_checker(schema)
    assert fast is not None
    reference = Draft3Validator(schema)

    @settings(max_examples=250, deadline=None)
    @given(
        ANY_JSON
        | st.dictionaries(st.sampled_from(["a", "b", "x1", "py", "p", "z"]), ANY_JSON, max_size=4)
        | st.lists(st.dictionaries(st.just("z"), SCALARS), max_size=3)
    )
    def check(value: Any) -> None:
        assert fast(value) is reference.is_valid(value)

    check()


@pytest.mark.parametrize(
    "schema",
    [
        {"$ref": "#/properties/wiki"},
        {"extends": {"type": "string"}},
        {"items": [{"type": "string"}]},
        {"type": [{"type": "string"}, "null"]},
        {"dependencies": {"a": "b"}},
        {"divisibleBy": 2},
        {"uniqueItems": True},
        {"disallow": "string"},
    ],
)
def test_untranslated_keywords_fall_back_to_jsonschema(schema: dict[str, Any]) -> None:
    assert compile_checker(schema) is None
    compiled = CompiledSchema({"properties": {"v": schema}})
    assert not compiled.generated
    capsule = {"schema": "S", "revision": 1, "wiki": "w", "recvFrom": "r", "uuid": "u"}
    for value in ("s", 3, [1, 1], None, {"a": 1}):
        full = {**capsule, "event": {"v": value}}
        assert compiled.is_valid(full) is Draft3Validator(compiled.schema).is_valid(full)


def test_invalid_schema_is_reported() -> None:
    with pytest.raises(InvalidSchema, match="not a valid draft-3 JSON schema"):
        CompiledSchema({"properties": {"a": {"type": 5}}})


def test_later_draft_schema_is_checked_by_its_draft_but_validated_as_draft3() -> None:
    schema = {
        "$schema": "http://json-schema.org/draft-04/schema#",
        "type": "object",
        "required": ["a"],  # draft 3 reads a list as a truthy flag: "event" becomes required
        "properties": {"a": {"type": "string"}, "o": {"type": "object", "required": ["b"]}},
    }
    compiled = CompiledSchema(schema)
    reference = Draft3Validator(encapsulate(schema))
    base = {"schema": "S", "revision": 1, "wiki": "w", "recvFrom": "r", "uuid": "u"}
    cases = [
        base,  # no event: invalid, the list made it required
        {**base, "event": {}},  # "a" is not required in draft 3, but "o" is (a truthy list)
        {**base, "event": {"o": {}}},  # "b" is not required inside "o"
        {**base, "event": {"o": 1}},
    ]
    for capsule in cases:
        assert compiled.is_valid(capsule) is reference.is_valid(capsule), capsule
    assert [compiled.is_valid(c) for c in cases] == [False, False, True, False]
    assert [compiled.first_error(c) for c in cases] == [
        "'event' is a required property",
        "'o' is a required property",  # draft 3's reading, not draft 4's "'a' is a required..."
        None,
        "1 is not of type 'object'",
    ]
    # "$schema" goes from schema positions only, not from properties of that name
    combined = encapsulate({"properties": {"$schema": {"$schema": "x", "type": "string"}}})
    assert combined["properties"]["event"]["properties"] == {"$schema": {"type": "string"}}
    with pytest.raises(InvalidSchema, match=r"not a valid http://json-schema\.org/draft-04/"):
        CompiledSchema({"$schema": "http://json-schema.org/draft-04/schema#", "required": True})


def test_json_equal_matches_jsonschema_enum_semantics() -> None:
    assert json_equal(1, 1.0) and not json_equal(True, 1) and not json_equal(0, False)
    assert json_equal([1, {"a": True}], [1.0, {"a": True}])
    assert not json_equal([1], [True]) and not json_equal("1", 1)
    assert not json_equal({"a": 1}, {"a": 1, "b": 2})


def test_encapsulate_order_and_additional_properties() -> None:
    combined = encapsulate({"properties": {"x": {"type": "string"}}})
    assert list(combined["properties"])[:3] == ["event", "wiki", "webHost"]
    assert combined["properties"]["event"]["additionalProperties"] is False
    assert combined["additionalProperties"] is False
    kept = encapsulate({"additionalProperties": True})
    assert kept["properties"]["event"]["additionalProperties"] is True
