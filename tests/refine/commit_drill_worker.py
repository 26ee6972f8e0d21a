"""One process of the commit drill (``test_commit_drill.py``): checks what the tables show
after the previous process was killed, prepares one table's old partition, then refines new
input into it with ``ELJOBS_FAILPOINT`` set so that the process dies at that step.

Usage: ``python commit_drill_worker.py '<json plan>'`` with ``ELJOBS_WORK`` naming the
metastore folder shared by every process of the drill. Prints one JSON line:
``{"rows": {table: [n, ...]}, "entries": {table: [names in the partition directory]}}``
for the tables checked, and again for the tables recovered (refined once more).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from eljobs.config import parse_config
from eljobs.failpoints import ENV
from eljobs.refine.ddl import set_partition_location
from eljobs.refine.options import RefineConfig
from eljobs.refine.runner import run_refine
from eljobs.spark import get_session

DB = "drill"
OLD = [1, 2, 3]
NEW = [11, 12, 13, 14, 15]


def hour_dir(base: Path, table: str, hour: str) -> Path:
    """The raw input directory of ``table`` for an hour of 2024-01-05."""
    return base / "raw" / f"eventlogging_{table}" / f"year=2024/month=01/day=05/hour={hour}"


def write_input(base: Path, table: str, hour: str, numbers: list[int]) -> None:
    """Raw JSON lines ``{"n": ...}`` for one hour, split over two files."""
    d = hour_dir(base, table, hour)
    d.mkdir(parents=True, exist_ok=True)
    for i in range(2):
        lines = [json.dumps({"schema": table, "n": n}) for n in numbers[i::2]]
        (d / f"part-0000{i}.json").write_text("\n".join(lines) + "\n")


def refine(spark: Any, base: Path, table: str, hour: str) -> None:
    """Refine one hour of ``table`` (done flags ignored: a rerun)."""
    cfg = parse_config(
        RefineConfig,
        [
            f"--input_path={base / 'raw'}",
            r"--input_path_regex=eventlogging_(.+)/year=(\d+)/month=(\d+)/day=(\d+)/hour=(\d+)",
            "--input_path_regex_capture_groups=table,year,month,day,hour",
            f"--output_path={base / 'out'}",
            f"--output_database={DB}",
            f"--table_include_regex={table}",
            f"--since=2024-01-05T{hour}:00:00Z",
            f"--until=2024-01-05T{int(hour) + 1:02d}:00:00Z",
            "--ignore_done_flag=true",
            "--ignore_failure_flag=true",
            f"--report_path={base / 'reports' / f'{table}-{hour}.json'}",
        ],
    )
    result = run_refine(spark, cfg)
    if not result.ok:
        raise SystemExit(f"refine of {table} hour {hour} failed: {result.targets}")


def flatten(spark: Any, base: Path, table: str) -> None:
    """Turn hour 03 of ``table`` into the Scala job's layout: files directly in the partition
    directory, which is the metastore location."""
    import shutil

    part = base / "out" / table / "year=2024/month=1/day=5/hour=3"
    (data,) = [p for p in part.iterdir() if p.name.startswith("data-")]
    spark.read.parquet(str(data)).repartition(2).write.parquet(str(part / "_flat"))
    for f in (part / "_flat").glob("part-*"):
        f.rename(part / f.name)
    shutil.rmtree(part / "_flat")
    shutil.rmtree(data)
    spec = "`year`=2024,`month`=1,`day`=5,`hour`=3"
    set_partition_location(spark, f"`{DB}`.`{table}`", spec, str(part))


def observe(spark: Any, base: Path, tables: list[str]) -> dict[str, Any]:
    """Rows of hour 03 through the metastore, and the partition directory's entries."""
    rows, entries = {}, {}
    for t in tables:
        spark.catalog.refreshTable(f"{DB}.{t}")
        df = spark.table(f"{DB}.{t}").where("year = 2024 AND month = 1 AND day = 5 AND hour = 3")
        rows[t] = sorted(r["n"] for r in df.collect())
        part = base / "out" / t / "year=2024/month=1/day=5/hour=3"
        entries[t] = sorted(p.name for p in part.iterdir() if not p.name.endswith(".crc"))
    return {"rows": rows, "entries": entries}


def main(plan: dict[str, Any]) -> None:
    """Run one step of the drill (see the module docstring)."""
    base = Path(plan["base"])
    failpoint = os.environ.pop(ENV, None)  # armed only for the last refine below
    spark = get_session("test", app_name="eljobs-commit-drill")
    spark.sql(f"CREATE DATABASE IF NOT EXISTS {DB}")
    print(json.dumps(observe(spark, base, plan.get("check", []))), flush=True)
    if plan.get("recover"):
        for t in plan["recover"]:
            refine(spark, base, t, "03")
        print(json.dumps(observe(spark, base, plan["recover"])), flush=True)
    prepare = plan.get("prepare")
    if prepare:
        table, layout = prepare["table"], prepare["layout"]
        # "new": the table exists (hour 02) but hour 03 is not a partition yet.
        write_input(base, table, "02" if layout == "new" else "03", OLD)
        refine(spark, base, table, "02" if layout == "new" else "03")
        if layout == "flat":
            flatten(spark, base, table)
        write_input(base, table, "03", NEW)
        if failpoint:
            os.environ[ENV] = failpoint
        refine(spark, base, table, "03")
        print(json.dumps({"survived": table}), flush=True)


if __name__ == "__main__":
    main(json.loads(sys.argv[1]))
