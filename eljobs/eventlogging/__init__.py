"""The eventlogging-processor semantics as plain Python (spec eventlogging-processor.md).

* :mod:`.logformat`: format strings, QSON, time casters, capsule uuid.
* :mod:`.schemas`: local schema repository, Event Platform → draft-3 conversion.
* :mod:`.validation`: encapsulated draft-3 validation (compiled fast path + jsonschema wording).
* :mod:`.processor`: one raw line → valid capsule or EventError; the Arrow batch function.
"""

from __future__ import annotations

from eljobs.eventlogging.logformat import LogFormatError, LogParser
from eljobs.eventlogging.processor import (
    OUTPUT_SCHEMA_FIELDS,
    OUTPUT_SPARK_DDL,
    PRODUCTION_FORMAT,
    Outcome,
    Processor,
    error_uuid,
    process_batch,
    serialize,
)
from eljobs.eventlogging.schemas import (
    SchemaNotFound,
    SchemaRepository,
    SchemaRepositoryError,
    event_platform_documents,
    eventlogging_schema_from_event_platform,
    revision_for_version,
)

__all__ = [
    "OUTPUT_SCHEMA_FIELDS",
    "OUTPUT_SPARK_DDL",
    "PRODUCTION_FORMAT",
    "LogFormatError",
    "LogParser",
    "Outcome",
    "Processor",
    "SchemaNotFound",
    "SchemaRepository",
    "SchemaRepositoryError",
    "error_uuid",
    "event_platform_documents",
    "eventlogging_schema_from_event_platform",
    "process_batch",
    "revision_for_version",
    "serialize",
]
