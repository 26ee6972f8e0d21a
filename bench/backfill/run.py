"""Benchmark: the backfill job on one generated hour of N raw lines, against its floor.

Input: one hourly partition of N varnishkafka lines (production format, TAB-separated) built by
:mod:`eljobs.testing.sample` from six real legacy schemas (events from each schema's examples
and random values honouring its types, enums and bounds; the busiest schemas first), user agents
drawn with a Zipf law over 3,000 realistic strings, 2 % invalid lines of every kind; written as
Camus did (gzip SequenceFiles, key = a number, value = the line) by the executors, or as gzip
``<seq>TAB<line>`` text with ``--input text``.

Timed in the same run, on the same input, on ``local[2]``:

``floor``    list the hour, read it (:func:`eljobs.io.raw.read_raw`), pass every batch through
             a no-op ``mapInArrow``, persist, count per hour, write every line to the same file
             sink (:func:`eljobs.io.files.write_files`): the job's own skeleton without the
             processor.
``floor without persist``  the same reading the input twice (count, then write), to show
             what persisting costs.
``eljobs``   ``eljobs.jobs.backfill.run`` with ``--output file://DIR --output_invalid``: list,
             read, parse, validate, serialize, count, write, report.

Prints lines/s of both, the ratio (target: eljobs at most 5 × the floor's time), eljobs against
the reference processor's ~600 lines/s on this machine (aim: 50 ×), the machine, the input and
the versions, then where the time goes: a cProfile of the per-line processor over lines
identical to the first input partition's (``--profile_lines`` of them), in this process.

Usage::

    .venv/bin/python bench/backfill/run.py [--n 1000000] [--input sequence|text]
        [--partitions 2] [--profile_lines 50000] [--work DIR] [--keep]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import platform
import pstats
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

HOUR = datetime(2024, 1, 5, 3, tzinfo=UTC)
REFERENCE_LPS = 600.0
INVALID_FRACTION = 0.02
SEED = 42


def machine() -> dict[str, str]:
    """nproc, memory, load, versions."""
    from eljobs.testing.machine import total_memory

    mem = total_memory()
    versions = {}
    for pkg in ("pyspark", "pyarrow", "jsonschema", "fastjsonschema", "ua-parser", "ua-parser-rs"):
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            versions[pkg] = "-"
    return {
        "nproc": str(os.cpu_count()),
        "memory": mem,
        "load average": " ".join(f"{x:.1f}" for x in os.getloadavg()),
        "python": platform.python_version(),
        **versions,
    }


def generate(spark: Any, raw: Path, schemas: list[Any], n: int, fmt: str, parts: int) -> None:
    """Write the hour under ``raw`` (generated on the executors)."""
    from eljobs.testing.sample import LineGenerator, iter_lines, write_generated_sequence_hour

    d = raw / HOUR.strftime("%Y/%m/%d/%H")
    if fmt == "sequence":
        write_generated_sequence_hour(
            spark,
            d,
            schemas,
            n,
            hour=HOUR,
            seed=SEED,
            partitions=parts,
            invalid_fraction=INVALID_FRACTION,
        )
        return
    per = -(-n // parts)

    def make(index: int, _it: Any) -> Any:
        start = index * per
        gen = LineGenerator(schemas, seed=SEED * 1000 + index)
        count = max(0, min(per, n - start))
        for sl in iter_lines(
            schemas,
            count,
            hour=HOUR,
            first_seq=start + 1,
            invalid_fraction=INVALID_FRACTION,
            generator=gen,
        ):
            yield f"{sl.seq_id or 0}\t{sl.line}"

    rdd = spark.sparkContext.parallelize(range(parts), parts).mapPartitionsWithIndex(make)
    rdd.saveAsTextFile(str(d), "org.apache.hadoop.io.compress.GzipCodec")


def floor_run(spark: Any, raw: Path, out: Path, *, persist: bool = True) -> int:
    """The job's skeleton without the processor; returns the lines written. Without
    ``persist`` the input is read twice (count, then write) instead of cached once."""
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    from eljobs.io.files import write_files
    from eljobs.io.raw import list_raw_input, naming_bad_input, read_raw

    hours = list_raw_input(spark, str(raw), since=HOUR, until=HOUR.replace(hour=HOUR.hour + 1))
    df = read_raw(spark, hours).select("hour", "raw")

    def identity(batches: Any) -> Any:
        yield from batches

    passed = df.mapInArrow(identity, df.schema)
    if persist:
        passed = passed.persist(StorageLevel.DISK_ONLY)  # as the job does
    with naming_bad_input(spark, hours):
        counts = passed.groupBy("hour").count().collect()
    written = write_files(
        passed.select(F.lit("floor").alias("topic"), F.col("raw").alias("value")),
        f"file://{out}",
        topics=["floor"],  # known up front, as the job knows its topics from the counts
    )
    passed.unpersist()
    assert sum(r["count"] for r in counts) == written["floor"]
    return written["floor"]


def eljobs_run(spark: Any, raw: Path, schemas_dir: Path, out: Path, report: Path) -> Any:
    """The backfill job itself."""
    from eljobs.config import parse_config
    from eljobs.jobs.backfill import Config, run

    cfg = parse_config(
        Config,
        [
            "--input_path", str(raw),
            "--since", HOUR.isoformat(),
            "--until", HOUR.replace(hour=HOUR.hour + 1).isoformat(),
            "--schemas_path", str(schemas_dir),
            "--output", f"file://{out}",
            "--output_invalid",
            "--report_path", str(report),
        ],
    )  # fmt: skip
    return run(spark, cfg)


def profile(schemas: list[Any], schemas_dir: Path, lines: int) -> tuple[float, str]:
    """Per-line processing of the first partition's first ``lines`` lines, in this process."""
    import pyarrow as pa

    from eljobs.eventlogging import PRODUCTION_FORMAT, Processor, SchemaRepository, process_batch
    from eljobs.testing.sample import LineGenerator, iter_lines

    gen = LineGenerator(schemas, seed=SEED * 1000)
    raw = [
        sl.line
        for sl in iter_lines(
            schemas, lines, hour=HOUR, invalid_fraction=INVALID_FRACTION, generator=gen
        )
    ]
    proc = Processor(PRODUCTION_FORMAT, SchemaRepository.from_paths([str(schemas_dir)]))
    batches = [
        pa.RecordBatch.from_pydict({"raw": raw[i : i + 10_000]}) for i in range(0, len(raw), 10_000)
    ]
    process_batch(batches[0].slice(0, 100), proc)  # build the validators outside the profile
    prof = cProfile.Profile()
    t0 = time.perf_counter()
    prof.enable()
    for b in batches:
        process_batch(b, proc)
    prof.disable()
    elapsed = time.perf_counter() - t0
    s = io.StringIO()
    pstats.Stats(prof, stream=s).sort_stats("tottime").print_stats(18)
    return elapsed, s.getvalue()


def main() -> int:
    """Run the benchmark and print the report."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--n", type=int, default=1_000_000, help="raw lines (default 1,000,000)")
    ap.add_argument("--input", choices=("sequence", "text"), default="sequence")
    ap.add_argument("--partitions", type=int, default=2, help="input files (default 2)")
    ap.add_argument("--profile_lines", type=int, default=50_000)
    ap.add_argument("--work", default=None, help="work folder (default: a temporary one)")
    ap.add_argument("--keep", action="store_true", help="keep the work folder")
    ap.add_argument(
        "--reuse_input",
        action="store_true",
        help="keep the input of an earlier run in --work when it has the same N and format",
    )
    args = ap.parse_args()

    work = Path(args.work or tempfile.mkdtemp(prefix="eljobs-bench-backfill-"))
    work.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("ELJOBS_WORK", str(work / "spark"))
    os.environ.setdefault("ELJOBS_SPARK_LOG_LEVEL", "ERROR")

    from eljobs.spark import get_session
    from eljobs.testing.sample import DEMO_SCHEMAS, write_sample_schemas

    before = machine()
    spark = get_session(
        "local",
        app_name="bench-backfill",
        conf={"spark.master": "local[2]", "spark.ui.showConsoleProgress": "false"},
    )
    try:
        schemas_dir, raw = work / "schemas", work / "raw"
        schemas = write_sample_schemas(schemas_dir, DEMO_SCHEMAS)
        marker = work / "input.txt"
        wanted = f"n={args.n} input={args.input} partitions={args.partitions} seed={SEED}"
        if args.reuse_input and marker.is_file() and marker.read_text() == wanted:
            gen_s = 0.0
        else:
            shutil.rmtree(raw, ignore_errors=True)
            marker.unlink(missing_ok=True)
            t0 = time.perf_counter()
            generate(spark, raw, schemas, args.n, args.input, args.partitions)
            gen_s = time.perf_counter() - t0
            marker.write_text(wanted)
        for out in ("out_floor", "out_floor_nocache", "out_eljobs"):
            shutil.rmtree(work / out, ignore_errors=True)
        files = [p for p in raw.rglob("part-*") if not p.name.endswith(".crc")]
        size = sum(p.stat().st_size for p in files)

        # start the JVM side and the Python workers before anything is timed
        warm = spark.range(1000, numPartitions=2)
        warm.mapInArrow(lambda it: (b for b in it), warm.schema).count()

        t0 = time.perf_counter()
        floor_lines = floor_run(spark, raw, work / "out_floor")
        floor_s = time.perf_counter() - t0

        t0 = time.perf_counter()
        floor_lines_nc = floor_run(spark, raw, work / "out_floor_nocache", persist=False)
        floor_nc_s = time.perf_counter() - t0

        t0 = time.perf_counter()
        result = eljobs_run(spark, raw, schemas_dir, work / "out_eljobs", work / "account.json")
        eljobs_s = time.perf_counter() - t0
        totals = result.totals()
        after = machine()

        prof_lines = min(args.profile_lines, -(-args.n // args.partitions))
        prof_s, prof_text = profile(schemas, schemas_dir, prof_lines)

        floor_lps, eljobs_lps = floor_lines / floor_s, totals["read"] / eljobs_s
        print()
        print("=" * 78)
        print(f"bench/backfill: N = {args.n:,} raw lines, local[2]")
        print("=" * 78)
        print(
            "machine: "
            + ", ".join(f"{k} {before[k]}" for k in ("nproc", "memory", "load average"))
            + f" (load average at the end: {after['load average']})"
        )
        print("versions: " + ", ".join(f"{k} {v}" for k, v in before.items() if k not in (
            "nproc", "memory", "load average")))  # fmt: skip
        jvm: Any = spark._jvm
        java = jvm.java.lang.System.getProperty("java.version")
        print(f"java {java}, spark {spark.version}")
        kind = "gzip SequenceFile" if args.input == "sequence" else "gzip text"
        print(
            f"input: {kind}, "
            f"{len(files)} files, {size / 1e6:.1f} MB compressed, "
            f"generated in {gen_s:.1f} s (0: reused); "
            f"{INVALID_FRACTION:.0%} invalid lines"
        )
        print()
        print(f"{'run':<8} {'lines':>10} {'seconds':>9} {'lines/s':>10}")
        print(f"{'floor':<8} {floor_lines:>10,} {floor_s:>9.1f} {floor_lps:>10,.0f}")
        print(f"{'eljobs':<8} {totals['read']:>10,} {eljobs_s:>9.1f} {eljobs_lps:>10,.0f}")
        print(
            f"(the floor without persist, reading the input twice: {floor_lines_nc:,} lines in "
            f"{floor_nc_s:.1f} s; persisting costs {floor_s - floor_nc_s:+.1f} s on the floor, "
            "and saves the job a second pass of the processor)"
        )
        print()
        ratio = eljobs_s / floor_s
        print(
            f"eljobs / floor time: {ratio:.1f}x (target <= 5x: "
            f"{'met' if ratio <= 5 else 'NOT met'})"
        )
        print(
            f"eljobs vs the reference processor (~{REFERENCE_LPS:.0f} lines/s, one process): "
            f"{eljobs_lps / REFERENCE_LPS:.1f}x (aim 50x)"
        )
        print(
            "account: read {read:,} = valid {valid:,} + validation {validation:,} + processor "
            "{processor:,}".format(**totals)
        )
        print()
        print(
            f"where the time goes: cProfile of the per-line processor over {prof_lines:,} lines "
            f"identical to the first input partition's, in this process: {prof_s:.1f} s, "
            f"{prof_lines / prof_s:,.0f} lines/s under the profiler"
        )
        print(prof_text)
    finally:
        spark.stop()
        if not args.keep and not args.work:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
