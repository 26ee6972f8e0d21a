"""Benchmark: sanitize N rows of a real allowlisted table against a plain select-and-write.

Table: ``navigationtiming`` as Refine writes it from the real Event Platform schema
(``../shared/data/event-schemas-secondary/navigationtiming``, top-level names normalized, all
types converted by :func:`eljobs.refine.schema.jsonschema_to_spark`, hourly partition columns),
sanitized with its real entry of the analytics allowlist (``event.pageviewToken: hash``, about
45 kept ``event`` fields, the EventLogging ``__defaults__``) and a 64-hex salt made the way
``salts rotate`` makes them. Every leaf of the input holds a value (strings of realistic length,
pageview tokens 20 hex characters, a map of request headers), generated with Spark expressions
and written once to Parquet (not timed).

Timed in the same run on the same input, interleaved, ``--repeat`` times each:

``floor``     read the Parquet input, select the same columns the sanitizer keeps (every
              allowlisted leaf, ``pageviewToken`` included, unhashed, plus the partition
              columns) as plain columns, write Parquet (snappy): the data the sanitized table
              carries, without masking or hashing;
``sanitize``  read the same input, :func:`eljobs.sanitize.sanitize` (full schema kept, other
              fields NULL, the token hashed), write Parquet (snappy);
``copy``      (context only) read and write every column as is.

Prints the machine, input size, versions, rows/s (median of the repeats) and the ratio
sanitize / floor (target: at most 1.3) three ways: median wall time, best wall time, and
median CPU seconds of the Spark JVM (the least sensitive to other load on a shared machine),
then checks a sample of the output (hashes equal
Python's HMAC, non-allowlisted fields NULL).

Usage::

    .venv/bin/python bench/sanitize/run.py [--n 1000000] [--repeat 3] [--work DIR] [--keep]
"""

from __future__ import annotations

import argparse
import os
import platform
import secrets
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

SHARED = Path(os.environ.get("ELJOBS_SHARED", ROOT.parent / "shared"))
TABLE = "navigationtiming"
PARTITION = {"year": 2024, "month": 1, "day": 5, "hour": 3}


def machine() -> dict[str, str]:
    """nproc, memory, load and versions, for the report."""
    from eljobs.testing.machine import total_memory

    mem = total_memory()
    load = os.getloadavg() if hasattr(os, "getloadavg") else (0.0, 0.0, 0.0)
    return {
        "nproc": str(os.cpu_count()),
        "memory": mem,
        "load average (1/5/15 min)": " / ".join(f"{x:.1f}" for x in load),
        "python": platform.python_version(),
        "pyspark": metadata.version("pyspark"),
        "pyarrow": metadata.version("pyarrow"),
        "platform": platform.platform(),
    }


def table_schema() -> Any:
    """The refined ``navigationtiming`` schema from the real Event Platform schema."""
    import yaml
    from pyspark.sql.types import LongType, StructField, StructType

    from eljobs.io.fs import LocalFileSystem
    from eljobs.naming import normalize_name
    from eljobs.refine.schema import jsonschema_to_spark, latest_file

    fs = LocalFileSystem()
    latest = latest_file(fs, f"file://{SHARED / 'data' / 'event-schemas-secondary' / TABLE}")
    assert latest is not None
    converted = jsonschema_to_spark(yaml.safe_load(fs.read_text(latest)))
    fields = [StructField(normalize_name(f.name), f.dataType, True) for f in converted.fields]
    fields += [StructField(k, LongType(), True) for k in PARTITION]
    return StructType(fields)


def _gen(dt: Any, name: str, idx: Any) -> Any:
    """A Spark expression giving every row a value of type ``dt`` (varied by row id)."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import (
        ArrayType,
        BooleanType,
        DoubleType,
        IntegerType,
        LongType,
        MapType,
        StringType,
        StructType,
    )

    if isinstance(dt, StructType):
        return F.struct(*[_gen(f.dataType, f.name, idx).alias(f.name) for f in dt.fields])
    if isinstance(dt, StringType):
        if name.lower().endswith("token"):
            # 20 hex characters, like real pageview tokens.
            return F.substring(F.sha2(F.concat(F.lit(name), idx.cast("string")), 256), 1, 20)
        if name.lower() in ("uuid", "id"):
            return F.concat(F.lit(f"{name}-"), idx.cast("string"))
        return F.concat(F.lit(f"{name}-value-"), (idx % 997).cast("string"))
    if isinstance(dt, LongType | IntegerType):
        return (idx * 7919 % 100_000).cast(dt)
    if isinstance(dt, DoubleType):
        return (idx % 1000) / F.lit(7.0)
    if isinstance(dt, BooleanType):
        return idx % 2 == 0
    if isinstance(dt, ArrayType):
        return F.array(_gen(dt.elementType, name, idx), _gen(dt.elementType, name, idx + 1))
    if isinstance(dt, MapType):
        return F.create_map(
            F.lit("user-agent"),
            _gen(dt.valueType, "ua", idx),
            F.lit("accept-language"),
            _gen(dt.valueType, "lang", idx),
        )
    return F.lit(None).cast(dt)


def build_input(spark: Any, path: str, n: int, partitions: int) -> Any:
    """Write N generated rows of the table schema to Parquet at ``path``; returns the schema."""
    from pyspark.sql import functions as F

    schema = table_schema()
    idx = F.col("id")
    cols = []
    for f in schema.fields:
        if f.name in PARTITION:
            cols.append(F.lit(PARTITION[f.name]).cast("bigint").alias(f.name))
        else:
            cols.append(_gen(f.dataType, f.name, idx).cast(f.dataType).alias(f.name))
    df = spark.range(0, n, numPartitions=partitions).select(*cols)
    df.write.mode("overwrite").parquet(path)
    return schema


def kept_columns(allowlist: Any, schema: Any) -> list[Any]:
    """Plain column expressions for every leaf the mask keeps or hashes (flattened)."""
    from pyspark.sql import functions as F

    from eljobs.sanitize.mask import HASH_NODE, KEEP_NODE, StructMask, compile_table_mask

    mask = compile_table_mask(
        allowlist, schema, table=TABLE, partition_keys=list(PARTITION), has_salt=True
    )
    out: list[Any] = []

    def walk(node: Any, col: Any, name: str) -> None:
        if node is KEEP_NODE or node is HASH_NODE:
            out.append(col.alias(name))
        elif isinstance(node, StructMask):
            for field, child in node.fields.items():
                walk(child, col.getField(field), f"{name}_{field}" if name else field)

    assert mask.root is not None
    for field, node in mask.root.fields.items():
        walk(node, F.col(field), field)
    return out


def jvm_cpu_seconds(spark: Any) -> float:
    """User + system CPU seconds used so far by the driver JVM (which runs the local[*]
    executors): on a shared machine this moves much less with other people's load than wall
    time does."""
    pid = int(spark.sparkContext._jvm.java.lang.ProcessHandle.current().pid())
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def timed_write(df: Any, path: str) -> tuple[float, float]:
    """(wall seconds, JVM CPU seconds) to write ``df`` to Parquet at ``path`` (overwrite)."""
    spark = df.sparkSession
    c0 = jvm_cpu_seconds(spark)
    t0 = time.perf_counter()
    df.write.mode("overwrite").option("compression", "snappy").parquet(path)
    return time.perf_counter() - t0, jvm_cpu_seconds(spark) - c0


def run(
    n: int, repeat: int, work: Path, *, partitions: int | None = None, spark: Any = None
) -> dict[str, Any]:
    """Run the benchmark; returns the figures (also printed)."""
    from eljobs.sanitize import Salt, load_allowlist, sanitize
    from eljobs.spark import get_session

    if spark is None:
        spark = get_session("local", app_name="bench-sanitize")
    partitions = partitions or max(2, (os.cpu_count() or 2))
    spark.conf.set("spark.sql.parquet.compression.codec", "snappy")
    in_path = str(work / "input")
    schema = build_input(spark, in_path, n, partitions)
    allowlist = load_allowlist(SHARED / "data/allowlists/event_sanitized_analytics_allowlist.yaml")
    salt = Salt(
        datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 4, 1, tzinfo=UTC), secrets.token_hex(32)
    )
    input_bytes = sum(p.stat().st_size for p in Path(in_path).glob("*.parquet"))

    kept = kept_columns(allowlist, schema)

    def floor() -> tuple[float, float]:
        df = spark.read.parquet(in_path)
        return timed_write(df.select(*kept), str(work / "floor"))

    def copy() -> tuple[float, float]:
        df = spark.read.parquet(in_path)
        return timed_write(df.select(*df.columns), str(work / "copy"))

    def sanitized() -> tuple[float, float]:
        df = spark.read.parquet(in_path)
        out = sanitize(df, allowlist, table=TABLE, partition=PARTITION, salts=[salt])
        return timed_write(out, str(work / "sanitized"))

    times: dict[str, list[float]] = {"floor": [], "sanitize": [], "copy": []}
    cpu: dict[str, list[float]] = {"floor": [], "sanitize": [], "copy": []}
    for _ in range(repeat):
        for k, fn in (("floor", floor), ("sanitize", sanitized), ("copy", copy)):
            wall, used = fn()
            times[k].append(wall)
            cpu[k].append(used)
    med = {k: statistics.median(v) for k, v in times.items()}
    best = {k: min(v) for k, v in times.items()}
    cpu_med = {k: statistics.median(v) for k, v in cpu.items()}
    ratio = med["sanitize"] / med["floor"]
    ratios = {
        "wall, median": ratio,
        "wall, best run": best["sanitize"] / best["floor"],
        "JVM CPU, median": cpu_med["sanitize"] / cpu_med["floor"],
    }

    print("bench/sanitize: sanitize vs plain select-and-write to Parquet")
    for k, v in machine().items():
        print(f"  {k}: {v}")
    print(f"  table: {TABLE} ({len(schema.fields)} top-level columns, real schema)")
    print(f"  input: {n:,} rows, {input_bytes / 1e6:.1f} MB Parquet, {partitions} partitions")
    print(f"  floor columns: {len(kept)} allowlisted leaves and partition columns")
    print(f"  repeats: {repeat} (interleaved), wall medians and JVM CPU seconds below")
    for k in ("floor", "sanitize", "copy"):
        runs = ", ".join(f"{t:.2f}s" for t in times[k])
        cpus = ", ".join(f"{t:.1f}" for t in cpu[k])
        print(
            f"  {k:9s} {med[k]:7.2f} s  {n / med[k]:>10,.0f} rows/s  (wall runs: {runs}; "
            f"CPU s: {cpus})"
        )
    for name, r in ratios.items():
        verdict = "within" if r <= 1.3 else "ABOVE"
        print(f"  ratio sanitize/floor ({name}): {r:.2f} ({verdict} the 1.3 target)")

    _check(spark, str(work / "sanitized"), in_path, salt.value)
    return {"n": n, "times": times, "cpu": cpu, "median": med, "ratio": ratio, "ratios": ratios}


def _check(spark: Any, out_path: str, in_path: str, salt: str) -> None:
    """The written output is sanitized: hashes are Python's HMAC, other fields NULL."""
    from eljobs.sanitize.hashing import hmac_sha256_hex_py

    src = {r["uuid"]: r for r in spark.read.parquet(in_path).limit(20).collect()}
    out = spark.read.parquet(out_path).where("uuid IN ({})".format(",".join(f"'{u}'" for u in src)))
    rows = out.collect()
    assert rows, "no sample rows found in the output"
    for r in rows:
        s = src[r["uuid"]]
        assert r["event"]["pageviewToken"] == hmac_sha256_hex_py(salt, s["event"]["pageviewToken"])
        assert r["ip"] is None and r["http"] is None and r["meta"] is None
        assert r["event"]["action"] == s["event"]["action"]
    print(f"  output check: {len(rows)} sample rows hashed and masked as expected")


def main(argv: list[str] | None = None) -> int:
    """Command-line entry."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--n", type=int, default=1_000_000)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--partitions", type=int, default=None)
    p.add_argument("--work", type=Path, default=None)
    p.add_argument("--keep", action="store_true", help="keep the work directory")
    args = p.parse_args(argv)
    work = args.work or Path(tempfile.mkdtemp(prefix="bench-sanitize-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        run(args.n, args.repeat, work, partitions=args.partitions)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
