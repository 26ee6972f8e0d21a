"""Draft-3 validation of encapsulated events: a compiled fast path plus jsonschema's wording.

The reference validates the whole capsule with jsonschema's ``Draft3Validator`` against the
capsule schema whose ``event`` property is replaced by the event schema, and
reports the first error in iteration order. jsonschema is far too slow for every event,
so each combined schema is compiled once into a generated Python function that decides
valid/invalid exactly as ``Draft3Validator`` does; only events that fail go through jsonschema,
to word the first error. Schemas using keywords the generator does not cover (``$ref``,
``extends``, ``dependencies``, tuple ``items``...) are decided by jsonschema itself.

Equivalence is checked by a differential test over real schemas (tests/eventlogging).
"""

from __future__ import annotations

import copy
import itertools
import re
from collections.abc import Callable, Mapping
from typing import Any

from jsonschema import Draft3Validator
from jsonschema.exceptions import SchemaError
from jsonschema.validators import validator_for

__all__ = [
    "CAPSULE_SCHEMA",
    "CompiledSchema",
    "InvalidSchema",
    "compile_checker",
    "encapsulate",
]


class InvalidSchema(ValueError):
    """An event schema is not a valid draft-3 schema (the reference's metaschema check)."""


# The EventCapsule schema (draft 3, no $schema): property order is the order errors are found.
CAPSULE_SCHEMA: dict[str, Any] = {
    "description": "A wrapper around event objects that encodes generic metadata",
    "properties": {
        "event": {"type": "object", "description": "The encapsulated event", "required": True},
        "wiki": {"type": "string", "description": "$wgDBName", "required": True},
        "webHost": {"type": "string", "description": "Host of the page that sent the event"},
        "schema": {"type": "string", "description": "Schema name", "required": True},
        "revision": {"type": "integer", "description": "Schema revision", "required": True},
        "topic": {"type": "string", "description": "Kafka topic"},
        "recvFrom": {"type": "string", "description": "Receiving host", "required": True},
        "timestamp": {"type": "number", "description": "Unix time"},
        "dt": {"type": "string", "format": "date-time", "description": "ISO-8601 time"},
        "seqId": {"type": "integer", "description": "Sequence number of the receiving host"},
        "uuid": {
            "type": "string",
            "format": "uuid5-hex",
            "description": "Unique event id",
            "required": True,
        },
        "userAgent": {"type": "any", "description": "Parsed user agent"},
        "ip": {"type": "string", "description": "Client IP"},
    },
    "additionalProperties": False,
}


_SUBSCHEMA_MAPS = ("properties", "patternProperties", "dependencies")
_SUBSCHEMA_ONE_OR_MANY = ("items", "additionalItems", "additionalProperties", "extends", "type")


def _strip_dialects(node: Any) -> None:
    """Remove ``$schema`` from every schema position, in place.

    Draft 3 ignores ``$schema`` below the top level, as jsonschema 2.6 (the reference's) did;
    jsonschema 4 switches to the named draft when it descends into such a subschema, which
    would validate an event schema declaring draft 4 as draft 4 (the reference validates as draft
    3).
    """
    if not isinstance(node, dict):
        return
    node.pop("$schema", None)
    for key in _SUBSCHEMA_MAPS:
        sub = node.get(key)
        if isinstance(sub, dict):
            for value in sub.values():
                _strip_dialects(value)
    for key in _SUBSCHEMA_ONE_OR_MANY:
        sub = node.get(key)
        for value in sub if isinstance(sub, list) else [sub]:
            _strip_dialects(value)


def encapsulate(event_schema: Mapping[str, Any]) -> dict[str, Any]:
    """The combined schema the reference validates with: a copy of the capsule schema whose
    ``event`` is the event schema with ``additionalProperties: false`` at its top level
    (unless it sets the key itself). ``$schema`` keys inside are dropped (draft 3 throughout)."""
    event = copy.deepcopy(dict(event_schema))
    _strip_dialects(event)
    event.setdefault("additionalProperties", False)
    combined = copy.deepcopy(CAPSULE_SCHEMA)
    combined["properties"]["event"] = event  # replaced in place: same position
    return combined


# --------------------------------------------------------------------------- equality (enum)


def _unbool(value: Any) -> Any:
    if value is True:
        return _TRUE
    if value is False:
        return _FALSE
    return value


_TRUE, _FALSE = object(), object()


def json_equal(one: Any, two: Any) -> bool:
    """JSON Schema equality as jsonschema's ``enum`` uses it: ``True`` is not ``1``, strings
    only equal strings, lists and objects compare element-wise."""
    if one is two:
        return True
    if isinstance(one, str) or isinstance(two, str):
        return bool(one == two)
    if isinstance(one, list | tuple) and isinstance(two, list | tuple):
        return len(one) == len(two) and all(json_equal(a, b) for a, b in zip(one, two, strict=True))
    if isinstance(one, Mapping) and isinstance(two, Mapping):
        return len(one) == len(two) and all(
            k in two and json_equal(v, two[k]) for k, v in one.items()
        )
    return bool(_unbool(one) == _unbool(two))


# --------------------------------------------------------------------------- code generation


class _Unsupported(Exception):
    """The schema uses something the generator does not translate."""


# Draft-3 keywords jsonschema acts on; anything else in a schema is ignored by it (and us).
_DRAFT3_KEYWORDS = frozenset(Draft3Validator.VALIDATORS)
_GENERATED = frozenset(
    {
        "type",
        "properties",
        "additionalProperties",
        "patternProperties",
        "enum",
        "minimum",
        "maximum",
        "minLength",
        "maxLength",
        "pattern",
        "items",
        "minItems",
        "maxItems",
        "format",  # no format checker: never enforced
    }
)
_TYPE_TESTS = {
    "any": None,
    "object": "isinstance({v}, dict)",
    "array": "isinstance({v}, list)",
    "string": "isinstance({v}, str)",
    "boolean": "isinstance({v}, bool)",
    "null": "{v} is None",
    "integer": "(isinstance({v}, int) and not isinstance({v}, bool))",
    "number": "(isinstance({v}, (int, float)) and not isinstance({v}, bool))",
}


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


class _Generator:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.consts: dict[str, Any] = {"json_equal": json_equal}
        self._names = itertools.count()
        self.known: dict[str, str] = {}  # variable -> the single type its schema asserts

    def const(self, value: Any) -> str:
        name = f"C{next(self._names)}"
        self.consts[name] = value
        return name

    def var(self) -> str:
        return f"v{next(self._names)}"

    def emit(self, depth: int, text: str) -> None:
        self.lines.append("    " * depth + text)

    def node(self, schema: Any, v: str, depth: int) -> None:
        if not isinstance(schema, dict):
            raise _Unsupported(f"schema is a {type(schema).__name__}")
        if "$ref" in schema:
            raise _Unsupported("$ref")
        for key in schema:
            if key in _DRAFT3_KEYWORDS and key not in _GENERATED:
                raise _Unsupported(key)
        # The instance is valid when every keyword passes, so their order does not matter for
        # the decision: check "type" first and let the other keywords rely on it.
        if "type" in schema:
            self.kw_type(schema["type"], schema, v, depth)
            declared = schema["type"]
            if isinstance(declared, str) and declared != "any":
                self.known[v] = declared
        for key, value in schema.items():
            if key in _DRAFT3_KEYWORDS and key != "type":
                getattr(self, "kw_" + key)(value, schema, v, depth)

    def guard(self, v: str, kind: str) -> str | None:
        """The test that ``v`` is of ``kind`` (object, array, string, number): ``"True"`` when
        its declared type implies it, None when it excludes it (the keyword never applies)."""
        known = self.known.get(v)
        if known is None:
            return {
                "object": f"isinstance({v}, dict)",
                "array": f"isinstance({v}, list)",
                "string": f"isinstance({v}, str)",
                "number": f"(isinstance({v}, (int, float)) and not isinstance({v}, bool))",
            }[kind]
        if known == kind or (kind == "number" and known == "integer"):
            return "True"
        return None

    # Each keyword emits statements that `return False` when the instance fails it.

    def kw_format(self, value: Any, schema: dict[str, Any], v: str, depth: int) -> None:
        return

    def kw_type(self, value: Any, schema: dict[str, Any], v: str, depth: int) -> None:
        types = [value] if isinstance(value, str) else value
        if not isinstance(types, list):
            raise _Unsupported("type")
        tests = []
        for t in types:
            if not isinstance(t, str) or t not in _TYPE_TESTS:
                raise _Unsupported(f"type {t!r}")  # schemas in type, unknown names
            test = _TYPE_TESTS[t]
            if test is None:
                return  # "any"
            tests.append(test.format(v=v))
        self.emit(depth, f"if not ({' or '.join(tests) or 'False'}): return False")

    def kw_properties(self, value: Any, schema: dict[str, Any], v: str, depth: int) -> None:
        if not isinstance(value, dict):
            raise _Unsupported("properties")
        test = self.guard(v, "object")
        if test is None:
            return
        self.emit(depth, f"if {test}:")
        self.emit(depth + 1, "pass")
        for name, sub in value.items():
            if not isinstance(sub, dict):
                raise _Unsupported("property schema")
            key = self.const(name)
            child = self.var()
            self.emit(depth + 1, f"if {key} in {v}:")
            self.emit(depth + 2, f"{child} = {v}[{key}]")
            self.emit(depth + 2, "pass")
            self.node(sub, child, depth + 2)
            if sub.get("required", False):
                self.emit(depth + 1, "else: return False")

    def _extras_test(self, schema: dict[str, Any], k: str) -> str:
        props = self.const(frozenset(schema.get("properties", {})))
        patterns = "|".join(schema.get("patternProperties", {}))
        test = f"{k} not in {props}"
        if patterns:
            test += f" and not {self.const(re.compile(patterns))}.search({k})"
        return test

    def kw_additionalProperties(
        self, value: Any, schema: dict[str, Any], v: str, depth: int
    ) -> None:
        test = self.guard(v, "object")
        if test is None:
            return
        if isinstance(value, dict):
            k, child = self.var(), self.var()
            self.emit(depth, f"if {test}:")
            self.emit(depth + 1, f"for {k}, {child} in {v}.items():")
            self.emit(depth + 2, f"if {self._extras_test(schema, k)}:")
            self.emit(depth + 3, "pass")
            self.node(value, child, depth + 3)
        elif not value:
            if not schema.get("patternProperties"):
                props = self.const(frozenset(schema.get("properties", {})))
                self.emit(depth, f"if {test} and not ({v}.keys() <= {props}):")
                self.emit(depth + 1, "return False")
            else:
                k = self.var()
                self.emit(depth, f"if {test}:")
                self.emit(depth + 1, f"for {k} in {v}:")
                self.emit(depth + 2, f"if {self._extras_test(schema, k)}: return False")

    def kw_patternProperties(self, value: Any, schema: dict[str, Any], v: str, depth: int) -> None:
        if not isinstance(value, dict):
            raise _Unsupported("patternProperties")
        test = self.guard(v, "object")
        if test is None:
            return
        self.emit(depth, f"if {test}:")
        self.emit(depth + 1, "pass")
        for pattern, sub in value.items():
            k, child = self.var(), self.var()
            self.emit(depth + 1, f"for {k}, {child} in {v}.items():")
            self.emit(depth + 2, f"if {self.const(re.compile(pattern))}.search({k}):")
            self.emit(depth + 3, "pass")
            self.node(sub, child, depth + 3)

    def kw_enum(self, value: Any, schema: dict[str, Any], v: str, depth: int) -> None:
        if not isinstance(value, list):
            raise _Unsupported("enum")
        strings = self.const(frozenset(e for e in value if isinstance(e, str)))
        others = [e for e in value if not isinstance(e, str)]
        if self.known.get(v) == "string":  # a string only equals the string members
            self.emit(depth, f"if {v} not in {strings}: return False")
        elif others:
            rest = self.const(tuple(others))
            self.emit(
                depth,
                f"if not ({v} in {strings} if isinstance({v}, str) else "
                f"any(json_equal(e, {v}) for e in {rest})): return False",
            )
        else:
            self.emit(depth, f"if not (isinstance({v}, str) and {v} in {strings}): return False")

    def _bound(self, value: Any, schema: dict[str, Any], v: str, depth: int, low: bool) -> None:
        if not _is_number(value):
            raise _Unsupported("non-numeric bound")
        exclusive = schema.get("exclusiveMinimum" if low else "exclusiveMaximum", False)
        op = ("<=" if exclusive else "<") if low else (">=" if exclusive else ">")
        test = self.guard(v, "number")
        if test is not None:
            self.emit(depth, f"if {test} and {v} {op} {self.const(value)}: return False")

    def kw_minimum(self, value: Any, schema: dict[str, Any], v: str, depth: int) -> None:
        self._bound(value, schema, v, depth, low=True)

    def kw_maximum(self, value: Any, schema: dict[str, Any], v: str, depth: int) -> None:
        self._bound(value, schema, v, depth, low=False)

    def _length(self, value: Any, v: str, depth: int, kind: str, op: str) -> None:
        if not isinstance(value, int) or isinstance(value, bool):
            raise _Unsupported("non-integer length")
        test = self.guard(v, {"str": "string", "list": "array"}[kind])
        if test is not None:
            self.emit(depth, f"if {test} and len({v}) {op} {value}: return False")

    def kw_minLength(self, value: Any, schema: dict[str, Any], v: str, depth: int) -> None:
        self._length(value, v, depth, "str", "<")

    def kw_maxLength(self, value: Any, schema: dict[str, Any], v: str, depth: int) -> None:
        self._length(value, v, depth, "str", ">")

    def kw_minItems(self, value: Any, schema: dict[str, Any], v: str, depth: int) -> None:
        self._length(value, v, depth, "list", "<")

    def kw_maxItems(self, value: Any, schema: dict[str, Any], v: str, depth: int) -> None:
        self._length(value, v, depth, "list", ">")

    def kw_pattern(self, value: Any, schema: dict[str, Any], v: str, depth: int) -> None:
        if not isinstance(value, str):
            raise _Unsupported("pattern")
        pat = self.const(re.compile(value))
        test = self.guard(v, "string")
        if test is not None:
            self.emit(depth, f"if {test} and not {pat}.search({v}): return False")

    def kw_items(self, value: Any, schema: dict[str, Any], v: str, depth: int) -> None:
        if not isinstance(value, dict):
            raise _Unsupported("tuple items")
        test = self.guard(v, "array")
        if test is None:
            return
        child = self.var()
        self.emit(depth, f"if {test}:")
        self.emit(depth + 1, f"for {child} in {v}:")
        self.emit(depth + 2, "pass")
        self.node(value, child, depth + 2)


def compile_checker(schema: Mapping[str, Any]) -> Callable[[Any], bool] | None:
    """A function deciding ``Draft3Validator(schema).is_valid(x)``, or None when the schema
    uses keywords the generator does not translate."""
    gen = _Generator()
    gen.emit(0, "def check(x):")
    try:
        gen.node(dict(schema), "x", 1)
    except (_Unsupported, re.error):
        return None
    gen.emit(1, "return True")
    namespace: dict[str, Any] = dict(gen.consts)
    exec(compile("\n".join(gen.lines), "<eljobs draft-3 checker>", "exec"), namespace)
    check: Callable[[Any], bool] = namespace["check"]
    check.source = "\n".join(gen.lines)  # type: ignore[attr-defined]
    return check


class CompiledSchema:
    """One encapsulated schema: a fast ``is_valid`` and jsonschema's first error message."""

    def __init__(self, event_schema: Mapping[str, Any]) -> None:
        # Like the reference, check the event schema against the metaschema its own "$schema"
        # names (draft 3 without one); validation is draft 3 regardless.
        checker = validator_for(dict(event_schema), default=Draft3Validator)
        try:
            checker.check_schema(dict(event_schema))
        except SchemaError as exc:
            draft = "draft-3" if checker is Draft3Validator else str(event_schema.get("$schema"))
            raise InvalidSchema(f"not a valid {draft} JSON schema: {exc.message}") from exc
        self.schema = encapsulate(event_schema)
        self.validator = Draft3Validator(self.schema)
        fast = compile_checker(self.schema)
        self.generated = fast is not None
        self._check: Callable[[Any], bool] = fast if fast is not None else self.validator.is_valid

    def is_valid(self, capsule: Any) -> bool:
        """Whether jsonschema's Draft3Validator accepts ``capsule``."""
        return self._check(capsule)

    def first_error(self, capsule: Any) -> str | None:
        """The message of the first error jsonschema finds (the one the reference reports),
        or None when there is none."""
        for error in self.validator.iter_errors(capsule):
            return str(error.message)
        return None
