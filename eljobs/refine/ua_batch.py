"""User-agent parsing for ``parse_user_agent``, batched with Arrow and cached per executor process.

The parsing itself is :func:`eljobs.useragent.parse_ua` (ua-parser, LRU-cached per process);
this module only maps its answers to the reference's ``user_agent_map`` conventions and runs it
over Arrow batches:

* strings longer than :data:`MAX_UA_LENGTH` characters are not parsed (every part ``-``), a guard
  the reference added against user agents that make the regexes crawl;
* a part that is missing, empty or ``-`` becomes ``-`` (:data:`NA`); unmatched families are what
  ua-parser says (``Other``);
* :func:`parse_batch` dictionary-encodes each Arrow batch so every distinct user agent of the
  batch is handled once (user agents follow a steep Zipf law), then expands the answers with
  ``take``; :func:`ua_struct` wraps it as a Spark scalar Arrow UDF.

* the reference's spider test (for the legacy ``useragent.is_bot``) runs here too, once per
  distinct user agent (:func:`spider`): as a native ``rlike`` it was evaluated for every row
  whose device is ``Other`` and its ``.*(a|b|...).*`` shape made that the costliest part.

``wmf_app_version``, ``is_mediawiki`` and the map itself are native Spark expressions built by
the transform (:mod:`eljobs.refine.transforms`).
"""

from __future__ import annotations

import functools
import re
from typing import TYPE_CHECKING

import pyarrow as pa
from pyspark.sql import functions as F

from eljobs.columns import SPIDER_PATTERN
from eljobs.refine.arrow_batch import distinct_strings
from eljobs.useragent import parse_ua

if TYPE_CHECKING:
    from pyspark.sql import Column

#: The reference does not parse longer user agents.
MAX_UA_LENGTH = 400

#: The value of a part that is unknown.
NA = "-"

#: Parts the UDF returns, in order (the map's keys except ``wmf_app_version``).
UA_FIELDS: tuple[str, ...] = (
    "browser_family",
    "browser_major",
    "device_family",
    "os_family",
    "os_major",
    "os_minor",
)

#: Distinct user agents remembered per worker process.
CACHE_SIZE = 100_000


def _na(value: str | None) -> str:
    return value if value else NA


@functools.lru_cache(maxsize=CACHE_SIZE)
def ua_parts(ua: str) -> tuple[str, ...]:
    """The :data:`UA_FIELDS` of one user agent (``-`` for unknown parts), cached per process."""
    if len(ua) > MAX_UA_LENGTH:
        return (NA,) * len(UA_FIELDS)
    p = parse_ua(ua)
    return (
        _na(p.browser_family),
        _na(p.browser_major),
        _na(p.device_family),
        _na(p.os_family),
        _na(p.os_major),
        _na(p.os_minor),
    )


#: The reference's spider regex (:data:`eljobs.columns.SPIDER_PATTERN`) for Python's ``re``.
#: Evaluated once per distinct user agent here instead of once per row in the JVM; the
#: pattern only uses constructs on which ``re`` and ``java.util.regex`` agree (ASCII input).
SPIDER_RE = re.compile(SPIDER_PATTERN)


@functools.lru_cache(maxsize=CACHE_SIZE)
def spider(ua: str) -> bool:
    """The reference's ``isSpider``: ``-`` or a match of the spider regex, cached per process."""
    return ua == "-" or SPIDER_RE.search(ua) is not None


def struct_ddl(*, with_spider: bool = False) -> str:
    """DDL of the struct :func:`parse_batch` returns."""
    fields = [f"{name} string" for name in UA_FIELDS]
    if with_spider:
        fields.append("is_spider boolean")
    return ", ".join(fields)


def parse_batch(uas: pa.Array | pa.ChunkedArray, *, with_spider: bool = False) -> pa.StructArray:
    """Parse an Arrow array of user agents into a struct array (:data:`UA_FIELDS`).

    With ``with_spider`` a boolean ``is_spider`` field (:func:`spider`) is added. NULL user
    agents give NULL structs. Each distinct user agent of the batch is handled once.
    """
    batch = distinct_strings(uas)
    parsed = [ua_parts(ua) for ua in batch.distinct]
    arrays = [batch.spread([p[i] for p in parsed], pa.string()) for i in range(len(UA_FIELDS))]
    names = list(UA_FIELDS)
    if with_spider:
        arrays.append(batch.spread([spider(ua) for ua in batch.distinct], pa.bool_()))
        names.append("is_spider")
    return pa.StructArray.from_arrays(arrays, names=names, mask=batch.values.is_null())


def ua_struct(ua: Column, *, with_spider: bool = False) -> Column:
    """A struct column (:func:`struct_ddl`) parsing the string column ``ua``.

    Runs :func:`parse_batch` in the Python workers as a scalar Arrow UDF.
    """
    fn = _parse_with_spider if with_spider else _parse
    return F.arrow_udf(fn, struct_ddl(with_spider=with_spider))(ua)  # type: ignore[call-overload]


def _parse(uas: pa.Array) -> pa.Array:
    return parse_batch(uas)


def _parse_with_spider(uas: pa.Array) -> pa.Array:
    return parse_batch(uas, with_spider=True)
