"""Smoke test of bench/refine's input generator (no Spark): valid events of the real schema."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import fastjsonschema
import yaml

ROOT = Path(__file__).resolve().parents[2]


def _bench() -> object:
    spec = importlib.util.spec_from_file_location("bench_refine_run", ROOT / "bench/refine/run.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_generated_events_are_valid_navigationtiming_events(tmp_path: Path) -> None:
    bench = _bench()
    made = bench.generate(tmp_path, 3000, files=3, seed=5)  # type: ignore[attr-defined]
    lines = [ln for f in sorted(tmp_path.glob("*.json")) for ln in f.read_text().splitlines()]
    assert made["events"] == len(lines) == 3000
    assert made["bytes"] == sum(f.stat().st_size for f in tmp_path.glob("*.json"))
    schema_path = bench.SCHEMAS / "navigationtiming/1.7.0.yaml"  # type: ignore[attr-defined]
    doc = yaml.safe_load(schema_path.read_text())
    doc.pop("examples", None)
    validate = fastjsonschema.compile(doc, formats={"uri-reference": r".*"})
    events = [json.loads(ln) for ln in lines]
    for ev in events[:500]:
        validate(ev)
    ids = [e["meta"]["id"] for e in events]
    assert len(ids) - len(set(ids)) == made["duplicates"] > 0
    assert sum(e["meta"]["domain"] == "canary" for e in events) == made["canary"]
    assert len({e["http"]["request_headers"]["user-agent"] for e in events}) > 100
    assert len({e["http"]["client_ip"] for e in events}) > 1000
