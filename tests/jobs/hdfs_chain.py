"""The child process of tests/jobs/test_jobs_on_hdfs.py: the production jobs on the mini
cluster's HDFS, with the production configuration files and bare paths.

Run as ``python tests/jobs/hdfs_chain.py PLAN.json RESULT.json`` with ``HADOOP_CONF_DIR``
pointing at the mini cluster, so that ``fs.defaultFS`` is its HDFS from the moment the JVM
starts, as on a cluster host. One Spark session runs every step (one JVM start for the whole
chain); each step's outcome (exit code or error) is recorded in RESULT.json, and a failing step
does not stop the ones that do not depend on it.

The plan names the local files the parent prepared (generated raw lines, capsules, schema
folders, the allowlist); the child first copies them to the bare HDFS paths the production
configuration files name, with Hadoop's own ``FileSystem`` (not eljobs' layer, which is under
test).
"""

from __future__ import annotations

import json
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

#: The production databases, and one for refine FS mode over colliding and glob-like names.
DATABASES = ("event", "event_sanitized", "event_collide")


def _step(result: dict[str, Any], name: str, fn: Callable[[], int]) -> None:
    try:
        result[name] = {"code": fn()}
    except BaseException as e:  # SystemExit from argument parsing included
        result[name] = {"error": f"{type(e).__name__}: {e}", "trace": traceback.format_exc()}


def main(plan_path: str, result_path: str) -> int:
    """Copy the inputs to HDFS and run backfill, refine, salts rotate, refine_sanitize, and
    refine over dataset directories whose names collide or hold glob characters."""
    from eljobs.jobs import backfill, refine, refine_sanitize
    from eljobs.jobs import salts as salts_job
    from eljobs.spark import get_session
    from eljobs.testing.sample import write_sequence_hour

    plan = json.loads(Path(plan_path).read_text())
    spark = get_session("test", app_name="eljobs-jobs-on-hdfs")
    jvm = spark.sparkContext._jvm
    hconf = spark.sparkContext._jsc.hadoopConfiguration()
    hadoop_fs = jvm.org.apache.hadoop.fs.FileSystem.get(hconf)

    def put(local: str, bare: str) -> None:
        hpath = jvm.org.apache.hadoop.fs.Path
        target = hpath(bare)
        hadoop_fs.mkdirs(target.getParent())
        hadoop_fs.copyFromLocalFile(False, True, hpath(f"file://{local}"), target)

    result: dict[str, Any] = {"default_fs": hconf.get("fs.defaultFS")}
    put(plan["backfill_schemas"], plan["backfill_schemas_path"])
    put(plan["allowlist"], plan["allowlist_path"])
    put(plan["refine_schemas"], plan["refine_schemas_path"])
    lines = json.loads(Path(plan["raw_lines"]).read_text())
    write_sequence_hour(spark, plan["raw_hour_path"], lines)
    for directory, capsules in plan["refine_inputs"].items():
        text = json.loads(Path(capsules).read_text())
        spark.createDataFrame([(x,) for x in text], "value STRING").coalesce(1).write.text(
            directory
        )
    for path, lines_of_file in plan["collide_inputs"].items():
        # Written byte for byte by Hadoop: the directory names hold glob characters.
        out = hadoop_fs.create(jvm.org.apache.hadoop.fs.Path(path))
        out.write(bytearray("".join(f"{x}\n" for x in lines_of_file).encode()))
        out.close()
    for db in DATABASES:
        # The production databases; their tables live where the configuration files say.
        spark.sql(f"CREATE DATABASE IF NOT EXISTS {db}")

    _step(result, "backfill", lambda: backfill.main(plan["backfill_argv"]))
    _step(result, "refine", lambda: refine.main(plan["refine_argv"]))
    _step(result, "salts", lambda: salts_job.main(plan["salts_argv"]))
    _step(result, "refine_sanitize", lambda: refine_sanitize.main(plan["sanitize_argv"]))
    _step(result, "refine_collide", lambda: refine.main(plan["collide_argv"]))

    tables: dict[str, Any] = {}
    for db in DATABASES:
        for t in spark.catalog.listTables(db):
            name = f"{db}.{t.name}"
            df = spark.table(name)
            tables[name] = {
                "rows": [r.asDict(recursive=True) for r in df.collect()],
                "location": spark.sql(f"DESCRIBE FORMATTED {name}")
                .where("col_name = 'Location'")
                .collect()[0]["data_type"],
            }
    result["tables"] = tables
    Path(result_path).write_text(json.dumps(result, default=str))
    spark.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1], sys.argv[2]))
