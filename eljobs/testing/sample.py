"""Realistic raw client-side EventLogging data, generated from the real schemas.

Used by the demo, the end-to-end tests and ``bench/backfill``:

* :func:`write_sample_schemas` converts Event Platform legacy schemas
  (``../shared/data/event-schemas-secondary/<name>/<version>.yaml`` when that folder exists,
  else the copies bundled in ``eljobs/data/event-schemas/``) into the EventLogging layout
  ``<out>/<Name>/<revision>.json`` that ``--schemas_path`` reads.
* :func:`generate_lines` makes varnishkafka lines
  ``%q TAB %l TAB %n TAB %{%FT%T}t TAB <ip> TAB "<User-Agent>"`` whose ``%q`` is what the
  MediaWiki client sent: ``?`` + encodeURIComponent(JSON capsule) + ``;``. Events validate
  against their schema (built from each schema's ``examples`` and random values honouring
  types, enums, bounds, lengths and required flags, and checked with jsonschema's draft 3);
  user agents follow a Zipf popularity over a few thousand agents. Optionally a share of the
  lines is invalid, of every kind the processor distinguishes (see :data:`INVALID_KINDS`);
  each :class:`SampleLine` carries what the processor must make of it.
* :func:`write_sequence_hour` writes an hour as Camus did (Hadoop SequenceFile, key = a
  number, value = the line) through Spark; :func:`write_text_hour` writes ``<seq>\\t<line>``
  text, gzip'ed or not; :func:`write_generated_sequence_hour` generates on the executors (for
  millions of lines).
"""

from __future__ import annotations

import copy
import gzip
import json
import random
import re
import string
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import accumulate
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import jsonschema
import yaml

from eljobs.eventlogging.schemas import (
    eventlogging_schema_from_event_platform,
    eventlogging_schema_name,
    revision_for_version,
)

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

BUNDLED_SCHEMAS = Path(__file__).resolve().parent.parent / "data" / "event-schemas"
SHARED_SCHEMAS = Path(__file__).resolve().parents[3] / "shared" / "data" / "event-schemas-secondary"
ALLOWLIST = Path(__file__).resolve().parents[3] / "shared/data/allowlists"
DEMO_SCHEMAS: tuple[str, ...] = (
    "navigationtiming",
    "editattemptstep",
    "searchsatisfaction",
    "painttiming",
    "centralnoticeimpression",
    "universallanguageselector",
)

#: Kinds of invalid line, with the EventError code the processor gives them.
INVALID_KINDS: dict[str, str] = {
    "bad_json": "processor",
    "bad_utf8": "processor",
    "not_object": "processor",
    "no_match": "processor",
    "long_ua": "processor",
    "empty": "processor",
    "unknown_schema": "processor",
    "unknown_revision": "processor",
    "missing_required": "validation",
    "wrong_type": "validation",
    "additional_property": "validation",
}

_WIKIS = (
    ("enwiki", "en.wikipedia.org"),
    ("dewiki", "de.wikipedia.org"),
    ("frwiki", "fr.wikipedia.org"),
    ("jawiki", "ja.wikipedia.org"),
    ("commonswiki", "commons.wikimedia.org"),
    ("wikidatawiki", "www.wikidata.org"),
    ("ruwiki", "ru.m.wikipedia.org"),
)
_WORDS = ("Main_Page", "Zürich", "東京", "Ada_Lovelace", "Special:Search", "Œuvre", "data", "x")


def schemas_source() -> Path:
    """``../shared/data/event-schemas-secondary`` when it exists, else the bundled copies."""
    return SHARED_SCHEMAS if SHARED_SCHEMAS.is_dir() else BUNDLED_SCHEMAS


@dataclass(frozen=True)
class SampleSchema:
    """One EventLogging schema the generator uses."""

    name: str
    revision: int
    schema: dict[str, Any]
    """The draft-3 event schema (``properties.event`` of the Event Platform file)."""
    examples: tuple[dict[str, Any], ...]
    """Example events of the Event Platform file."""


def _allowlist_names() -> dict[str, str]:
    path = ALLOWLIST / "event_sanitized_analytics_allowlist.yaml"
    if not path.is_file():
        return {}
    doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return {str(k).lower(): str(k) for k in doc if not str(k).startswith("_")}


def load_sample_schemas(
    names: Sequence[str] = DEMO_SCHEMAS, source: str | Path | None = None
) -> list[SampleSchema]:
    """Read and convert the Event Platform legacy schemas ``names`` (directory names such as
    ``navigationtiming``; the highest version of each) from ``source``.

    The EventLogging name is the allowlist's key for it when the real allowlist has one (the
    CamelCase spelling production used), else the schema's own examples or title.
    """
    root = Path(source) if source is not None else schemas_source()
    known = _allowlist_names()
    out = []
    for name in names:
        files = sorted(
            (root / name).glob("*.yaml"),
            key=lambda p: tuple(int(x) for x in p.stem.split(".")),
        )
        if not files:
            raise FileNotFoundError(f"no schema {name!r} under {root} (expected {name}/X.Y.Z.yaml)")
        doc = yaml.safe_load(files[-1].read_text(encoding="utf-8"))
        el_name = known.get(name.lower()) or eventlogging_schema_name(doc)
        examples = tuple(
            copy.deepcopy(e["event"])
            for e in doc.get("examples") or ()
            if isinstance(e, dict) and isinstance(e.get("event"), dict)
        )
        out.append(
            SampleSchema(
                name=el_name,
                revision=revision_for_version(files[-1].stem),
                schema=eventlogging_schema_from_event_platform(doc),
                examples=examples,
            )
        )
    return out


def write_sample_schemas(
    out_dir: str | Path, names: Sequence[str] = DEMO_SCHEMAS, source: str | Path | None = None
) -> list[SampleSchema]:
    """Write ``<out_dir>/<Name>/<revision>.json`` for each schema; returns them."""
    schemas = load_sample_schemas(names, source)
    for s in schemas:
        d = Path(out_dir) / s.name
        d.mkdir(parents=True, exist_ok=True)
        (d / f"{s.revision}.json").write_text(json.dumps(s.schema, indent=2) + "\n")
    return schemas


# ------------------------------------------------------------------------------------ events


def _value(prop: Mapping[str, Any], rng: random.Random) -> Any:
    if prop.get("enum"):
        return rng.choice(list(prop["enum"]))
    tp = prop.get("type", "string")
    if isinstance(tp, list):
        tp = tp[0]
    if tp == "boolean":
        return rng.random() < 0.5
    if tp in ("integer", "number"):
        # small non-negative values where the bounds allow (the schemas' bounds are mostly
        # +-2**53, which no real measurement comes near)
        lo = max(prop.get("minimum", 0), min(0, prop.get("maximum", 0)))
        hi = min(prop.get("maximum", lo + 100_000), lo + 100_000)
        if tp == "integer":
            return rng.randint(int(lo), int(hi))
        return round(rng.uniform(float(lo), float(hi)), 3)
    if tp == "array":
        items: Mapping[str, Any] = prop.get("items") or {"type": "string"}
        if not isinstance(items, Mapping):
            items = {"type": "string"}
        return [_value(items, rng) for _ in range(rng.randint(0, 3))]
    if tp == "object":
        return _object(prop, rng)
    return _string(prop, rng)


def _string(prop: Mapping[str, Any], rng: random.Random) -> str:
    lo = int(prop.get("minLength", 1))
    hi = int(prop.get("maxLength", max(lo, 24)))
    pattern = prop.get("pattern")
    if pattern:
        candidates = [
            str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "".join(rng.choice(string.digits + string.ascii_lowercase) for _ in range(20)),
            f"{rng.getrandbits(128):032x}",
        ]
        for c in candidates:
            if re.search(pattern, c) and lo <= len(c) <= hi:
                return c
        raise ValueError(f"cannot generate a string matching {pattern!r}")
    if rng.random() < 0.3:
        word = rng.choice(_WORDS)
        if lo <= len(word) <= hi:
            return word
    n = rng.randint(lo, min(hi, max(lo, 16)))
    return "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(n))


def _object(schema: Mapping[str, Any], rng: random.Random) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, prop in (schema.get("properties") or {}).items():
        if not isinstance(prop, dict):
            continue
        if prop.get("required") is True or rng.random() < 0.35:
            try:
                out[name] = _value(prop, rng)
            except ValueError:
                if prop.get("required") is True:
                    raise
    return out


def _validator(schema: Mapping[str, Any]) -> Any:
    top = dict(schema)
    top.setdefault("additionalProperties", False)  # as the processor encapsulates it
    return jsonschema.Draft3Validator(top)


def event_pool(s: SampleSchema, n: int, rng: random.Random) -> list[dict[str, Any]]:
    """``n`` events that validate against ``s`` (draft 3): its examples, then random ones.

    A random event that does not validate (a keyword the generator does not honour) is
    replaced by an example; with no example it is an error.
    """
    validator = _validator(s.schema)
    pool = [e for e in s.examples if validator.is_valid(e)]
    while len(pool) < n:
        try:
            e = _object(s.schema, rng)
        except ValueError:
            e = None
        if e is not None and validator.is_valid(e):
            pool.append(e)
        elif pool:
            pool.append(rng.choice(pool))
        else:
            raise ValueError(f"cannot generate a valid {s.name} event")
    return pool[:n]


# ------------------------------------------------------------------------------- user agents


def user_agents(n: int = 3000, *, seed: int = 7) -> list[str]:
    """``n`` distinct, realistic User-Agent strings in popularity order (browsers of many
    versions and devices, the Wikipedia apps, a few bots and MediaWiki servers)."""
    rng = random.Random(seed)
    phones = ("SM-G960F", "Pixel 7", "SM-A515F", "Redmi Note 8", "moto g(7)", "K", "CPH2127")
    out: list[str] = []
    seen: set[str] = set()
    makers = [
        lambda v, b: (
            f"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like "
            f"Gecko) Chrome/{v}.0.{b}.{rng.randint(0, 200)} Safari/537.36"
        ),
        lambda v, b: (
            f"Mozilla/5.0 (Linux; Android {rng.randint(8, 14)}; {rng.choice(phones)}) "
            f"AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{v}.0.{b}.{rng.randint(0, 200)} "
            "Mobile Safari/537.36"
        ),
        lambda v, b: (
            f"Mozilla/5.0 (iPhone; CPU iPhone OS {v % 6 + 12}_{b % 7} like Mac OS X) "
            f"AppleWebKit/605.1.15 (KHTML, like Gecko) Version/{v % 6 + 12}.{b % 7} Mobile/15E148 "
            "Safari/604.1"
        ),
        lambda v, b: f"Mozilla/5.0 (X11; Linux x86_64; rv:{v}.0) Gecko/20100101 Firefox/{v}.0",
        lambda v, b: (
            f"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_{b % 8}) AppleWebKit/605.1.15 "
            f"(KHTML, like Gecko) Version/{v % 5 + 13}.{b % 4} Safari/605.1.15"
        ),
        lambda v, b: (
            f"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like "
            f"Gecko) Chrome/{v}.0.{b}.0 Safari/537.36 Edg/{v}.0.{b}.{rng.randint(0, 99)}"
        ),
        lambda v, b: f"WikipediaApp/7.{v % 5}.{b % 9}.{b} (iOS {v % 6 + 13}.{b % 5}; Phone)",
        lambda v, b: (
            f"WikipediaApp/2.7.{50000 + b}-r-2024-0{v % 9 + 1}-1{b % 9} "
            f"(Android {v % 6 + 9}; Phone) Google Play"
        ),
        lambda v, b: (
            f"Mozilla/5.0 (compatible; Googlebot/2.{v % 2}; +http://www.google.com/bot.html)"
        ),
        lambda v, b: f"python-requests/2.{v % 32}.{b % 4}",
        lambda v, b: f"MediaWiki/1.{v % 10 + 35}.0-wmf.{b % 30}",
    ]
    weights = [30, 25, 20, 8, 6, 5, 2, 2, 1, 0.5, 0.5]
    cum = list(accumulate(weights))
    while len(out) < n:
        maker = makers[rng.choices(range(len(makers)), cum_weights=cum)[0]]
        ua = maker(rng.randint(60, 130), rng.randint(1000, 6999))
        if ua not in seen:
            seen.add(ua)
            out.append(ua)
    return out


class Zipf:
    """Draw items with probability proportional to ``1 / rank**s`` (rank 1 the most popular)."""

    def __init__(self, items: Sequence[str], s: float = 1.1) -> None:
        self.items = list(items)
        self.cum = list(accumulate(1.0 / (k**s) for k in range(1, len(self.items) + 1)))

    def draw(self, rng: random.Random) -> str:
        """One item."""
        return rng.choices(self.items, cum_weights=self.cum)[0]


# ------------------------------------------------------------------------------------ lines


@dataclass(frozen=True)
class SampleLine:
    """One generated raw line and what the processor must make of it."""

    line: str
    kind: str
    """``valid`` or one of :data:`INVALID_KINDS`."""
    code: str | None
    """None for valid lines, else the EventError code (``processor``/``validation``)."""
    schema: str
    revision: int
    """The scid the EventError carries (``unknown``/-1 when none can be recovered)."""
    seq_id: int | None
    event: dict[str, Any] | None
    """The event of a valid line (the capsule's ``event``)."""
    message: str | None
    """The exact EventError message when the generator can know it, else None."""
    ua: str | None = None
    ip: str | None = None
    recv_from: str | None = None
    dt: str | None = None
    wiki: str | None = None


def encode_query(capsule: Any) -> str:
    """``?`` + encodeURIComponent(JSON.stringify(capsule)) + ``;`` as the MediaWiki client did."""
    text = json.dumps(capsule, separators=(",", ":"), ensure_ascii=False)
    return "?" + quote(text, safe="-_.!~*'()") + ";"


def varnishkafka_line(q: str, recv_from: str, seq: int, dt: str, ip: str, ua: str) -> str:
    """``%q TAB %l TAB %n TAB %{%FT%T}t TAB ip TAB "UA"``."""
    return f'{q}\t{recv_from}\t{seq}\t{dt}\t{ip}\t"{ua}"'


def _ip(rng: random.Random) -> str:
    r = rng.random()
    if r < 0.05:
        return "-"
    if r < 0.15:
        return f"2001:db8:{rng.getrandbits(16):x}::{rng.getrandbits(16):x}"
    return f"{rng.randint(1, 223)}.{rng.getrandbits(8)}.{rng.getrandbits(8)}.{rng.randint(1, 254)}"


class LineGenerator:
    """Makes :class:`SampleLine` s for one set of schemas (pools and agents built once)."""

    def __init__(
        self,
        schemas: Sequence[SampleSchema],
        *,
        seed: int = 0,
        pool_size: int = 50,
        agents: int = 3000,
    ) -> None:
        self.rng = random.Random(seed)
        self.schemas = list(schemas)
        self.pools = {s.name: event_pool(s, pool_size, self.rng) for s in self.schemas}
        self.agents = Zipf(user_agents(agents, seed=seed + 1))
        # the schemas' share of traffic: the first ones are the busiest, as in production
        self.schema_cum = list(accumulate(1.0 / k for k in range(1, len(self.schemas) + 1)))
        # %q of pooled events, by (event, schema, revision, wiki): encoding is the slow part
        self._encoded: dict[tuple[int, str, int, str], str] = {}

    def valid(self, seq: int, hour: datetime) -> SampleLine:
        """A line carrying a valid event."""
        rng = self.rng
        s = rng.choices(self.schemas, cum_weights=self.schema_cum)[0]
        event = rng.choice(self.pools[s.name])
        return self._line(seq, hour, s, event, kind="valid", cache=True)

    def _line(
        self,
        seq: int,
        hour: datetime,
        s: SampleSchema,
        event: Any,
        *,
        kind: str,
        schema_name: str | None = None,
        revision: int | None = None,
        ua: str | None = None,
        cache: bool = False,
    ) -> SampleLine:
        rng = self.rng
        wiki, host = rng.choice(_WIKIS)
        name = schema_name or s.name
        rev = revision if revision is not None else s.revision
        key = (id(event), name, rev, wiki)
        q = self._encoded.get(key) if cache else None
        if q is None:
            capsule = {
                "event": event,
                "revision": rev,
                "schema": name,
                "webHost": host,
                "wiki": wiki,
            }
            q = encode_query(capsule)
            if cache and len(self._encoded) < 100_000:
                self._encoded[key] = q
        dt = (hour + timedelta(seconds=rng.randrange(3600))).strftime("%Y-%m-%dT%H:%M:%S")
        recv = f"cp{rng.randint(3030, 3065)}.esams.wmnet"
        ip = _ip(rng)
        ua = ua if ua is not None else self.agents.draw(rng)
        line = varnishkafka_line(q, recv, seq, dt, ip, ua)
        return SampleLine(
            line=line,
            kind=kind,
            code=None if kind == "valid" else INVALID_KINDS[kind],
            schema=name,
            revision=rev,
            seq_id=seq,
            event=event if kind == "valid" else None,
            message=None,
            ua=ua,
            ip=ip,
            recv_from=recv,
            dt=dt + "Z",
            wiki=wiki,
        )

    def invalid(self, kind: str, seq: int, hour: datetime) -> SampleLine:
        """A line that the processor must turn into an EventError of ``kind``."""
        rng = self.rng
        s = rng.choice(self.schemas)
        event = copy.deepcopy(rng.choice(self.pools[s.name]))
        base = self._line(seq, hour, s, event, kind="valid")
        q, rest = base.line.split("\t", 1)
        replace: dict[str, Any] = {"kind": kind, "code": INVALID_KINDS[kind], "event": None}
        if kind == "bad_json":
            text = json.dumps(
                {
                    "event": event,
                    "revision": s.revision,
                    "schema": s.name,
                    "webHost": "x",
                    "wiki": "enwiki",
                },
                separators=(",", ":"),
                ensure_ascii=False,
            )[:-5]
            try:
                json.loads(text)
            except json.JSONDecodeError as e:
                replace["message"] = e.args[0]
            replace["line"] = "?" + quote(text, safe="-_.!~*'()") + ";\t" + rest
        elif kind == "bad_utf8":
            replace["line"] = (
                q.replace("%22wiki%22%3A%22", "%22wiki%22%3A%22%C3%28", 1) + "\t" + rest
            )
            replace["message"] = "utf-8"
        elif kind == "not_object":
            capsule = {"event": event, "revision": s.revision, "schema": s.name}
            replace["line"] = encode_query([capsule]) + "\t" + rest
            replace["message"] = "capsule was successfully parsed, but not as an object."
        elif kind == "no_match":
            replace["line"] = f"not a varnishkafka line {seq}"
            replace.update(schema="unknown", revision=-1)
        elif kind == "empty":
            replace["line"] = ""
            replace.update(schema="unknown", revision=-1, seq_id=None)
        elif kind == "long_ua":
            long_ua = "Mozilla/5.0 " + "x" * 900
            bad = self._line(seq, hour, s, event, kind="valid", ua=long_ua)
            replace["line"] = bad.line
            replace["message"] = (
                f"User Agent string length ({len(long_ua) + 2}) longer than the allowed 800 chars"
            )
        elif kind in ("unknown_schema", "unknown_revision"):
            name = "NoSuchSchema" if kind == "unknown_schema" else s.name
            rev = 1 if kind == "unknown_schema" else 999
            bad = self._line(seq, hour, s, event, kind="valid", schema_name=name, revision=rev)
            replace.update(line=bad.line, schema=name, revision=rev)
            # the message names both and the repository: checked by prefix in tests
            replace["message"] = None
        elif kind == "missing_required":
            req = [
                k for k, p in s.schema.get("properties", {}).items() if p.get("required") is True
            ]
            if req:
                event.pop(req[0], None)
                replace["message"] = f"{req[0]!r} is a required property"
            else:
                return self.invalid("additional_property", seq, hour)
            replace["line"] = self._line(seq, hour, s, event, kind="valid").line
        elif kind == "wrong_type":
            prop, tp = next(
                (k, p["type"])
                for k, p in s.schema.get("properties", {}).items()
                if isinstance(p.get("type"), str) and "enum" not in p and p["type"] != "object"
            )
            if tp == "string":
                event[prop], shown = 12, "12"
            else:
                event[prop], shown = "12", "'12'"
            replace["message"] = f"{shown} is not of type {tp!r}"
            replace["line"] = self._line(seq, hour, s, event, kind="valid").line
        elif kind == "additional_property":
            event["unexpectedField"] = 1
            replace.update(kind="additional_property", code="validation")
            replace["message"] = (
                "Additional properties are not allowed ('unexpectedField' was unexpected)"
            )
            replace["line"] = self._line(seq, hour, s, event, kind="valid").line
        else:
            raise ValueError(
                f"unknown invalid kind {kind!r}; expected one of {list(INVALID_KINDS)}"
            )
        fields = {**base.__dict__, **replace}
        return SampleLine(**fields)


def iter_lines(
    schemas: Sequence[SampleSchema],
    n: int,
    *,
    hour: datetime,
    seed: int = 0,
    first_seq: int = 1,
    invalid_fraction: float = 0.0,
    invalid_kinds: Sequence[str] = tuple(INVALID_KINDS),
    generator: LineGenerator | None = None,
) -> Iterator[SampleLine]:
    """``n`` lines for ``hour``, lazily; a share ``invalid_fraction`` of them invalid, the kinds
    taken in turn (so every kind appears once ``n * invalid_fraction >= len(invalid_kinds)``).

    Sequence numbers (``%n``) are ``first_seq, first_seq + 1, ...``: unique, so every output
    event can be traced back to its line.
    """
    gen = generator or LineGenerator(schemas, seed=seed)
    hour = hour if hour.tzinfo else hour.replace(tzinfo=UTC)
    n_invalid = round(n * invalid_fraction)
    invalid_at = set(gen.rng.sample(range(n), n_invalid)) if n_invalid else set()
    k = 0
    for i in range(n):
        seq = first_seq + i
        if i in invalid_at:
            yield gen.invalid(invalid_kinds[k % len(invalid_kinds)], seq, hour)
            k += 1
        else:
            yield gen.valid(seq, hour)


def generate_lines(
    schemas: Sequence[SampleSchema], n: int, *, hour: datetime, **kwargs: Any
) -> list[SampleLine]:
    """:func:`iter_lines` as a list."""
    return list(iter_lines(schemas, n, hour=hour, **kwargs))


# ------------------------------------------------------------------------------------ files


def write_text_hour(
    directory: str | Path, lines: Sequence[str], *, compress: bool = True, first_key: int = 0
) -> Path:
    """Write ``<key>\\t<line>`` text (as ``hdfs dfs -text`` prints a SequenceFile) into
    ``directory/part-00000[.gz]``; returns the file."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    body = "".join(f"{first_key + i}\t{line}\n" for i, line in enumerate(lines)).encode("utf-8")
    if compress:
        p = d / "part-00000.gz"
        p.write_bytes(gzip.compress(body))
    else:
        p = d / "part-00000"
        p.write_bytes(body)
    return p


def write_sequence_hour(
    spark: SparkSession,
    directory: str | Path,
    lines: Sequence[str],
    *,
    codec: str | None = "org.apache.hadoop.io.compress.GzipCodec",
    partitions: int = 2,
    first_key: int = 0,
) -> None:
    """Write an hour as Camus did: a SequenceFile per partition, key = a number, value = the
    line. ``directory`` must not exist yet (Spark creates it, with a ``_SUCCESS`` marker)."""
    pairs = [(first_key + i, line) for i, line in enumerate(lines)]
    spark.sparkContext.parallelize(pairs, partitions).saveAsSequenceFile(str(directory), codec)


def write_generated_sequence_hour(
    spark: SparkSession,
    directory: str | Path,
    schemas: Sequence[SampleSchema],
    n: int,
    *,
    hour: datetime,
    seed: int = 0,
    partitions: int = 2,
    invalid_fraction: float = 0.0,
    codec: str | None = "org.apache.hadoop.io.compress.GzipCodec",
) -> None:
    """Generate ``n`` lines on the executors and write them as a SequenceFile hour (for
    benchmarks: the lines never pass through the driver)."""
    per = -(-n // partitions)
    schemas = list(schemas)

    def make(index: int, _it: Iterable[int]) -> Iterator[tuple[int, str]]:
        start = index * per
        count = max(0, min(per, n - start))
        gen = LineGenerator(schemas, seed=seed * 1000 + index)
        for sl in iter_lines(
            schemas,
            count,
            hour=hour,
            first_seq=start + 1,
            invalid_fraction=invalid_fraction,
            generator=gen,
        ):
            yield (sl.seq_id or 0, sl.line)

    rdd = spark.sparkContext.parallelize(range(partitions), partitions)
    rdd.mapPartitionsWithIndex(make).saveAsSequenceFile(str(directory), codec)
