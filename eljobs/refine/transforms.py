"""Refine transform functions: DataFrame → DataFrame, selectable by name.

Every function has the signature ``fn(df, *, context=None) -> DataFrame`` and works when called
with only ``df``. ``context`` (:class:`~eljobs.refine.context.TransformContext`) names the target
for log lines, gives ``parse_user_agent`` the existing Hive table schema, and carries the
options some functions read. :data:`TRANSFORMS` maps every name accepted by
``--transform_functions`` (aliases and the reference's camelCase names included) to its function;
each name is also an attribute of this module (``eljobs.refine.transforms.<name>(df)``).

Rules shared by all of them:

* Source columns are looked up by path (``meta.domain``), through structs, **case-insensitively**;
  a function whose source columns are all absent logs why and returns its input unchanged (or
  adds its column as a typed NULL where the reference does so). When several sources exist they
  are combined with ``COALESCE`` in the listed order (first non-NULL wins).
* Everything is a native Spark expression except user-agent parsing and geocoding, which run as
  Arrow-batched UDFs with per-process caches (:mod:`eljobs.refine.ua_batch`,
  :mod:`eljobs.refine.geo`); the WMF-host test and host normalization are native
  (:mod:`eljobs.columns`).

Functions:

``remove_canary_events``
    keeps rows whose ``meta.domain`` is NULL or not exactly ``canary`` (case-sensitive).
``deduplicate`` (``deduplicate_eventlogging``, ``deduplicate_eventbus``)
    one row per ``COALESCE(meta.id, uuid, 'fake_' || uuid())``: rows without any id are never
    dropped. With ``meta.dt`` / ``meta.request_id`` / ``meta.uri`` present, the row kept is the
    first by those columns descending, NULLs last (the latest ``meta.dt`` wins); else any row.
``geocode_ip``
    ``geocoded_data`` map from ``http.client_ip`` / ``ip`` / ``client_ip`` (MaxMind City); a
    top-level ``ip`` becomes ``COALESCE(ip, source)`` and moves to the end.
``parse_user_agent``
    ``user_agent_map`` from ``agent.ua_string`` / ``http.request_headers['user-agent']``, plus
    the legacy ``useragent`` struct when the frame or the Hive table has one.
``add_is_wmf_domain``, ``filter_allowed_domains`` (``eventlogging_filter_is_allowed_hostname``),
``add_normalized_host``
    from ``meta.domain`` / ``webHost``.
``parse_timestamp_fields`` (``parseTimestampFields``)
    casts the fields listed in :data:`TIMESTAMP_FIELDS_KEY` to timestamps.
``normalize_field_names_and_widen_types`` (``normalizeFieldNamesAndWidenTypes``)
    the Refine normalize-and-widen step, from :mod:`eljobs.refine.frames`.
``event_transforms``
    ``remove_canary_events``, ``deduplicate``, ``geocode_ip``, ``parse_user_agent``,
    ``add_is_wmf_domain``, ``add_normalized_host``, in that order.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql.types import (
    BooleanType,
    DataType,
    MapType,
    StringType,
    StructField,
    StructType,
)

from eljobs.columns import (
    NORMALIZED_HOST_TYPE,
    field,
    host_labels,
    is_wmf_hostname,
    normalized_host_of_labels,
    quote_name,
)
from eljobs.errors import EljobsError
from eljobs.refine import geo, ua_batch
from eljobs.refine.context import TransformContext, TransformFn
from eljobs.refine.frames import normalize_and_widen
from eljobs.refine.transform_names import (
    TRANSFORM_NAMES,
    TransformLookupError,
    import_function,
    registry_name,
)

log = logging.getLogger(__name__)

#: Spark conf / option key listing the fields ``parse_timestamp_fields`` converts.
TIMESTAMP_FIELDS_KEY = "spark.refine.transformfunction.parsetimestampfields.timestampfields"

#: Sources of each function, in COALESCE order.
DOMAIN_SOURCES: tuple[str, ...] = ("meta.domain", "webHost")
ID_SOURCES: tuple[str, ...] = ("meta.id", "uuid")
DEDUP_ORDER: tuple[str, ...] = ("meta.dt", "meta.request_id", "meta.uri")
IP_SOURCES: tuple[str, ...] = ("http.client_ip", "ip", "client_ip")
UA_STRING_SOURCE = "agent.ua_string"
UA_HEADERS_SOURCE = "http.request_headers"
UA_HEADER_KEY = "user-agent"

CANARY_DOMAIN = "canary"
GEOCODED_DATA = "geocoded_data"
LEGACY_IP = "ip"
USER_AGENT_MAP = "user_agent_map"
LEGACY_USERAGENT = "useragent"
IS_WMF_DOMAIN = "is_wmf_domain"
NORMALIZED_HOST = "normalized_host"

#: Hosts matching this (unanchored, on the lower-cased host) pass ``filter_allowed_domains``.
ALLOWED_DOMAIN_REGEX = "translate.google"

WMF_APP_PREFIX = "WikipediaApp/"

#: The legacy EventLogging ``useragent`` struct, field order as the reference builds it.
LEGACY_USERAGENT_TYPE = StructType(
    [
        StructField("browser_family", StringType(), True),
        StructField("browser_major", StringType(), True),
        StructField("browser_minor", StringType(), True),
        StructField("device_family", StringType(), True),
        StructField("is_bot", BooleanType(), True),
        StructField("is_mediawiki", BooleanType(), True),
        StructField("os_family", StringType(), True),
        StructField("os_major", StringType(), True),
        StructField("os_minor", StringType(), True),
        StructField("wmf_app_version", StringType(), True),
    ]
)


class TransformConfigError(EljobsError, ValueError):
    """A transform function is missing a setting it needs, or a setting names a missing field."""


# ---------------------------------------------------------------------------------------------
# Column lookup


@dataclass(frozen=True)
class FoundColumn:
    """A source column found in a frame: its path as spelled in the schema, type and Column."""

    path: tuple[str, ...]
    data_type: DataType

    @property
    def column(self) -> Column:
        """The Spark column of this field."""
        return field(self.path)

    @property
    def name(self) -> str:
        """The dotted path as spelled in the schema."""
        return ".".join(self.path)


def find_column(schema: StructType, path: str) -> FoundColumn | None:
    """Resolve a dotted ``path`` through structs, case-insensitively; None when absent."""
    current: DataType = schema
    actual: list[str] = []
    for part in path.split("."):
        if not isinstance(current, StructType):
            return None
        wanted = part.lower()
        match = next((f for f in current.fields if f.name.lower() == wanted), None)
        if match is None:
            return None
        actual.append(match.name)
        current = match.dataType
    return FoundColumn(tuple(actual), current)


def find_columns(schema: StructType, paths: Sequence[str]) -> list[FoundColumn]:
    """The columns of ``paths`` that exist in ``schema``, in the order of ``paths``."""
    found = (find_column(schema, p) for p in paths)
    return [f for f in found if f is not None]


def coalesce_sources(found: Sequence[FoundColumn]) -> Column:
    """``COALESCE`` of the found columns as strings (a single column is used as it is)."""
    cols = [
        f.column if isinstance(f.data_type, StringType) else f.column.cast("string") for f in found
    ]
    return cols[0] if len(cols) == 1 else F.coalesce(*cols)


def _describe(context: TransformContext | None) -> str:
    if context is None:
        return "the DataFrame"
    spec = "/".join(f"{k}={v}" for k, v in context.partition.items())
    return f"{context.database}.{context.table} ({spec})" if spec else context.table


def _options(df: DataFrame, context: TransformContext | None, key: str) -> str | None:
    """``key`` from the context's options, else from the session's Spark conf."""
    if context is not None and context.options.get(key):
        return context.options[key]
    value = df.sparkSession.conf.get(key, None)
    return value or None


def _columns_except(df: DataFrame, *names: str) -> list[Column]:
    """Every top-level column except ``names`` (compared case-insensitively), in order."""
    drop = {n.lower() for n in names}
    return [F.col(quote_name(c)) for c in df.columns if c.lower() not in drop]


def _top_level(schema: StructType, name: str) -> StructField | None:
    return next((f for f in schema.fields if f.name.lower() == name.lower()), None)


# ---------------------------------------------------------------------------------------------
# Transform functions


def remove_canary_events(df: DataFrame, *, context: TransformContext | None = None) -> DataFrame:
    """Drop canary events: keep rows whose ``meta.domain`` is NULL or not exactly ``canary``.

    No ``meta.domain`` column → the input, unchanged.
    """
    found = find_column(df.schema, "meta.domain")
    if found is None:
        log.info("%s has no meta.domain column; not removing canary events", _describe(context))
        return df
    log.info("Removing events where %s = %r in %s", found.name, CANARY_DOMAIN, _describe(context))
    domain = found.column
    return df.where(domain.isNull() | (domain != F.lit(CANARY_DOMAIN)))


def _sources_or_skip(
    df: DataFrame, names: Sequence[str], context: TransformContext | None, outcome: str
) -> list[FoundColumn]:
    """The source columns of ``names`` that ``df`` has; when none, log why and what follows."""
    found = find_columns(df.schema, names)
    if not found:
        log.info("%s has none of %s; %s", _describe(context), " or ".join(names), outcome)
    return found


def deduplicate(df: DataFrame, *, context: TransformContext | None = None) -> DataFrame:
    """Keep one row per event id (``COALESCE(meta.id, uuid)``), the latest by ``meta.dt``.

    Rows whose ids are all NULL get a unique ``fake_<uuid>`` key, so they are never dropped.
    When ``meta.dt``, ``meta.request_id`` or ``meta.uri`` exist, the row kept per key is the
    first ordered by them descending with NULLs last; otherwise an arbitrary one. The output
    schema is the input's. No id column → the input, unchanged.

    Plan: ranking every row needs a shuffle of every row. When ``df`` reads cached data (a
    notebook's ``df.cache()``), only narrow (key, ordering, row id) records are aggregated and
    the chosen rows kept in one more pass over the cache (:func:`_deduplicate_cached`); the
    result is the same. Refine does not cache its input (it is parsed once, while the partition
    is written), so there the rows are ranked.
    """
    ids = _sources_or_skip(df, ID_SOURCES, context, "not deduplicating")
    if not ids:
        return df
    order = find_columns(df.schema, DEDUP_ORDER)
    log.info(
        "Dropping duplicates by %s in %s, keeping the first by %s",
        ", ".join(f.name for f in ids),
        _describe(context),
        ", ".join(f"{f.name} DESC" for f in order) or "nothing (any row)",
    )
    key_name = "__eljobs_dedup_key"
    rank_name = "__eljobs_dedup_rank"
    if _reads_cached_data(df):
        log.info("Input is cached: deduplicating through a narrow aggregation of the ids")
        return _deduplicate_cached(df, coalesce_sources(ids), order, key_name)
    ordering = [f.column.desc_nulls_last() for f in order]
    fake = F.concat(F.lit("fake_"), F.expr("uuid()"))
    keyed = df.withColumn(key_name, F.coalesce(coalesce_sources(ids), fake))
    if not ordering:
        return keyed.dropDuplicates([key_name]).drop(key_name)
    # Shuffled by key explicitly: for the "rank = 1" filter Spark otherwise also sorts every row
    # before the shuffle to drop duplicates early (a partial WindowGroupLimit), which costs a
    # second sort of the whole hour and saves nothing when duplicates are rare (measured on a
    # million events: read + deduplicate 8.9 s with it, 8.1 s without).
    keyed = keyed.repartition(key_name)
    window = Window.partitionBy(key_name).orderBy(*ordering)
    return (
        keyed.withColumn(rank_name, F.row_number().over(window))
        .where(F.col(rank_name) == 1)
        .drop(rank_name, key_name)
    )


def _reads_cached_data(df: DataFrame) -> bool:
    """True when ``df``'s plan reads cached (persisted) data, so scanning it again is cheap."""
    try:
        plan = df._jdf.queryExecution().withCachedData().toString()
    except Exception:  # not a classic JVM-backed DataFrame (e.g. Spark Connect)
        return False
    return "InMemoryRelation" in str(plan)


def _deduplicate_cached(
    df: DataFrame, key: Column, order: Sequence[FoundColumn], key_name: str
) -> DataFrame:
    """Deduplicate without shuffling whole rows, for input that is cheap to scan twice.

    Each row gets an id (``monotonically_increasing_id``: stable across scans of cached data).
    A narrow aggregation over (key, ordering columns, row id) finds, for every key seen more
    than once, the id of the row to keep (``max_by`` the ordering struct: struct comparison puts
    NULL fields first, so the maximum is the first row of ``ORDER BY ... DESC NULLS LAST``).
    Those few (key, id) pairs are broadcast and one pass keeps unique or NULL keys and the
    chosen rows. Same result as ranking every row, without moving the rows themselves.
    """
    row_name, winner_name, count_name = "__eljobs_dedup_row", "__eljobs_dedup_win", "__eljobs_n"
    keyed = df.withColumn(key_name, key).withColumn(row_name, F.monotonically_increasing_id())
    row = F.col(row_name)
    if order:
        ranking = F.struct(*[f.column.alias(f"o{i}") for i, f in enumerate(order)])
        winner = F.max_by(row, ranking)
    else:
        winner = F.min(row)
    winners = (
        keyed.where(F.col(key_name).isNotNull())
        .groupBy(key_name)
        .agg(F.count(F.lit(1)).alias(count_name), winner.alias(winner_name))
        .where(F.col(count_name) > 1)
        .select(key_name, winner_name)
    )
    joined = keyed.join(F.broadcast(winners), key_name, "left")
    kept = joined.where(F.col(winner_name).isNull() | (F.col(winner_name) == row))
    return kept.select(*[F.col(quote_name(c)) for c in df.columns])


def geocode_ip(
    df: DataFrame, *, context: TransformContext | None = None, database: str | None = None
) -> DataFrame:
    """Add ``geocoded_data`` (``map<string,string>``, last) from the client IP.

    Sources: ``http.client_ip``, ``ip``, ``client_ip`` (COALESCE). NULL source → NULL map; else
    the keys of :data:`eljobs.refine.geo.GEO_KEYS` (``Unknown`` / ``--`` when unknown, also for
    Wikimedia-internal and unparsable addresses). An existing ``geocoded_data`` column is
    replaced. A top-level ``ip`` column becomes ``COALESCE(ip, source)`` and moves to the end.

    Args:
        df: the frame.
        context: the target; its options may name the database (``geocode_ip.database``,
            which Refine's ``--geocode_database`` sets).
        database: path of a MaxMind City database, or ``bundled`` for the 2018 GeoLite2 of
            the demo and tests; default from :func:`geo.resolve_database_path` (the production
            ``/usr/share/GeoIP/GeoIP2-City.mmdb`` unless ``$ELJOBS_MAXMIND_CITY_DB`` is set).

    Raises:
        GeocodeDatabaseError: the database file does not exist (the message names it).
    """
    sources = _sources_or_skip(df, IP_SOURCES, context, "not geocoding")
    if not sources:
        return df
    db_path = geo.resolve_database_path(database, context.options if context else None)
    ip = coalesce_sources(sources)
    log.info(
        "Geocoding %s into %s in %s with %s (%s)",
        ", ".join(f.name for f in sources),
        GEOCODED_DATA,
        _describe(context),
        db_path,
        geo.describe_database(db_path),
    )
    tmp = "__eljobs_geo"
    with_geo = df.withColumn(tmp, geo.geocode_struct(ip, db_path))
    parts = F.col(tmp)
    geo_map = F.when(parts.isNull(), F.lit(None)).otherwise(
        F.create_map(*[c for key in geo.GEO_KEYS for c in (F.lit(key), parts.getField(key))])
    )
    legacy_ip = _top_level(df.schema, LEGACY_IP)
    drop = [GEOCODED_DATA] + ([LEGACY_IP] if legacy_ip is not None else [])
    out = [
        *_columns_except(df, *drop),
        geo_map.cast(MapType(StringType(), StringType())).alias(GEOCODED_DATA),
    ]
    if legacy_ip is not None:
        # The legacy EventLogging capsule's ip: keep a value it has, else fill it from the source.
        log.info("Setting %s to COALESCE(%s, source)", LEGACY_IP, legacy_ip.name)
        out.append(F.coalesce(F.col(quote_name(legacy_ip.name)), ip).alias(LEGACY_IP))
    return with_geo.select(*out)


def _user_agent_source(schema: StructType) -> tuple[Column, list[str]] | None:
    cols: list[Column] = []
    names: list[str] = []
    ua_string = find_column(schema, UA_STRING_SOURCE)
    if ua_string is not None:
        cols.append(coalesce_sources([ua_string]))
        names.append(ua_string.name)
    headers = find_column(schema, UA_HEADERS_SOURCE)
    if headers is not None and isinstance(headers.data_type, MapType):
        cols.append(headers.column.getItem(UA_HEADER_KEY).cast("string"))
        names.append(f"{headers.name}['{UA_HEADER_KEY}']")
    if not cols:
        return None
    return (cols[0] if len(cols) == 1 else F.coalesce(*cols)), names


def _wants_legacy_useragent(df: DataFrame, context: TransformContext | None) -> bool:
    schemas = [df.schema]
    if context is not None and context.table_schema is not None:
        schemas.append(context.table_schema)
    for schema in schemas:
        f = _top_level(schema, LEGACY_USERAGENT)
        if f is not None and isinstance(f.dataType, StructType):
            return True
    return False


def _struct_as(col: Column, source: StructType, target: StructType) -> Column:
    """``col`` (of type ``source``) rebuilt as ``target`` by field name; NULL stays NULL."""
    by_name = {f.name.lower(): f for f in source.fields}
    members = []
    for t in target.fields:
        s = by_name.get(t.name.lower())
        value = col.getField(s.name) if s is not None else F.lit(None)
        members.append(value.cast(t.dataType).alias(t.name))
    return F.when(col.isNull(), F.lit(None)).otherwise(F.struct(*members))


def parse_user_agent(df: DataFrame, *, context: TransformContext | None = None) -> DataFrame:
    """Add ``user_agent_map`` (``map<string,string>``, last), and the legacy ``useragent`` struct.

    Sources: ``agent.ua_string``, then ``http.request_headers['user-agent']`` (COALESCE). NULL
    source → NULL map; else keys ``browser_family``, ``browser_major``, ``device_family``,
    ``os_family``, ``os_major``, ``os_minor`` (``-`` when unknown, not parsed past 400
    characters) and ``wmf_app_version`` (the text after a leading ``WikipediaApp/`` up to the
    first space, else ``-``). An existing ``user_agent_map`` is replaced.

    When the frame has a struct column ``useragent``, or ``context.table_schema`` does, the
    struct :data:`LEGACY_USERAGENT_TYPE` is (re)built from the map, ``browser_minor`` NULL,
    ``is_bot = device_family = 'Spider' OR (device_family = 'Other' AND is_spider(ua))``,
    ``is_mediawiki = lower(ua) LIKE '%mediawiki%'``; a non-NULL existing value is kept
    (COALESCE) and a NULL map gives a NULL struct. It goes after ``user_agent_map``.
    """
    source = _user_agent_source(df.schema)
    if source is None:
        log.info(
            "%s has neither %s nor %s['%s']; not parsing user agents",
            _describe(context),
            UA_STRING_SOURCE,
            UA_HEADERS_SOURCE,
            UA_HEADER_KEY,
        )
        return df
    ua, names = source
    legacy = _wants_legacy_useragent(df, context)
    log.info(
        "Parsing user agents from %s into %s%s in %s",
        ", ".join(names),
        USER_AGENT_MAP,
        f" and the legacy {LEGACY_USERAGENT} struct" if legacy else "",
        _describe(context),
    )
    tmp = "__eljobs_ua"
    parsed = df.withColumn(tmp, ua_batch.ua_struct(ua, with_spider=legacy))
    parts = F.col(tmp)
    app_version = F.when(
        ua.startswith(WMF_APP_PREFIX),
        F.substring_index(F.substring(ua, len(WMF_APP_PREFIX) + 1, 1 << 30), " ", 1),
    ).otherwise(F.lit(ua_batch.NA))
    entries = [c for name in ua_batch.UA_FIELDS for c in (F.lit(name), parts.getField(name))]
    ua_map = F.when(ua.isNull(), F.lit(None)).otherwise(
        F.create_map(*entries, F.lit("wmf_app_version"), app_version)
    )
    ua_map = ua_map.cast(MapType(StringType(), StringType()))
    existing = _top_level(df.schema, LEGACY_USERAGENT)
    drop = [USER_AGENT_MAP] + ([LEGACY_USERAGENT] if legacy else [])
    out = [*_columns_except(df, *drop), ua_map.alias(USER_AGENT_MAP)]
    if legacy:
        device = parts.getField("device_family")
        is_bot = (device == F.lit("Spider")) | (
            (device == F.lit("Other")) & parts.getField("is_spider")
        )
        built = F.struct(
            parts.getField("browser_family").alias("browser_family"),
            parts.getField("browser_major").alias("browser_major"),
            F.lit(None).cast(StringType()).alias("browser_minor"),
            device.alias("device_family"),
            is_bot.alias("is_bot"),
            F.lower(ua).contains("mediawiki").alias("is_mediawiki"),
            parts.getField("os_family").alias("os_family"),
            parts.getField("os_major").alias("os_major"),
            parts.getField("os_minor").alias("os_minor"),
            app_version.alias("wmf_app_version"),
        )
        new_struct = F.when(ua.isNull(), F.lit(None)).otherwise(built)
        new_struct = new_struct.cast(LEGACY_USERAGENT_TYPE)
        if existing is not None and isinstance(existing.dataType, StructType):
            current = F.col(quote_name(existing.name))
            if existing.dataType != LEGACY_USERAGENT_TYPE:
                # A differently shaped struct (e.g. an older table): keep our layout, add its
                # extra members, and line both up by name so COALESCE sees one type.
                extra = [
                    f
                    for f in existing.dataType.fields
                    if f.name.lower() not in {t.name for t in LEGACY_USERAGENT_TYPE.fields}
                ]
                union = StructType([*LEGACY_USERAGENT_TYPE.fields, *extra])
                current = _struct_as(current, existing.dataType, union)
                new_struct = _struct_as(new_struct, LEGACY_USERAGENT_TYPE, union)
            new_struct = F.coalesce(current, new_struct)
        out.append(new_struct.alias(LEGACY_USERAGENT))
    return parsed.select(*out)


def add_is_wmf_domain(df: DataFrame, *, context: TransformContext | None = None) -> DataFrame:
    """Add ``is_wmf_domain``: the WMF-host test of ``meta.domain`` / ``webHost`` (false for NULL).

    Neither column exists → ``is_wmf_domain`` is a NULL boolean.
    """
    return _add_from_domain(df, context, IS_WMF_DOMAIN, BooleanType(), is_wmf_hostname)


def filter_allowed_domains(df: DataFrame, *, context: TransformContext | None = None) -> DataFrame:
    """Keep rows from allowed domains (``meta.domain`` / ``webHost``).

    Allowed: NULL or empty, the lower-cased domain containing a match of ``translate.google``
    (a regex: ``.`` is any character), or a WMF host. No source column → the input, unchanged.
    """
    sources = _sources_or_skip(df, DOMAIN_SOURCES, context, "not filtering domains")
    if not sources:
        return df
    log.info(
        "Keeping allowed domains of %s in %s",
        ", ".join(f.name for f in sources),
        _describe(context),
    )
    domain = coalesce_sources(sources)
    allowed = (
        domain.isNull()
        | (domain == F.lit(""))
        | F.lower(domain).rlike(ALLOWED_DOMAIN_REGEX)
        | is_wmf_hostname(domain)
    )
    return df.where(allowed)


def add_normalized_host(df: DataFrame, *, context: TransformContext | None = None) -> DataFrame:
    """Add ``normalized_host`` (:data:`eljobs.columns.NORMALIZED_HOST_TYPE`).

    From ``meta.domain`` / ``webHost`` with the algorithm of
    :func:`eljobs.columns.normalized_host`; neither exists → a NULL struct of that type.
    """
    sources = _sources_or_skip(df, DOMAIN_SOURCES, context, f"{NORMALIZED_HOST} will be NULL")
    if not sources:
        return df.withColumn(NORMALIZED_HOST, F.lit(None).cast(NORMALIZED_HOST_TYPE))
    log.info(
        "Adding %s from %s in %s",
        NORMALIZED_HOST,
        ", ".join(f.name for f in sources),
        _describe(context),
    )
    # The struct reads the labels a dozen times. As a column of their own (a projection Spark
    # keeps apart because its expression is not cheap) they are computed once per row; nested
    # into the struct's expression, this transform followed by normalize_and_widen cost as
    # much as parsing the JSON input.
    labels = "__eljobs_host_labels"
    host = normalized_host_of_labels(F.col(labels))
    # Typed nullable as the reference's (a Hive UDF result): a CASE without ELSE is nullable
    # unless a WHEN is the literal TRUE, so the always-true test names the labels column.
    always = F.col(labels).isNull() | F.col(labels).isNotNull()
    return (
        df.withColumn(labels, host_labels(coalesce_sources(sources)))
        .withColumn(NORMALIZED_HOST, F.when(always, host))
        .drop(labels)
    )


def _add_from_domain(
    df: DataFrame,
    context: TransformContext | None,
    name: str,
    null_type: DataType,
    build: Callable[[Column], Column],
) -> DataFrame:
    """Add column ``name`` built from the first non-NULL domain source, or a typed NULL."""
    sources = _sources_or_skip(df, DOMAIN_SOURCES, context, f"{name} will be NULL")
    if not sources:
        return df.withColumn(name, F.lit(None).cast(null_type))
    log.info(
        "Adding %s from %s in %s", name, ", ".join(f.name for f in sources), _describe(context)
    )
    return df.withColumn(name, build(coalesce_sources(sources)))


def parse_timestamp_fields(df: DataFrame, *, context: TransformContext | None = None) -> DataFrame:
    """Convert the listed fields to timestamps (``TO_TIMESTAMP(field)``; unparsable → NULL).

    The list (comma-separated, nested paths allowed, matched case-insensitively) comes from
    ``context.options`` or the Spark conf, key :data:`TIMESTAMP_FIELDS_KEY`. Each field is
    replaced in place (nested ones inside their struct).

    Raises:
        TransformConfigError: the list is unset or empty, or names a field the frame lacks.
    """
    raw = _options(df, context, TIMESTAMP_FIELDS_KEY)
    names = [n.strip() for n in (raw or "").split(",") if n.strip()]
    if not names:
        raise TransformConfigError(
            "parse_timestamp_fields: expected a comma-separated list of fields to parse as "
            f"timestamps in the Spark configuration {TIMESTAMP_FIELDS_KEY}; found it "
            f"{'empty' if raw is not None else 'unset'}"
        )
    found: list[FoundColumn] = []
    missing: list[str] = []
    for name in names:
        f = find_column(df.schema, name)
        if f is None:
            missing.append(name)
        else:
            found.append(f)
    if missing:
        raise TransformConfigError(
            f"parse_timestamp_fields: {TIMESTAMP_FIELDS_KEY} names field(s) "
            f"{', '.join(missing)} that {_describe(context)} does not have; its top-level "
            f"columns are {', '.join(df.columns)}"
        )
    log.info("Parsing %s as timestamps in %s", ", ".join(f.name for f in found), _describe(context))
    for f in found:
        # Spark 3's TO_TIMESTAMP(x) without a format is CAST(x AS TIMESTAMP), NULL when it
        # does not parse; try_cast keeps that under Spark 4's ANSI mode.
        parsed = f.column.try_cast("timestamp")
        if len(f.path) == 1:
            df = df.withColumn(f.path[0], parsed)
        else:
            top = F.col(quote_name(f.path[0]))
            df = df.withColumn(f.path[0], top.withField(".".join(f.path[1:]), parsed))
    return df


def normalize_field_names_and_widen_types(
    df: DataFrame, *, context: TransformContext | None = None
) -> DataFrame:
    """The Refine normalize-and-widen step (the runner's step before evolution) as a transform
    function.

    Delegates to :func:`eljobs.refine.frames.normalize_and_widen`, the runner's own step, so
    the two are one implementation.
    """
    log.info("Normalizing field names and widening types in %s", _describe(context))
    return normalize_and_widen(df)


#: The chain ``event_transforms`` applies, in order.
EVENT_TRANSFORMS: tuple[TransformFn, ...] = (
    remove_canary_events,
    deduplicate,
    geocode_ip,
    parse_user_agent,
    add_is_wmf_domain,
    add_normalized_host,
)


def event_transforms(df: DataFrame, *, context: TransformContext | None = None) -> DataFrame:
    """Apply :data:`EVENT_TRANSFORMS` in order (no domain filtering)."""
    for fn in EVENT_TRANSFORMS:
        df = fn(df, context=context)
    return df


# Aliases kept for configurations written for the reference.
deduplicate_eventlogging = deduplicate
deduplicate_eventbus = deduplicate
eventlogging_filter_is_allowed_hostname = filter_allowed_domains
parseTimestampFields = parse_timestamp_fields
normalizeFieldNamesAndWidenTypes = normalize_field_names_and_widen_types

#: Every name ``--transform_functions`` accepts → its function: each name of
#: ``TRANSFORM_NAMES`` is a function of this module (aliases above included).
TRANSFORMS: dict[str, TransformFn] = {name: globals()[name] for name in TRANSFORM_NAMES}

__all__ = [
    "TIMESTAMP_FIELDS_KEY",
    "TRANSFORMS",
    "FoundColumn",
    "TransformConfigError",
    "TransformLookupError",
    "coalesce_sources",
    "find_column",
    "find_columns",
    *TRANSFORMS,
]


# --------------------------------------------------------------------------------------------
# --transform_functions lookup


def resolve_transforms(names: Sequence[str]) -> list[TransformFn]:
    """Turn ``--transform_functions`` entries into functions: registry names (bare or as the
    Scala object name) and explicit ``package.module:function`` entries, as
    :mod:`eljobs.refine.transform_names` describes; blank entries are skipped.

    Raises:
        TransformLookupError: an entry is neither (the message names the option and the entry
            and lists the accepted names).
    """
    out: list[TransformFn] = []
    for raw in names:
        name = raw.strip()
        if name:
            out.append(import_function(name) if ":" in name else TRANSFORMS[registry_name(name)])
    return out
