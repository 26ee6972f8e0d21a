"""The demo's steps on small data: one hour of two schemas through the real broker and jobs.

``eljobs.demo.run_demo`` is what ``make demo`` runs; here it gets the shared test session, a
broker of its own, its own Hive databases and a tiny :class:`DemoSettings`. The account tables
are checked against what the generator made: every raw line is accounted for
(read = valid + invalid), Kafka holds exactly what the backfill produced, every valid event
reaches its Hive table, and the sanitized tables hold only allowlisted values.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from eljobs.demo import DemoSettings, demo_paths, run_demo, summary

SETTINGS = DemoSettings(
    hours=1,
    lines_per_hour=120,
    schemas=("navigationtiming", "editattemptstep"),
    invalid_fraction=0.1,
    seed=7,
    database="t_demo_event",
    sanitized_database="t_demo_event_sanitized",
)


def test_demo_paths_stay_in_the_work_folder(tmp_path: Path) -> None:
    paths = demo_paths(tmp_path)
    assert all(p == tmp_path or tmp_path in p.parents for p in paths.values())
    assert paths["raw_client_side"].name == "eventlogging_client_side"
    assert paths["raw_legacy"].name == "eventlogging_legacy"


@pytest.fixture(scope="module")
def demo(spark: Any, tmp_path_factory: pytest.TempPathFactory) -> Any:
    from eljobs.testing.broker import EmbeddedBroker

    work = tmp_path_factory.mktemp("demo")
    with EmbeddedBroker(log_path=work / "broker.log") as broker:
        result = run_demo(spark, SETTINGS, work=work, bootstrap=broker.bootstrap_servers)
    assert not broker.is_running(), "the broker must be stopped"
    return result


@pytest.mark.slow
def test_backfill_account_adds_up(demo: Any) -> None:
    totals = demo.backfill.totals()
    n = SETTINGS.hours * SETTINGS.lines_per_hour
    assert demo.raw_lines == n
    assert totals["read"] == n
    assert totals["read"] == totals["valid"] + totals["validation"] + totals["processor"]
    assert totals["validation"] + totals["processor"] == round(n * SETTINGS.invalid_fraction)
    assert totals["unroutable"] == 0
    assert demo.backfill.ok


@pytest.mark.slow
def test_kafka_holds_what_the_backfill_produced(demo: Any) -> None:
    from eljobs.demo import _extracted, _produced

    produced = _produced(demo.backfill)
    assert produced == _extracted(demo.extract)
    assert sum(produced.values()) == demo.backfill.totals()["read"]
    errors = demo.backfill.totals()["validation"] + demo.backfill.totals()["processor"]
    assert produced["eventlogging_EventError"] == errors
    # The gap check ran before anything was produced: no topic, or nothing in them.
    assert demo.gap is None or demo.gap.read == 0


@pytest.mark.slow
def test_every_valid_event_reaches_its_table(demo: Any) -> None:
    valid_by_schema = Counter()
    for row in demo.backfill.rows:
        if row.valid:
            valid_by_schema[row.schema] += row.valid
    assert demo.imported == {f"eventlogging_{s}": n for s, n in valid_by_schema.items()}
    assert demo.refine.ok
    assert {t.status for t in demo.refine.targets} == {"refined"}
    event = demo.tables[SETTINGS.database]
    assert event == {s.lower(): n for s, n in valid_by_schema.items()}


@pytest.mark.slow
def test_sanitized_tables_hold_only_allowlisted_values(demo: Any, spark: Any) -> None:
    assert demo.sanitize.ok
    sanitized = demo.tables[SETTINGS.sanitized_database]
    # Both demo schemas are in the analytics allowlist; every row is copied.
    assert sanitized == demo.tables[SETTINGS.database]
    table = f"{SETTINGS.sanitized_database}.navigationtiming"
    row_counts = spark.sql(
        "SELECT count(*) AS n, count(ip) AS ip, count(useragent.browser_family) AS useragent, "
        "sum(size(geocoded_data)) AS geo, count(webhost) AS webhost, count(uuid) AS uuid, "
        "count_if(event.pageviewToken RLIKE '^[0-9A-F]{64}$') AS hashed, "
        f"count(event.pageviewToken) AS tokens FROM {table}"
    ).first()
    assert row_counts["n"] == sanitized["navigationtiming"]
    # Not in the NavigationTiming entry: NULL (maps empty) in every row.
    assert (row_counts["ip"], row_counts["useragent"], row_counts["geo"]) == (0, 0, 0)
    # Listed (webHost) or in __defaults__ (uuid): kept; pageviewToken: hashed when present.
    assert row_counts["webhost"] == row_counts["uuid"] == row_counts["n"]
    assert row_counts["hashed"] == row_counts["tokens"]


@pytest.mark.slow
def test_summary_speaks_in_operator_terms(demo: Any) -> None:
    text = summary(demo)
    for words in ("raw lines", "read = valid + invalid", "messages extracted", "rows in"):
        assert words in text
    assert str(demo.paths["event"]) in text
    assert f"{SETTINGS.database}.navigationtiming" in text
