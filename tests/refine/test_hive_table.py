"""The Hive writer's partition layout and commit: rows in ``<partition>/data-<id>/`` with the
metastore partition pointing there, the old directory deleted after the switch, flat partitions
of the Scala layout replaced, staging directories unread and discarded."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import Row
from pyspark.sql.types import StructType

from eljobs.io.fs import JvmFileSystem
from eljobs.refine.ddl import partition_location
from eljobs.refine.hive_table import HiveTableWriter
from eljobs.refine.targets import RefineTarget

DB = "t_refine_hive_table"
SCHEMA = StructType.fromJson(
    {
        "type": "struct",
        "fields": [
            {"name": "n", "type": "long", "nullable": True, "metadata": {}},
            {"name": "year", "type": "long", "nullable": True, "metadata": {}},
        ],
    }
)


@pytest.fixture
def target(spark: Any, tmp_path: Path) -> RefineTarget:
    spark.sql(f"DROP DATABASE IF EXISTS {DB} CASCADE")
    spark.sql(f"CREATE DATABASE {DB}")
    return RefineTarget(
        input_path="file:/in",
        database=DB,
        table="layout",
        table_location=str(tmp_path / "layout"),
        partition=(("year", "2024"),),
        input_mtime=1,
    )


def _entries(d: Path) -> list[str]:
    return sorted(p.name for p in d.iterdir() if not p.name.endswith(".crc"))


def _rows(spark: Any) -> list[int]:
    spark.catalog.refreshTable(f"{DB}.layout")
    return sorted(r["n"] for r in spark.table(f"{DB}.layout").collect())


def test_commit_points_the_partition_at_a_new_data_directory_each_time(
    spark: Any, target: RefineTarget
):
    fs = JvmFileSystem(spark)
    writer = HiveTableWriter(spark, fs, target)
    writer.evolve(SCHEMA, None)
    part = Path(target.partition_path)

    staged = writer.stage(spark.createDataFrame([(1, 2024), (2, 2024)], SCHEMA), codec="snappy")
    assert Path(staged).parent == part and Path(staged).name.startswith("_staging-")
    writer.commit(staged)
    (first,) = _entries(part)
    assert first.startswith("data-")
    location = partition_location(spark, target.quoted_table, target.spec)
    assert location == fs.qualify(str(part / first))
    assert _rows(spark) == [1, 2]

    # A rerun: the new rows in a new directory, the old one and the old flag gone.
    target.write_flag(fs, "_REFINED")
    staged = writer.stage(spark.createDataFrame([(3, 2024)], SCHEMA), codec="snappy")
    writer.commit(staged)
    (second,) = _entries(part)
    assert second.startswith("data-") and second != first
    assert _rows(spark) == [3]


def test_a_discarded_stage_is_never_read(spark: Any, target: RefineTarget):
    writer = HiveTableWriter(spark, JvmFileSystem(spark), target)
    writer.evolve(SCHEMA, None)
    writer.commit(writer.stage(spark.createDataFrame([(1, 2024)], SCHEMA), codec="snappy"))
    staged = writer.stage(spark.createDataFrame([(9, 2024)], SCHEMA), codec="snappy")
    assert _rows(spark) == [1]  # the staging directory is beside the location, hidden
    writer.discard(staged)
    assert not Path(staged).exists()
    assert _rows(spark) == [1]


def test_a_partition_of_the_flat_layout_is_converted_then_replaced(
    spark: Any, target: RefineTarget, tmp_path: Path
):
    # As the Scala job left it: files directly in the partition directory, which is the
    # metastore location, and its flag beside them.
    fs = JvmFileSystem(spark)
    writer = HiveTableWriter(spark, fs, target)
    writer.evolve(SCHEMA, None)
    part = target.partition_path
    spark.createDataFrame([(1, 2024), (2, 2024)], SCHEMA).repartition(2).write.parquet(part)
    spark.sql(f"ALTER TABLE {target.quoted_table} ADD PARTITION ({target.spec}) LOCATION '{part}'")
    target.write_flag(fs, "_REFINED")
    assert _rows(spark) == [1, 2]

    staged = writer.stage(spark.createDataFrame([(5, 2024)], SCHEMA), codec="snappy")
    name = Path(staged).name.replace("_staging-", "data-")
    # Step 1 alone: the new rows renamed inside the flat location are not read.
    writer._rename(staged, f"{part}/{name}")
    assert _rows(spark) == [1, 2]
    writer.fs.rename(f"{part}/{name}", staged)

    writer.commit(staged)
    (only,) = _entries(Path(part))
    assert only == name
    assert _rows(spark) == [5]


def test_committed_rows_read_by_path_keep_the_partition_column(spark: Any, target: RefineTarget):
    writer = HiveTableWriter(spark, JvmFileSystem(spark), target)
    writer.evolve(SCHEMA, None)
    writer.commit(writer.stage(spark.createDataFrame([(7, 2024)], SCHEMA), codec="snappy"))
    rows = spark.read.parquet(target.table_location).select("n", "year").collect()
    assert rows == [Row(n=7, year=2024)]
