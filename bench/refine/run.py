"""Benchmark: Refine one hour of N NavigationTiming events with the transform functions.

Compared, in the same run and on the same input, with the floor: a plain
``spark.read.json(path, schema).write.parquet(...)`` with the schema converted from the real
``navigationtiming`` JSON Schema (``../shared/data/event-schemas-secondary``).

The input is one hourly partition of Event Platform JSON lines (``$schema``, ``meta``,
``http.client_ip``, ``http.request_headers['user-agent']``, ``event``...) generated with:

* user agents drawn with a Zipf law over 3,000 realistic strings (browsers, apps, bots);
* client IPs drawn with a Zipf law over a pool of 200,000 addresses (public IPv4 and IPv6,
  a few internal 10/8 and Wikimedia addresses);
* hosts drawn with a Zipf law over Wikimedia hosts plus a few foreign ones, 0.1 % canary events,
  1 % duplicated ``meta.id`` (a later ``meta.dt``).

Timed runs, each through the Refine runner (``eljobs.refine.runner.run_refine``: read with the
schema repository, transforms, normalize, create/evolve the Hive table, write the partition,
flag, count), except the floor:

``floor``            read.json(schema) → write.parquet
``runner``           the runner without transform functions
``light``            remove_canary_events, deduplicate, add_is_wmf_domain, add_normalized_host
                     (target: at most 2 × the floor)
``light+geocode``    light + geocode_ip
``light+ua``         light + parse_user_agent
``event_transforms`` the full chain (both of the above)

Usage::

    .venv/bin/python bench/refine/run.py [--n 1000000] [--work DIR] [--runs floor,light,...]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from itertools import accumulate
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

SCHEMAS = Path(os.environ.get("ELJOBS_SHARED", ROOT.parent / "shared")) / "data"
SCHEMAS = SCHEMAS / "event-schemas-secondary"
SCHEMA_NAME = "navigationtiming"
SCHEMA_URI = "/analytics/legacy/navigationtiming/1.7.0"
HOUR = datetime(2024, 1, 5, 3, tzinfo=UTC)
REGEX = r"/eventlogging_(.+)/year=(\d+)/month=(\d+)/day=(\d+)/hour=(\d+)"

LIGHT = ("remove_canary_events", "deduplicate", "add_is_wmf_domain", "add_normalized_host")
RUNS: dict[str, tuple[str, ...] | None] = {
    "floor": None,
    "runner": (),
    "light": LIGHT,
    "light+geocode": (*LIGHT, "geocode_ip"),
    "light+ua": (*LIGHT, "parse_user_agent"),
    "event_transforms": ("event_transforms",),
}

HOSTS = [
    "en.wikipedia.org",
    "en.m.wikipedia.org",
    "de.wikipedia.org",
    "ja.m.wikipedia.org",
    "es.m.wikipedia.org",
    "fr.wikipedia.org",
    "ru.m.wikipedia.org",
    "commons.wikimedia.org",
    "www.wikidata.org",
    "it.m.wikipedia.org",
    "zh.wikipedia.org",
    "pt.m.wikipedia.org",
    "en.wiktionary.org",
    "meta.wikimedia.org",
    "translate.googleusercontent.com",
    "pl.wikipedia.org",
    "en.m.wikivoyage.org",
    "www.mediawiki.org",
    "ar.m.wikipedia.org",
    "en.wikipedia.org.example.com",
    "nl.wikipedia.org",
    "fa.m.wikipedia.org",
    "localhost:8080",
    "sv.wikipedia.org",
    "10.64.0.12",
]


def _zipf_cum(n: int, s: float) -> list[float]:
    return list(accumulate(1.0 / (k**s) for k in range(1, n + 1)))


def ip_pool(n: int, rng: random.Random) -> list[str]:
    """``n`` client addresses: mostly public IPv4, some IPv6, a few internal and Wikimedia."""
    out = []
    for _ in range(n):
        r = rng.random()
        if r < 0.82:
            first = rng.choice([x for x in range(1, 224) if x not in (10, 127)])
            out.append(f"{first}.{rng.getrandbits(8)}.{rng.getrandbits(8)}.{rng.randint(1, 254)}")
        elif r < 0.95:
            prefix = rng.choice(["2a02", "2600", "2409", "2001:0db8", "2a01", "2c0f"])
            out.append(f"{prefix}:{rng.getrandbits(16):x}:{rng.getrandbits(16):x}::1")
        elif r < 0.98:
            out.append(f"10.{rng.getrandbits(8)}.{rng.getrandbits(8)}.{rng.randint(1, 254)}")
        else:
            out.append(f"208.80.154.{rng.randint(1, 254)}")
    return out


def generate(path: Path, n: int, *, files: int = 8, seed: int = 11) -> dict[str, Any]:
    """Write ``n`` events as ``files`` JSON-lines files in ``path``; returns what was made."""
    from eljobs.testing.sample import user_agents

    rng = random.Random(seed)
    uas = user_agents(3000, seed=7)
    ips = ip_pool(200_000, rng)
    ua_draw = rng.choices(uas, cum_weights=_zipf_cum(len(uas), 1.1), k=n)
    ip_draw = rng.choices(ips, cum_weights=_zipf_cum(len(ips), 0.9), k=n)
    host_draw = rng.choices(HOSTS, cum_weights=_zipf_cum(len(HOSTS), 1.2), k=n)
    path.mkdir(parents=True, exist_ok=True)
    handles = [(path / f"part-{i:05d}.json").open("w") for i in range(files)]
    canary = duplicates = 0
    prev_id = None
    base = HOUR.timestamp()
    try:
        for i in range(n):
            ts = base + (i * 3600.0 / n)
            dt = datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            if prev_id is not None and rng.random() < 0.01:
                eid, duplicates = prev_id, duplicates + 1
            else:
                eid = str(uuid.UUID(int=rng.getrandbits(128), version=4))
            prev_id = eid
            domain = host_draw[i]
            if rng.random() < 0.001:
                domain, canary = "canary", canary + 1
            start = rng.randint(50, 400)
            ev = {
                "$schema": SCHEMA_URI,
                "client_dt": dt,
                "dt": dt,
                "meta": {
                    "dt": dt,
                    "id": eid,
                    "domain": domain,
                    "stream": "eventlogging_NavigationTiming",
                    "request_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                },
                "http": {
                    "client_ip": ip_draw[i],
                    "request_headers": {"user-agent": ua_draw[i]},
                },
                "event": {
                    "isAnon": rng.random() < 0.9,
                    "action": "view",
                    "skin": rng.choice(["vector-2022", "minerva", "vector", "timeless"]),
                    "namespaceId": rng.choice([0, 0, 0, 1, 2, 4]),
                    "revId": rng.randint(1, 1_200_000_000),
                    "mediaWikiVersion": "1.42.0-wmf.10",
                    "fetchStart": start,
                    "dnsLookup": rng.randint(0, 40),
                    "connectStart": start + 1,
                    "connectEnd": start + rng.randint(2, 90),
                    "requestStart": start + 100,
                    "responseStart": start + rng.randint(110, 400),
                    "responseEnd": start + rng.randint(400, 900),
                    "domInteractive": start + rng.randint(900, 2500),
                    "domComplete": start + rng.randint(2500, 5000),
                    "loadEventStart": start + 5000,
                    "loadEventEnd": start + rng.randint(5000, 6000),
                    "firstPaint": rng.randint(200, 3000),
                    "firstContentfulPaint": rng.randint(200, 3000),
                    "transferSize": rng.randint(1000, 90000),
                    "cumulativeLayoutShift": round(rng.random() / 10, 4),
                    "netinfoEffectiveConnectionType": rng.choice(["4g", "3g", "2g"]),
                    "pageviewToken": f"{rng.getrandbits(80):020x}",
                    "isOversample": False,
                },
                "webHost": domain,
                "wiki": "enwiki",
            }
            handles[i % files].write(json.dumps(ev, separators=(",", ":")) + "\n")
    finally:
        for h in handles:
            h.close()
    size = sum(p.stat().st_size for p in path.glob("*.json"))
    return {"events": n, "bytes": size, "canary": canary, "duplicates": duplicates}


def machine() -> str:
    """nproc, memory and CPU model."""
    from eljobs.testing.machine import total_memory

    mem = total_memory()
    cpu = platform.processor() or "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return f"nproc={os.cpu_count()}, memory={mem}, cpu={cpu}, load1={load:.1f}"


def versions(spark: Any) -> str:
    from importlib import metadata

    import geolite2  # noqa: F401  (package present)

    from eljobs.useragent import rules_version

    def v(p: str) -> str:
        try:
            return metadata.version(p)
        except metadata.PackageNotFoundError:
            return "?"

    java = spark.sparkContext._jvm.System.getProperty("java.version")
    return (
        f"python {platform.python_version()}, pyspark {v('pyspark')}, java {java}, "
        f"pyarrow {v('pyarrow')}, {rules_version()}, maxminddb {v('maxminddb')}, "
        f"maxminddb-geolite2 {v('maxminddb-geolite2')}"
    )


def floor(spark: Any, input_dir: Path, out: Path) -> tuple[float, int]:
    """read.json(schema) → write.parquet; returns (seconds, rows written)."""
    import yaml

    from eljobs.refine.schema import jsonschema_to_spark

    doc = yaml.safe_load((SCHEMAS / SCHEMA_NAME / "1.7.0.yaml").read_text())
    schema = jsonschema_to_spark(doc)
    t0 = time.perf_counter()
    spark.read.json(str(input_dir), schema=schema).write.mode("overwrite").parquet(str(out))
    seconds = time.perf_counter() - t0
    return seconds, spark.read.parquet(str(out)).count()


def runner(
    spark: Any, raw: Path, work: Path, name: str, transforms: tuple[str, ...]
) -> tuple[float, int, int]:
    """One Refine run of the hour; returns (seconds, read, written)."""
    from eljobs.config import parse_config
    from eljobs.refine.options import RefineConfig
    from eljobs.refine.runner import run_refine

    db = "bench_refine_" + "".join(c if c.isalnum() else "_" for c in name)
    out = work / "out" / db
    shutil.rmtree(out, ignore_errors=True)
    spark.sql(f"DROP DATABASE IF EXISTS {db} CASCADE")
    spark.sql(f"CREATE DATABASE {db}")
    args = [
        f"--input_path={raw}",
        f"--input_path_regex={REGEX}",
        "--input_path_regex_capture_groups=table,year,month,day,hour",
        f"--output_path={out}",
        f"--output_database={db}",
        f"--since={HOUR.isoformat()}",
        f"--until={(HOUR + timedelta(hours=1)).isoformat()}",
        f"--schema_base_uris=file://{SCHEMAS}",
        "--parallelism=1",
        "--geocode_database=bundled",
        f"--report_path={work / 'reports' / (db + '.json')}",
    ]
    if transforms:
        args.append("--transform_functions=" + ",".join(transforms))
    cfg = parse_config(RefineConfig, args)
    t0 = time.perf_counter()
    result = run_refine(spark, cfg)
    seconds = time.perf_counter() - t0
    if not result.ok or len(result.targets) != 1:
        raise SystemExit(f"run {name} failed: {result.failure_report}")
    t = result.targets[0]
    return seconds, int(t.read or 0), int(t.written or 0)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=1_000_000, help="events to generate")
    p.add_argument("--work", type=Path, default=None, help="work folder (default: a temp dir)")
    p.add_argument("--runs", default=",".join(RUNS), help=f"subset of {','.join(RUNS)}")
    p.add_argument("--keep", action="store_true", help="keep the work folder")
    p.add_argument("--repeat", type=int, default=2, help="interleaved rounds (best counts)")
    p.add_argument(
        "--reuse", action="store_true", help="reuse the input a previous run left in --work"
    )
    args = p.parse_args(argv)
    runs = [r.strip() for r in args.runs.split(",") if r.strip()]
    unknown = [r for r in runs if r not in RUNS]
    if unknown:
        p.error(f"unknown runs {unknown}; expected some of {list(RUNS)}")

    work = args.work or Path(tempfile.mkdtemp(prefix="eljobs-bench-refine-"))
    work.mkdir(parents=True, exist_ok=True)
    os.environ["ELJOBS_WORK"] = str(work)
    os.environ.setdefault("ELJOBS_SPARK_LOG_LEVEL", "ERROR")
    raw = work / "raw"
    hour_dir = raw / "eventlogging_NavigationTiming" / f"year={HOUR:%Y}/month={HOUR:%m}"
    hour_dir = hour_dir / f"day={HOUR:%d}/hour={HOUR:%H}"
    print(f"machine: {machine()}")
    t0 = time.perf_counter()
    stats = work / f"input-{args.n}.json"
    if args.reuse and stats.is_file():
        made = json.loads(stats.read_text())
    else:
        shutil.rmtree(hour_dir, ignore_errors=True)
        made = generate(hour_dir, args.n)
        stats.write_text(json.dumps(made))
    print(
        f"input: {made['events']:,} {SCHEMA_NAME} events, {made['bytes'] / 1e6:.0f} MB JSON "
        f"({made['bytes'] / made['events']:.0f} B/event), {made['canary']} canary, "
        f"{made['duplicates']} duplicated ids; generated in {time.perf_counter() - t0:.0f}s"
    )

    from eljobs.log import setup_logging
    from eljobs.spark import get_session

    setup_logging("WARNING")
    # deduplicate shuffles the hour: give the local driver (the only executor) room for it.
    spark = get_session("local", app_name="bench-refine", conf={"spark.driver.memory": "4g"})
    print(f"versions: {versions(spark)}")
    print(f"spark: master={spark.sparkContext.master}, "
          f"shuffle.partitions={spark.conf.get('spark.sql.shuffle.partitions')}")  # fmt: skip

    # Warm up the JVM and the Python workers on a small slice, untimed.
    warm = work / "warm"
    generate(warm, 2000, files=2, seed=1)
    floor(spark, warm, work / "warm-out")

    # Rounds run every selected configuration once, interleaved, so a burst of load from
    # other processes on a shared machine hits all of them alike; the best round counts.
    times: dict[str, list[float]] = {name: [] for name in runs}
    counts: dict[str, tuple[int, int]] = {}
    for rnd in range(1, args.repeat + 1):
        for name in runs:
            transforms = RUNS[name]
            if transforms is None:
                secs, written = floor(spark, hour_dir, work / "floor-out")
                read = args.n
            else:
                secs, read, written = runner(spark, raw, work, name, transforms)
            times[name].append(secs)
            counts[name] = (read, written)
            print(
                f"  round {rnd} {name:<17} {secs:7.1f}s  read {read:,}  written {written:,}",
                flush=True,
            )

    best = {name: min(ts) for name, ts in times.items()}
    print()
    base = best.get("floor", float("nan"))
    print(f"best of {args.repeat} round(s) per run")
    print(
        f"{'run':<17} {'seconds':>8} {'events/s':>10} {'× floor':>8}  {'rounds (s)':<14} "
        f"{'× floor per round':<18} transforms"
    )
    for name in runs:
        secs = best[name]
        tr = RUNS[name]
        label = "read.json(schema).write.parquet" if tr is None else (",".join(tr) or "(none)")
        rounds = "/".join(f"{t:.0f}" for t in times[name])
        # Each round's time over the same round's floor: pairs runs made minutes apart.
        paired = (
            "/".join(f"{t / f:.2f}" for t, f in zip(times[name], times["floor"], strict=True))
            if "floor" in times
            else "-"
        )
        print(
            f"{name:<17} {secs:8.1f} {args.n / secs:10,.0f} {secs / base:8.2f}  {rounds:<14} "
            f"{paired:<18} {label}"
        )
    if "light" in best:
        light = best["light"]
        print()
        print(
            f"target: light transforms ≤ 2.00 × floor → {light / base:.2f} × "
            f"({'met' if light <= 2 * base else 'NOT met'})"
        )
        for name in ("light+geocode", "light+ua", "event_transforms"):
            if name in best:
                extra = best[name] - light
                rate = f", {args.n / extra:,.0f} events/s for the added step" if extra > 0 else ""
                print(f"{name} adds {extra:+.1f}s over light = {extra / base:+.2f} × floor{rate}")
    spark.stop()
    if not args.keep and args.work is None:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
