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

``wmf_app_version``, ``is_mediawiki``, ``is_bot`` (with the spider regex,
:func:`eljobs.columns.is_spider`) and the map itself are native Spark expressions built by the
transform (:mod:`eljobs.refine.transforms`).
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc

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


#: DDL of the struct :func:`parse_batch` returns.
STRUCT_DDL = ", ".join(f"{name} string" for name in UA_FIELDS)


def parse_batch(uas: pa.Array | pa.ChunkedArray) -> pa.StructArray:
    """Parse an Arrow array of user agents into a struct array (:data:`UA_FIELDS`).

    NULL user agents give NULL structs. Each distinct user agent of the batch is parsed once.
    """
    if isinstance(uas, pa.ChunkedArray):
        uas = uas.combine_chunks()
    if not pa.types.is_string(uas.type) and not pa.types.is_large_string(uas.type):
        uas = uas.cast(pa.string())
    encoded = pc.dictionary_encode(uas)
    distinct = encoded.dictionary.to_pylist()
    parsed = [ua_parts(ua) for ua in distinct]
    indices = encoded.indices
    arrays = [
        pc.take(pa.array([p[i] for p in parsed], type=pa.string()), indices)
        for i in range(len(UA_FIELDS))
    ]
    return pa.StructArray.from_arrays(arrays, names=list(UA_FIELDS), mask=uas.is_null())


def ua_struct(ua: Column) -> Column:
    """A struct column (:data:`STRUCT_DDL`) parsing the string column ``ua``.

    Runs :func:`parse_batch` in the Python workers as a scalar Arrow UDF.
    """
    from pyspark.sql import functions as F

    return F.arrow_udf(_parse_arrow, STRUCT_DDL)(ua)  # type: ignore[call-overload]


def _parse_arrow(uas: pa.Array) -> pa.Array:
    return parse_batch(uas)
