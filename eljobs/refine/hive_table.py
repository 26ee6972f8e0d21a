"""The Hive table writer: one partition of an external Parquet table, committed by pointing
the metastore partition at a new directory.

**Layout.** A partition's rows live in a directory of their own inside the partition
directory, ``<table>/<k=v/...>/data-<id>/``, and the metastore partition's location is that
directory. The ``_REFINED``/``_REFINE_FAILED`` flags stay in the partition directory.

**Commit.** The rows are staged in ``<partition>/_staging-<id>/`` (``_`` names are skipped
by Hive and Spark listings, so nothing reads them there), then:

1. the staging directory is renamed to ``data-<id>``: beside the current location, or, for a
   partition still in the reference's flat layout (files directly in the partition directory,
   which is the location), inside it, where Spark and Hive (which do not list a partition's
   sub-directories) still do not read it;
2. the metastore partition is pointed at ``data-<id>`` (``SET LOCATION``, or ``ADD
   PARTITION … LOCATION`` for a new one): one metastore update, the moment readers switch
   from the old rows to the new;
3. every other entry of the partition directory (the old data directory or the flat layout's
   files, leftovers of killed runs, old flags) is deleted.

A process killed between any two steps leaves the table showing the old rows (before 3) or
the new ones (after); the next run finishes the clean-up. The drill in
``tests/refine/test_commit_drill.py`` kills it at each failpoint.
"""

from __future__ import annotations

import logging
import uuid
from typing import TYPE_CHECKING

from pyspark.sql import DataFrame
from pyspark.sql.types import StructType

from eljobs.failpoints import failpoint
from eljobs.refine.ddl import (
    add_partition,
    create_or_evolve_table,
    partition_location,
    set_partition_location,
    table_exists,
    table_schema,
)
from eljobs.refine.evolution import planned_table_schema
from eljobs.refine.table_writer import write_parquet

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from eljobs.io.fs import FileSystem
    from eljobs.refine.targets import RefineTarget

log = logging.getLogger(__name__)

#: Prefix of a staging directory inside a partition directory (hidden from readers).
STAGING_PREFIX = "_staging-"
#: Prefix of a committed data directory inside a partition directory.
DATA_PREFIX = "data-"


class CommitError(OSError):
    """A partition commit could not move a directory (the message names both paths)."""


class HiveTableWriter:
    """:class:`~eljobs.refine.table_writer.TableWriter` for an external Parquet Hive table.

    Args:
        spark: the session (Hive support on).
        fs: the file system layer.
        target: the table and partition to write.
        allow_recreate: when the metastore refuses a struct change, drop and re-create the
            table instead of failing the target (``--allow_table_recreate``).
    """

    def __init__(
        self,
        spark: SparkSession,
        fs: FileSystem,
        target: RefineTarget,
        *,
        allow_recreate: bool = False,
    ) -> None:
        self.spark = spark
        self.fs = fs
        self.target = target
        self.allow_recreate = allow_recreate
        self.keys = [k for k, _ in target.partition]

    def existing_schema(self) -> StructType | None:
        """The table's schema now, None when it does not exist."""
        t = self.target
        if not table_exists(self.spark, t.database, t.table):
            return None
        return table_schema(self.spark, t.database, t.table)

    def planned_schema(self, frame_schema: StructType, existing: StructType | None) -> StructType:
        """The schema :meth:`evolve` will leave (pure)."""
        return planned_table_schema(self.keys, frame_schema, existing)

    def stage(self, df: DataFrame, *, codec: str) -> str:
        """Write ``df`` to a fresh ``_staging-<id>`` directory inside the partition directory."""
        path = f"{self.target.partition_path}/{STAGING_PREFIX}{uuid.uuid4().hex}"
        write_parquet(df, path, codec=codec)
        return path

    def evolve(
        self, frame_schema: StructType, existing: StructType | None
    ) -> tuple[StructType, list[str]]:
        """Create or evolve the table (:func:`eljobs.refine.ddl.create_or_evolve_table`)."""
        t = self.target
        return create_or_evolve_table(
            self.spark,
            t.database,
            t.table,
            location=t.table_location,
            partition_keys=self.keys,
            frame_schema=frame_schema,
            existing=existing,
            allow_recreate=self.allow_recreate,
        )

    def commit(self, staged: str) -> None:
        """Put the staged rows in place (module docstring, steps 1-3).

        Raises:
            CommitError: the file system refused a rename.
        """
        t = self.target
        part = t.partition_path.rstrip("/")
        current = partition_location(self.spark, t.quoted_table, t.spec)
        name = staged.rstrip("/").rsplit("/", 1)[-1]
        final = f"{part}/{DATA_PREFIX}{name.removeprefix(STAGING_PREFIX)}"
        self._rename(staged, final)
        failpoint("commit_renamed")
        if current is None:
            add_partition(self.spark, t.quoted_table, t.spec, final)
        else:
            set_partition_location(self.spark, t.quoted_table, t.spec, final)
        failpoint("commit_switched")
        self._clean(part, keep=final)
        failpoint("commit_cleaned")

    def discard(self, staged: str) -> None:
        """Delete a staging directory (nothing when it is gone)."""
        try:
            self.fs.delete(staged, recursive=True)
        except Exception as e:  # leftovers are harmless: readers skip "_" directories
            log.warning("cannot remove staging directory %s: %s", staged, e)

    # ----------------------------------------------------------------------------------------

    def _rename(self, source: str, dest: str) -> None:
        try:
            self.fs.rename(source, dest)
        except OSError as e:  # FsError names both paths and the reason
            raise CommitError(str(e)) from e

    def _clean(self, part: str, *, keep: str) -> None:
        """Delete every entry of the partition directory but ``keep`` (old data directory or
        flat files, leftovers of killed runs, old flags: the runner writes the new flag next)."""
        kept = self.fs.qualify(keep).rstrip("/")
        for entry in self.fs.list(part, missing_ok=True):
            if self.fs.qualify(entry.path).rstrip("/") == kept:
                continue
            try:
                self.fs.delete(entry.path, recursive=True)
            except Exception as e:  # never read again: the partition points elsewhere
                log.warning("cannot delete %s: %s", entry.path, e)
