"""What the Refine runner needs from a table format, as a small protocol.

The runner reads and transforms a target's input, then hands the frame to a
:class:`TableWriter` for that target's table and partition: it asks for the schema the table
will have (:meth:`~TableWriter.planned_schema`), writes the conformed rows aside
(:meth:`~TableWriter.stage`), creates or evolves the table only once that write succeeded and
the input's account passed (:meth:`~TableWriter.evolve`), and then makes the new rows visible
in one step (:meth:`~TableWriter.commit`) or throws them away (:meth:`~TableWriter.discard`).
A failing target therefore changes no table and no partition, whatever the format.

:class:`eljobs.refine.hive_table.HiveTableWriter` is the Hive (external Parquet table)
implementation, :class:`eljobs.refine.iceberg_table.IcebergTableWriter` the Iceberg one.
"""

from __future__ import annotations

from typing import Protocol

from pyspark.sql import DataFrame
from pyspark.sql.types import StructType


class TableWriter(Protocol):
    """Writes one partition of one table for one target."""

    def existing_schema(self) -> StructType | None:
        """The table's schema now, None when the table does not exist."""
        ...

    def planned_schema(self, frame_schema: StructType, existing: StructType | None) -> StructType:
        """The table schema :meth:`evolve` will leave for ``frame_schema`` (no catalog call)."""
        ...

    def stage(self, df: DataFrame, *, codec: str) -> str:
        """Write ``df`` (already conformed) where readers of the table do not see it yet;
        return where it went, for :meth:`commit` or :meth:`discard`."""
        ...

    def evolve(
        self, frame_schema: StructType, existing: StructType | None
    ) -> tuple[StructType, list[str]]:
        """Create or evolve the table for ``frame_schema``; return the table schema afterwards
        and the DDL statements issued."""
        ...

    def commit(self, staged: str) -> None:
        """Make the staged rows the partition's content: readers see the old rows or the new
        ones, never none or a mix."""
        ...

    def discard(self, staged: str) -> None:
        """Delete staged rows that will not be committed (no error when already gone)."""
        ...


def write_parquet(df: DataFrame, path: str, *, codec: str) -> None:
    """Write ``df`` as Parquet to ``path`` (overwritten) with compression ``codec``."""
    df.write.mode("overwrite").option("compression", codec).parquet(path)
