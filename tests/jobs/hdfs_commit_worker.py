"""One process of the HDFS commit drill (``test_commit_on_hdfs.py``).

Run as ``python hdfs_commit_worker.py '<json plan>'`` with ``HADOOP_CONF_DIR`` pointing at the
mini cluster (so bare paths are on its HDFS from the moment the JVM starts) and ``ELJOBS_WORK``
naming the Derby metastore folder every process of the drill shares. The process first reports
what readers see of the tables named in ``check`` (rows of hour 03 through the metastore, the
partition's location and the entries of its directory on HDFS), reruns the tables named in
``recover`` and reports again, then, for ``prepare``, refines an hour of old rows, writes new
input and refines it with ``ELJOBS_FAILPOINT`` armed, so that the process dies at that step of
the commit. Inputs are written and directories listed with Hadoop's own ``FileSystem``, not
eljobs' layer, which is under test. Prints one JSON line per report.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

from eljobs.config import parse_config
from eljobs.failpoints import ENV
from eljobs.refine.ddl import partition_location
from eljobs.refine.options import RefineConfig
from eljobs.refine.runner import run_refine
from eljobs.spark import get_session

DB = "hdfs_drill"
BASE = "/wmf/drill"  # bare: the mini cluster's HDFS
OLD = [1, 2, 3]
NEW = [11, 12, 13, 14, 15]
SPEC = "`year`=2024,`month`=1,`day`=5,`hour`=3"


def main(plan: dict[str, Any]) -> None:
    """Run one step of the drill (see the module docstring)."""
    failpoint = os.environ.pop(ENV, None)  # armed only for the last refine below
    spark = get_session("test", app_name="eljobs-hdfs-commit-drill")
    jvm = spark.sparkContext._jvm
    hfs = jvm.org.apache.hadoop.fs.FileSystem.get(spark.sparkContext._jsc.hadoopConfiguration())
    hpath = jvm.org.apache.hadoop.fs.Path
    spark.sql(f"CREATE DATABASE IF NOT EXISTS {DB}")

    def write_input(table: str, numbers: list[int]) -> None:
        d = f"{BASE}/raw/eventlogging_{table}/year=2024/month=01/day=05/hour=03"
        hfs.delete(hpath(d), True)
        for i in range(2):
            text = "".join(json.dumps({"schema": table, "n": n}) + "\n" for n in numbers[i::2])
            out = hfs.create(hpath(f"{d}/part-0000{i}.json"))
            out.write(bytearray(text.encode()))
            out.close()

    def refine(table: str) -> None:
        cfg = parse_config(
            RefineConfig,
            [
                f"--input_path={BASE}/raw",
                r"--input_path_regex=eventlogging_(.+)/year=(\d+)/month=(\d+)/day=(\d+)/hour=(\d+)",
                "--input_path_regex_capture_groups=table,year,month,day,hour",
                f"--output_path={BASE}/out",
                f"--output_database={DB}",
                f"--table_include_regex={table}",
                "--since=2024-01-05T03:00:00Z",
                "--until=2024-01-05T04:00:00Z",
                "--ignore_done_flag=true",
                "--ignore_failure_flag=true",
                f"--report_path={BASE}/reports/{table}.json",
            ],
        )
        result = run_refine(spark, cfg)
        if not result.ok:
            raise SystemExit(f"refine of {table} failed: {result.targets}")

    def observe(tables: list[str]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for t in tables:
            spark.catalog.refreshTable(f"{DB}.{t}")
            df = spark.table(f"{DB}.{t}").where(
                "year = 2024 AND month = 1 AND day = 5 AND hour = 3"
            )
            part = f"{BASE}/out/{t}/year=2024/month=1/day=5/hour=3"
            out[t] = {
                "rows": sorted(r["n"] for r in df.collect()),
                "location": partition_location(spark, f"`{DB}`.`{t}`", SPEC),
                "entries": sorted(
                    s.getPath().getName()
                    for s in hfs.listStatus(hpath(part))
                    if not s.getPath().getName().endswith(".crc")
                ),
            }
        return out

    print(json.dumps({"default_fs": str(hfs.getUri()), "seen": observe(plan.get("check", []))}))
    if plan.get("recover"):
        for t in plan["recover"]:
            refine(t)
        print(json.dumps({"recovered": observe(plan["recover"])}), flush=True)
    prepare = plan.get("prepare")
    if prepare:
        write_input(prepare, OLD)
        refine(prepare)
        write_input(prepare, NEW)
        if failpoint:
            os.environ[ENV] = failpoint
        refine(prepare)
        print(json.dumps({"survived": prepare}), flush=True)


if __name__ == "__main__":
    main(json.loads(sys.argv[1]))
