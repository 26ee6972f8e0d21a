"""Benchmark: the backfill job on one hour of realistic raw input, against its floor.

Input: ``gen_raw.py`` (the synthetic raw-line generator of the shared tools; ``--gen_raw`` or
``$ELJOBS_SHARED/tools/gen_raw.py``) with its default options and ``--hdfs-text``: 5,000 user
agents with a Zipf popularity, about 780 bytes a line, 5 % invalid lines of 15 kinds, written
as one ``<seq>TAB<line>`` text file (what ``hdfs dfs -text`` prints), the shape and the input
the reference processor was measured on (827 lines/s, one process). For more than 1,000,000
lines the file is made of 1,000,000-line pieces generated with successive seeds (the
generator's default seed first), concatenated.

Two runs, each in a process of its own on ``local[2]`` (start-up included in the wall time):

``floor``   list the hour, read it (:func:`eljobs.io.raw.read_raw`), pass every batch through a
            no-op ``mapInArrow``, persist, count per hour, write every line to the same file
            sink (:func:`eljobs.io.files.write_files`): the job's skeleton without the processor.
``eljobs``  ``eljobs.jobs.backfill.run`` with ``--output file://DIR --output_invalid``: list,
            read, parse, validate, serialize, count, write, report.

While each runs, the resident memory of its whole process tree (the driver's Python, the JVM,
the Python workers) is sampled every 0.2 s with psutil. Prints lines/s, the ratio to the floor
(target ≤ 2), the multiple of 827 lines/s (target 50, about 41,000 lines/s), the peak memory of
the tree and of the largest Python worker, the machine, the versions and the input size. The
machine may be shared: the load average is printed before and after; the ratios are same-run.

Usage::

    .venv/bin/python bench/backfill/run.py [--n 1000000] [--work DIR] [--gen_raw PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

HOUR = datetime(2019, 4, 1, 19, tzinfo=UTC)  # gen_raw.py's default hour
REFERENCE_LPS = 827.0
CHUNK = 1_000_000
DEFAULT_SEED = 20190401  # gen_raw.py's default seed
SAMPLE_S = 0.2


def machine() -> dict[str, str]:
    """nproc, memory, load, versions."""
    from eljobs.testing.machine import total_memory

    versions = {}
    for pkg in ("pyspark", "pyarrow", "ujson", "jsonschema", "ua-parser", "psutil"):
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            versions[pkg] = "-"
    return {
        "nproc": str(os.cpu_count()),
        "memory": total_memory(),
        "load average": " ".join(f"{x:.1f}" for x in os.getloadavg()),
        "python": platform.python_version(),
        **versions,
    }


# ------------------------------------------------------------------------------- input


def generate(gen_raw: Path, work: Path, n: int) -> tuple[Path, Path, float]:
    """The hour directory and the schema directory of ``n`` generated lines (reused when an
    earlier run in ``work`` made the same); returns them and the seconds spent."""
    raw_dir = work / "raw" / HOUR.strftime("%Y/%m/%d/%H")
    marker = work / "input.txt"
    wanted = f"gen_raw n={n} chunk={CHUNK} seed={DEFAULT_SEED}"
    schemas = work / "gen-0" / "schemas"
    if marker.is_file() and marker.read_text() == wanted and (raw_dir / "raw-hdfs.txt").is_file():
        return raw_dir, schemas, 0.0
    t0 = time.perf_counter()
    pieces = [(k, min(CHUNK, n - k * CHUNK)) for k in range(-(-n // CHUNK))]

    def one(piece: tuple[int, int]) -> Path:
        k, lines = piece
        out = work / f"gen-{k}"
        shutil.rmtree(out, ignore_errors=True)
        cmd = [sys.executable, str(gen_raw), "-n", str(lines), "-o", str(out), "--hdfs-text"]
        cmd += ["--seed", str(DEFAULT_SEED + k)]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        (out / "raw.tsv").unlink(missing_ok=True)  # only the hdfs -text form is read
        return out / "raw-hdfs.txt"

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        files = list(pool.map(one, pieces))
    shutil.rmtree(work / "raw", ignore_errors=True)
    raw_dir.mkdir(parents=True)
    target = raw_dir / "raw-hdfs.txt"
    if len(files) == 1:
        os.replace(files[0], target)
    else:
        with target.open("wb") as out:
            for f in files:
                with f.open("rb") as src:
                    shutil.copyfileobj(src, out, 16 << 20)
                f.unlink()
    marker.write_text(wanted)
    return raw_dir, schemas, time.perf_counter() - t0


# -------------------------------------------------------------------------- the runs


def _session() -> Any:
    from eljobs.spark import get_session

    return get_session(
        "local",
        app_name="bench-backfill",
        conf={"spark.master": "local[2]", "spark.ui.showConsoleProgress": "false"},
    )


def floor_child(work: Path) -> dict[str, Any]:
    """The job's skeleton without the processor, in this process."""
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    from eljobs.io.files import write_files
    from eljobs.io.raw import list_raw_input, naming_bad_input, read_raw

    spark = _session()
    hours = list_raw_input(
        spark, str(work / "raw"), since=HOUR, until=HOUR.replace(hour=HOUR.hour + 1)
    )
    df = read_raw(spark, hours).select("hour", "raw")

    def identity(batches: Any) -> Any:
        yield from batches

    passed = df.mapInArrow(identity, df.schema).persist(StorageLevel.DISK_ONLY)  # as the job
    with naming_bad_input(spark, hours):
        counts = passed.groupBy("hour").count().collect()
    written = write_files(
        passed.select(F.lit("floor").alias("topic"), F.col("raw").alias("value")),
        f"file://{work / 'out_floor'}",
        topics=["floor"],
    )
    passed.unpersist()
    lines = sum(r["count"] for r in counts)
    if lines != written["floor"]:
        raise RuntimeError(f"floor: read {lines} lines but wrote {written['floor']}")
    spark.stop()
    return {"lines": lines}


def job_child(work: Path, schemas: Path) -> dict[str, Any]:
    """The backfill job itself, in this process."""
    from eljobs.config import parse_config
    from eljobs.jobs.backfill import Config, run

    spark = _session()
    cfg = parse_config(
        Config,
        [
            "--input_path", str(work / "raw"),
            "--since", HOUR.isoformat(),
            "--until", HOUR.replace(hour=HOUR.hour + 1).isoformat(),
            "--schemas_path", str(schemas),
            "--output", f"file://{work / 'out_eljobs'}",
            "--output_invalid",
            "--report_path", str(work / "account.json"),
        ],
    )  # fmt: skip
    result = run(spark, cfg)
    spark.stop()
    return {"lines": result.totals()["read"], "totals": result.totals(), "ok": result.ok}


def measure(args: list[str]) -> dict[str, Any]:
    """Run this script as a child with ``args``; wall time and the peak resident memory of its
    process tree, sampled every 0.2 s."""
    import psutil

    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, __file__, *args], stdout=subprocess.PIPE, text=True, cwd=ROOT
    )
    peak = {"tree": 0, "python_worker": 0, "jvm": 0}
    stop = threading.Event()

    def sample() -> None:
        parent = psutil.Process(proc.pid)
        while not stop.is_set():
            try:
                procs = [parent, *parent.children(recursive=True)]
            except psutil.NoSuchProcess:
                return
            total = 0
            for p in procs:
                try:
                    rss = p.memory_info().rss
                    name = p.name()
                except psutil.Error:
                    continue
                total += rss
                if name == "java":
                    peak["jvm"] = max(peak["jvm"], rss)
                elif p.pid != proc.pid:
                    peak["python_worker"] = max(peak["python_worker"], rss)
            peak["tree"] = max(peak["tree"], total)
            stop.wait(SAMPLE_S)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, _ = proc.communicate()
    stop.set()
    sampler.join()
    if proc.returncode != 0:
        raise RuntimeError(f"child {args} exited with {proc.returncode}")
    result = json.loads(out.strip().splitlines()[-1])
    result["seconds"] = time.perf_counter() - t0
    result["peak"] = peak
    return result


def _gib(n: int) -> str:
    return f"{n / 2**30:.2f} GiB"


def main() -> int:
    """Generate (or reuse) the input, time the floor and the job, print the report."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--n", type=int, default=1_000_000, help="raw lines (default 1,000,000)")
    ap.add_argument("--work", default=None, help="work folder (default: a temporary one)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary work folder")
    shared = Path(os.environ.get("ELJOBS_SHARED", ROOT.parent / "shared"))
    ap.add_argument("--gen_raw", default=str(shared / "tools" / "gen_raw.py"))
    ap.add_argument("--only", choices=("floor", "eljobs"), default=None, help=argparse.SUPPRESS)
    ap.add_argument("--child", choices=("floor", "eljobs"), default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()

    work = Path(args.work or tempfile.mkdtemp(prefix="eljobs-bench-backfill-")).absolute()
    work.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("ELJOBS_WORK", str(work / "spark"))
    os.environ.setdefault("ELJOBS_SPARK_LOG_LEVEL", "ERROR")
    if args.child:  # one timed run, in its own process
        schemas = work / "gen-0" / "schemas"
        result = floor_child(work) if args.child == "floor" else job_child(work, schemas)
        sys.stdout.flush()
        print(json.dumps(result))
        return 0

    try:
        before = machine()
        raw_dir, _schemas, gen_s = generate(Path(args.gen_raw), work, args.n)
        size = sum(p.stat().st_size for p in raw_dir.iterdir() if p.is_file())
        for out in ("out_floor", "out_eljobs"):
            shutil.rmtree(work / out, ignore_errors=True)
        common = ["--work", str(work), "--n", str(args.n)]
        runs: dict[str, dict[str, Any]] = {}
        for name in ("floor", "eljobs"):
            if args.only in (None, name):
                runs[name] = measure([*common, "--child", name])
        after = machine()

        print()
        print("=" * 78)
        print(f"bench/backfill: N = {args.n:,} raw lines (gen_raw.py --hdfs-text), local[2]")
        print("=" * 78)
        print(
            "machine: "
            + ", ".join(f"{k} {before[k]}" for k in ("nproc", "memory", "load average"))
            + f" (at the end: {after['load average']}); shared with other work: "
            "absolute rates move with its load, same-run ratios much less"
        )
        skip = ("nproc", "memory", "load average")
        print("versions: " + ", ".join(f"{k} {v}" for k, v in before.items() if k not in skip))
        print(
            f"input: one text file, {size / 1e6:.0f} MB, {size / max(args.n, 1):.0f} B/line; "
            f"generated in {gen_s:.0f} s (0: reused)"
        )
        print()
        head = f"{'run':<8} {'lines':>10} {'wall s':>8} {'lines/s':>9} {'tree peak':>10}"
        print(head + f" {'py worker':>10} {'JVM':>10}")
        for name, r in runs.items():
            lps = r["lines"] / r["seconds"]
            p = r["peak"]
            print(
                f"{name:<8} {r['lines']:>10,} {r['seconds']:>8.1f} {lps:>9,.0f} "
                f"{_gib(p['tree']):>10} {_gib(p['python_worker']):>10} {_gib(p['jvm']):>10}"
            )
        print("(wall time of each run's own process, Spark start-up included)")
        if "eljobs" in runs:
            r = runs["eljobs"]
            lps = r["lines"] / r["seconds"]
            print()
            if "floor" in runs:
                ratio = r["seconds"] / runs["floor"]["seconds"]
                print(f"eljobs / floor time: {ratio:.2f}x (target <= 2x)")
            print(
                f"eljobs vs the reference processor ({REFERENCE_LPS:.0f} lines/s on this input, "
                f"one process): {lps / REFERENCE_LPS:.1f}x (target 50x)"
            )
            print(
                "account: read {read:,} = valid {valid:,} + validation {validation:,} + "
                "processor {processor:,}".format(**r["totals"])
            )
    finally:
        if not args.keep and not args.work:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
