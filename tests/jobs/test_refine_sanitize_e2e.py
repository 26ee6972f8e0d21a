"""End to end (slow): raw capsule events of real schemas → Refine → Hive `event`-like tables →
refine_sanitize in DB mode with the real analytics allowlist and a salts directory made by
``salts rotate`` → sanitized tables that hold exactly the allowlisted fields; a delayed run
re-sanitizes a partition whose input changed; the monitor reports what is missing. Salts and
non-kept input values appear in no output, log or report."""

from __future__ import annotations

import copy
import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from eljobs.config import parse_config
from eljobs.jobs import refine_sanitize, refine_sanitize_monitor
from eljobs.jobs import salts as salts_job
from eljobs.naming import normalize_name
from eljobs.refine.options import RefineConfig
from eljobs.refine.runner import run_refine
from eljobs.sanitize import load_allowlist, load_salts
from eljobs.sanitize.hashing import hmac_sha256_hex_py

pytestmark = pytest.mark.slow

IN_DB = "t_rsan_event"
OUT_DB = "t_rsan_sanitized"
H1 = datetime(2024, 1, 5, 3, tzinfo=UTC)
H2 = H1 + timedelta(hours=1)
H3 = H1 + timedelta(hours=2)
#: (schema directory, EventLogging name): a hashed token, a keep-only table, a hashed token
#: plus struct fields.
SCHEMAS = (
    ("navigationtiming", "NavigationTiming"),
    ("savetiming", "SaveTiming"),
    ("cpubenchmark", "CpuBenchmark"),
)
SECRET_IP = "198.51.100.77"


def _example_event(schemas_dir: Path, name: str) -> dict[str, Any]:
    d = schemas_dir / name
    latest = max(d.glob("*.yaml"), key=lambda p: tuple(int(x) for x in p.stem.split(".")))
    return dict(yaml.safe_load(latest.read_text())["examples"][0].get("event", {}))


def _write_raw(base: Path, schemas_dir: Path, name: str, el: str, hour: datetime, n: int) -> Path:
    d = base / f"eventlogging_{el}" / f"year={hour:%Y}/month={hour:%m}/day={hour:%d}/hour={hour:%H}"
    d.mkdir(parents=True, exist_ok=True)
    lines = []
    for i in range(n):
        event = copy.deepcopy(_example_event(schemas_dir, name))
        event["pageviewToken"] = f"pvtok-{name}-{hour:%H}-{i}"
        capsule = {
            "dt": hour.replace(minute=i).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "event": event,
            "ip": SECRET_IP,
            "recvFrom": "cp1001.eqiad.wmnet",
            "revision": 1,
            "schema": el,
            "seqId": i,
            "uuid": f"{name}{hour:%H}{i:04d}",
            "webHost": "en.wikipedia.org",
            "wiki": "enwiki",
        }
        lines.append(json.dumps(capsule, sort_keys=True))
    (d / "part-00000.json").write_text("".join(line + "\n" for line in lines))
    return d


def _leaves(v: Any, path: str = "") -> dict[str, Any]:
    """Non-null leaves of a row as ``{dotted.path: value}`` (map keys as ``path[key]``)."""
    from pyspark.sql import Row

    out: dict[str, Any] = {}
    if v is None:
        return out
    if isinstance(v, Row):
        for k, x in v.asDict(recursive=False).items():
            out.update(_leaves(x, f"{path}.{k}" if path else k))
    elif isinstance(v, dict):
        for k, x in v.items():
            out.update(_leaves(x, f"{path}[{k}]"))
    else:
        out[path] = v
    return out


def _allowed(entry: Any, defaults: Any, path: str) -> str | None:
    """The tag for a dotted path under a table entry merged with defaults (paths lower-cased)."""
    parts = path.lower().split(".")
    for root in (entry, defaults):
        node = root
        for p in parts:
            if not isinstance(node, dict) or normalize_name(p) not in node:
                node = None
                break
            node = node[normalize_name(p)]
        if isinstance(node, str):
            return node
    return None


def test_refine_then_sanitize_delayed_rerun_and_monitor(
    spark: Any, tmp_path: Path, schemas_dir: Path, shared_data: Path, capfd: Any
) -> None:
    for db in (IN_DB, OUT_DB):
        spark.sql(f"CREATE DATABASE IF NOT EXISTS {db}")
    raw = tmp_path / "raw"
    for name, el in SCHEMAS:
        for h in (H1, H2):
            _write_raw(raw, schemas_dir, name, el, h, 3)
    refine_cfg = parse_config(
        RefineConfig,
        [
            "--input_path", str(raw),
            "--input_path_regex", r"/eventlogging_(.+)/year=(\d+)/month=(\d+)/day=(\d+)/hour=(\d+)",
            "--input_path_regex_capture_groups", "table,year,month,day,hour",
            "--output_path", str(tmp_path / "event"),
            "--output_database", IN_DB,
            "--schema_base_uris", "eventlogging",
            "--eventlogging_schemas_path", str(schemas_dir),
            "--since", H1.isoformat(), "--until", H3.isoformat(),
            "--report_path", str(tmp_path / "refine.json"),
        ],
    )  # fmt: skip
    refined = run_refine(spark, refine_cfg)
    assert refined.ok, refined.failure_report
    assert len(refined.targets) == 6

    # Salts made by the rotation tool (the quarter containing the data).
    salts_dir = tmp_path / "salts"
    assert salts_job.main(["rotate", "--salts_path", str(salts_dir), "--now", "2024-01-05"]) == 0
    (salt,) = load_salts(str(salts_dir))

    allowlist_path = shared_data / "allowlists" / "event_sanitized_analytics_allowlist.yaml"
    argv = [
        "--input_database", IN_DB,
        "--output_database", OUT_DB,
        "--output_path", str(tmp_path / "event_sanitized"),
        "--allowlist_path", str(allowlist_path),
        "--salts_path", str(salts_dir),
        "--since", H1.isoformat(), "--until", H3.isoformat(),
        "--report_path", str(tmp_path / "sanitize.json"),
    ]  # fmt: skip
    cfg = parse_config(refine_sanitize.RefineSanitizeConfig, argv)
    result = refine_sanitize.run(spark, cfg)
    assert result.ok, result.failure_report
    assert sorted(r.table for r in result.targets) == sorted(
        f"{OUT_DB}.{n}" for n, _ in SCHEMAS for _h in (H1, H2)
    )

    allowlist = load_allowlist(allowlist_path)
    for name, _ in SCHEMAS:
        source = spark.table(f"{IN_DB}.{name}")
        sanitized = spark.table(f"{OUT_DB}.{name}")
        # The full input schema is kept.
        assert sanitized.columns == source.columns
        inputs = {r["uuid"]: _leaves(r) for r in source.collect()}
        outputs = [_leaves(r) for r in sanitized.collect()]
        assert len(outputs) == len(inputs) == 6
        entry = allowlist.tables[name]
        for out in outputs:
            src = inputs[out["uuid"]]
            expected = {}
            for path, v in src.items():
                tag = _allowed(entry, allowlist.defaults, path)
                if path in ("year", "month", "day", "hour"):
                    tag = "keep"
                if tag == "keep":
                    expected[path] = v
                elif tag == "hash":
                    expected[path] = hmac_sha256_hex_py(salt.value, v)
            # Exactly the allowlisted fields, hashed ones as the HMAC of their input.
            assert out == expected
        if name != "savetiming":
            assert any(p == "event.pageviewToken" for o in outputs for p in o)
    everything = json.dumps(
        [
            r.asDict(recursive=True)
            for n, _ in SCHEMAS
            for r in spark.table(f"{OUT_DB}.{n}").collect()
        ]
    )
    for secret in (SECRET_IP, "pvtok-", salt.value):
        assert secret not in everything

    # Immediate rerun: nothing to do; the monitor agrees.
    assert refine_sanitize.run(spark, cfg).targets == []
    assert refine_sanitize_monitor.main(argv) == 0

    # The input of one partition changes (re-refined with more events) after the first pass:
    # the delayed run (hours-ago window) re-sanitizes exactly that partition.
    hour_dir = _write_raw(raw, schemas_dir, "savetiming", "SaveTiming", H1, 5)
    st = hour_dir.stat()
    os.utime(hour_dir, (st.st_atime, st.st_mtime + 5))
    again = run_refine(spark, refine_cfg)
    assert [r.status for r in again.targets] == ["refined"]

    # Before the delayed run, the monitor reports the partition that needs sanitizing.
    assert refine_sanitize_monitor.main(argv) == 1
    report_text = capfd.readouterr()
    assert "savetiming/year=2024/month=1/day=5/hour=3" in report_text.out + report_text.err

    now = datetime.now(UTC)
    since_hours = int((now - H1) / timedelta(hours=1)) + 1
    until_hours = int((now - H3) / timedelta(hours=1))
    delayed = [a for a in argv if a not in (H1.isoformat(), H3.isoformat())]
    delayed = [a for a in delayed if a not in ("--since", "--until")]
    delayed += ["--since", str(since_hours), "--until", str(until_hours)]
    rerun = refine_sanitize.run(spark, parse_config(refine_sanitize.RefineSanitizeConfig, delayed))
    assert rerun.ok, rerun.failure_report
    assert [(r.table, r.partition_path.split("/event_sanitized/")[1], r.written)
            for r in rerun.targets] == [
        (f"{OUT_DB}.savetiming", "savetiming/year=2024/month=1/day=5/hour=3", 5)
    ]  # fmt: skip
    assert spark.table(f"{OUT_DB}.savetiming").where("hour = 3").count() == 5
    assert refine_sanitize_monitor.main(delayed) == 0

    # No salt and no non-kept value in any log line, console output or run report.
    captured = capfd.readouterr()
    reports = "".join(p.read_text() for p in tmp_path.glob("*.json"))
    for text in (captured.out + captured.err, reports):
        assert salt.value not in text
        assert SECRET_IP not in text and "pvtok-" not in text


def test_hash_without_salt_fails_only_that_table(spark: Any, tmp_path: Path) -> None:
    db_in, db_out = "t_rsan_nosalt_in", "t_rsan_nosalt_out"
    for db in (db_in, db_out):
        spark.sql(f"CREATE DATABASE IF NOT EXISTS {db}")
    loc = tmp_path / "in"
    for table, token in (("hashed", "tok"), ("plain", "p")):
        spark.createDataFrame([(token, 2024, 1, 5, 3)], "v string, year bigint, month bigint, "
                              "day bigint, hour bigint").write.partitionBy(
            "year", "month", "day", "hour"
        ).option("path", str(loc / table)).saveAsTable(f"{db_in}.{table}")  # fmt: skip
    allowlist = tmp_path / "allow.yaml"
    allowlist.write_text("hashed:\n  v: hash\nplain:\n  v: keep\n")
    cfg = parse_config(
        refine_sanitize.RefineSanitizeConfig,
        ["--input_database", db_in, "--output_database", db_out,
         "--output_path", str(tmp_path / "out"), "--allowlist_path", str(allowlist),
         "--since", H1.isoformat(), "--until", H2.isoformat(),
         "--report_path", str(tmp_path / "r.json")],
    )  # fmt: skip
    result = refine_sanitize.run(spark, cfg)
    status = {r.table: (r.status, r.error) for r in result.targets}
    assert status[f"{db_out}.plain"] == ("refined", None)
    state, error = status[f"{db_out}.hashed"]
    assert state == "failed" and error is not None
    assert "Salt must be defined in order to use allowlist value hash for field `v` STRING" in error
    # Nothing was written unhashed.
    assert not list((tmp_path / "out" / "hashed").rglob("*.parquet"))
    assert spark.table(f"{db_out}.plain").collect()[0]["v"] == "p"
