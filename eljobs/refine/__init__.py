"""Refine: raw hourly partitions → evolving Hive tables.

Modules: :mod:`~eljobs.refine.options` (RefineConfig), :mod:`~eljobs.refine.targets` (discovery),
:mod:`~eljobs.refine.flags` (done/failed flags), :mod:`~eljobs.refine.reader` (format inference,
reading), :mod:`~eljobs.refine.schema` (JSON Schema → Spark, schema repositories),
:mod:`~eljobs.refine.evolution` (schema merge, evolution plan), :mod:`~eljobs.refine.frames`
(partition columns, normalize, conform), :mod:`~eljobs.refine.ddl` (Hive DDL and catalog),
:mod:`~eljobs.refine.table_writer` (what a table format provides) and
:mod:`~eljobs.refine.hive_table` (the Hive writer: staging, atomic partition commit),
:mod:`~eljobs.refine.iceberg_table` (the Iceberg writer: schema evolution, overwrite snapshot),
:mod:`~eljobs.refine.transforms` (transform functions), :mod:`~eljobs.refine.runner`,
:mod:`~eljobs.refine.report`, :mod:`~eljobs.refine.monitor`.
"""

from __future__ import annotations

from eljobs.refine.context import TransformContext, TransformFn
from eljobs.refine.options import RefineConfig

__all__ = ["RefineConfig", "TransformContext", "TransformFn"]
