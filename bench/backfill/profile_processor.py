"""Single-process throughput and profile of ``eljobs.eventlogging.Processor.process``.

Builds N realistic raw lines (production format, TAB-separated): events of the 55 real
legacy schemas (each schema's own example event, with its fields re-drawn from their types,
enums and bounds), percent-encoded as the MediaWiki client did, about 3,000 distinct user
agents drawn with a Zipf popularity, 1% invalid events; then times ``Processor.process`` over
them in this process (no Spark), against a floor measured in the same run: a loop that only
splits each line at its TABs. Prints lines/s, the ratio to the floor, and a cProfile top-15.

    .venv/bin/python bench/backfill/profile_processor.py [N]   # default N = 100000
"""

from __future__ import annotations

import cProfile
import io
import json
import os
import platform
import pstats
import random
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any
from urllib.parse import quote

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from eljobs.eventlogging import (  # noqa: E402
    PRODUCTION_FORMAT,
    Processor,
    SchemaRepository,
    event_platform_documents,
)

SCHEMAS = (
    Path(os.environ.get("ELJOBS_SHARED", ROOT.parent / "shared"))
    / "data"
    / ("event-schemas-secondary")
)


def user_agents(n: int, rng: random.Random) -> list[str]:
    """``n`` distinct, realistic-looking agents (browsers, apps, bots)."""
    out: set[str] = set()
    while len(out) < n:
        kind = rng.random()
        if kind < 0.45:
            v = f"{rng.randint(60, 130)}.0.{rng.randint(3000, 6500)}.{rng.randint(0, 200)}"
            plat = rng.choice(
                [
                    "Windows NT 10.0; Win64; x64",
                    "Macintosh; Intel Mac OS X 10_15_7",
                    "X11; Linux x86_64",
                    f"Linux; Android {rng.randint(7, 14)}; SM-G{rng.randint(900, 999)}F",
                ]
            )
            mobile = " Mobile" if "Android" in plat else ""
            out.add(
                f"Mozilla/5.0 ({plat}) AppleWebKit/537.36 (KHTML, like Gecko) "
                f"Chrome/{v}{mobile} Safari/537.36"
            )
        elif kind < 0.65:
            v = rng.randint(60, 130)
            out.add(
                f"Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:{v}.0) Gecko/20100101 Firefox/{v}.0"
            )
        elif kind < 0.85:
            ios = f"{rng.randint(12, 17)}_{rng.randint(0, 6)}"
            out.add(
                f"Mozilla/5.0 (iPhone; CPU iPhone OS {ios} like Mac OS X) AppleWebKit/605.1.15 "
                f"(KHTML, like Gecko) Version/{rng.randint(12, 17)}.0 Mobile/15E148 Safari/604.1"
            )
        elif kind < 0.95:
            out.add(
                f"WikipediaApp/2.7.{rng.randint(50000, 50500)}-r-2024-0{rng.randint(1, 9)}-1"
                f"{rng.randint(0, 9)} (Android {rng.randint(7, 14)}; Phone) Google Play"
            )
        else:
            out.add(f"Mozilla/5.0 (compatible; SomeBot/{rng.randint(1, 99)}.{rng.randint(0, 9)})")
    return sorted(out)


def draw(prop: dict[str, Any], rng: random.Random, example: Any) -> Any:
    """A value for one property: its example value or one drawn from its type."""
    if example is not None and rng.random() < 0.5:
        return example
    if "enum" in prop:
        return rng.choice(prop["enum"])
    t = prop.get("type")
    if t == "boolean":
        return rng.random() < 0.5
    if t == "integer":
        return rng.randint(max(prop.get("minimum", 0), 0), min(prop.get("maximum", 10**6), 10**6))
    if t == "number":
        return round(rng.uniform(0, 1000), 3)
    if t == "string" and "pattern" not in prop:
        size = rng.randint(max(prop.get("minLength", 1), 1), min(prop.get("maxLength", 24), 24))
        return "".join(rng.choice("abcdefghijklmnopqrstuvwxyzé ") for _ in range(size))
    return example


def build_lines(n: int, seed: int = 7) -> tuple[list[str], SchemaRepository]:
    """``n`` raw lines and the repository of the 55 schemas they use."""
    rng = random.Random(seed)
    docs = event_platform_documents(SCHEMAS)
    import yaml

    events: list[tuple[str, int, dict[str, Any], dict[str, Any]]] = []
    for file in sorted(SCHEMAS.glob("*/*.yaml")):
        doc = yaml.safe_load(file.read_text())
        example = dict(doc["examples"][0]["event"])
        name = doc["examples"][0]["schema"]
        revision = next(r for (s, r) in docs if s == name)
        events.append((name, revision, example, docs[(name, revision)]))
    agents = user_agents(3000, rng)
    weights = [1.0 / (k**1.1) for k in range(1, len(agents) + 1)]
    lines = []
    for i in range(n):
        name, revision, example, schema = rng.choice(events)
        props = schema.get("properties", {})
        event = {}
        for key, prop in props.items():
            value = draw(prop, rng, example.get(key))
            if value is not None:
                event[key] = value
        if rng.random() < 0.01:
            event["unexpectedField"] = 1  # 1% invalid
        capsule = {
            "event": event,
            "revision": revision,
            "schema": name,
            "webHost": "en.wikipedia.org",
            "wiki": "enwiki",
        }
        q = (
            "?"
            + quote(
                json.dumps(capsule, separators=(",", ":"), ensure_ascii=False), safe="-_.!~*'()"
            )
            + ";"
        )
        ua = rng.choices(agents, weights)[0]
        ip = f"10.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
        lines.append(
            f"{q}\tcp30{rng.randint(10, 60)}.esams.wmnet\t{1000 + i}\t"
            f'2024-05-01T12:{i // 60 % 60:02d}:{i % 60:02d}\t{ip}\t"{ua}"'
        )
    return lines, SchemaRepository.from_documents(docs, source=str(SCHEMAS))


def main(argv: list[str]) -> int:
    n = int(argv[0]) if argv else 100_000
    lines, repo = build_lines(n)
    proc = Processor(PRODUCTION_FORMAT, repo, hostname="bench")

    # CPU time of this process: the machine is shared, wall time depends on the neighbours.
    wall0, cpu0 = time.perf_counter(), time.process_time()
    for raw in lines:
        raw.split("\t")
    floor_wall = n / (time.perf_counter() - wall0)
    floor = n / (time.process_time() - cpu0)

    kinds: dict[str, int] = {}
    wall0, cpu0 = time.perf_counter(), time.process_time()
    for raw in lines:
        kind = proc.process_tuple(raw)[0]
        kinds[kind] = kinds.get(kind, 0) + 1
    rate_wall = n / (time.perf_counter() - wall0)
    rate = n / (time.process_time() - cpu0)

    print(
        f"machine: nproc={os.cpu_count()}, load average {os.getloadavg()[0]:.1f}, "
        f"python {platform.python_version()}, jsonschema {metadata.version('jsonschema')}, "
        f"ua-parser {metadata.version('ua-parser')}"
    )
    print(f"input: {n} lines, {sum(map(len, lines)) / n:.0f} bytes/line; outcomes {kinds}")
    print(f"floor (split at TABs):  {floor:>10,.0f} lines/s of CPU  ({floor_wall:,.0f} wall)")
    print(f"Processor.process:      {rate:>10,.0f} lines/s of CPU  ({rate_wall:,.0f} wall)")
    print(
        f"processor / floor: 1/{floor / rate:.0f}; "
        f"vs. ~600 lines/s of the reference processor: {rate / 600:.0f}x"
    )

    sample = lines[: min(n, 30_000)]
    fresh = Processor(PRODUCTION_FORMAT, repo, hostname="bench")
    prof = cProfile.Profile()
    prof.enable()
    for raw in sample:
        fresh.process_tuple(raw)
    prof.disable()
    out = io.StringIO()
    pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(15)
    print(f"cProfile of {len(sample)} lines (fresh processor, cold caches), top 15 by own time:")
    print(out.getvalue())
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
