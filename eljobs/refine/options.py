"""The options of ``python -m eljobs refine`` as a typed config.

:class:`RefineConfig` has every option of the Scala ``Refine`` job with the same name, type and
default, plus eljobs additions (``eventlogging_schemas_path``, ``allow_table_recreate``,
``report_path``). It is subclassed by the RefineSanitize config, so every field has a default
and required-ness is checked in :meth:`RefineConfig.validate`, which collects every problem at
once.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from eljobs.config import JobConfig, option
from eljobs.refine.transform_names import transform_name_problems
from eljobs.timewindow import floor_hour, utcnow

#: ``input_format`` values Refine understands.
INPUT_FORMATS = ("parquet", "json", "sequence_json", "text", "empty")

DEFAULT_DATETIME_FORMAT = "'year='yyyy/'month='MM/'day='dd/'hour='HH"


def _since_default() -> datetime:
    return utcnow() - timedelta(hours=24)


def _cpu_count() -> int:
    return os.cpu_count() or 1


@dataclass(frozen=True, kw_only=True)
class RefineConfig(JobConfig):
    """Refine raw JSON (or parquet, SequenceFile, text) hourly partitions into evolving Hive
    tables, one output partition per input directory, with _REFINED/_REFINE_FAILED flags.

    Example:
      python -m eljobs refine --input_path /wmf/data/raw/eventlogging_legacy \\
        --input_path_regex '.*/eventlogging_(.+)/year=(\\d+)/month=(\\d+)/day=(\\d+)/hour=(\\d+)' \\
        --input_path_regex_capture_groups table,year,month,day,hour \\
        --output_path /wmf/data/event --output_database event \\
        --schema_base_uris eventlogging --eventlogging_schemas_path /srv/schemas --since 26
    """

    config_file: tuple[str, ...] = option(
        (), help="Java .properties files to load first (repeat or comma separate; later wins)."
    )
    input_path: str | None = option(
        None,
        help="Base directory (hdfs://, file:// or a plain path); every immediate sub-directory "
        "is one dataset to search. Mutually exclusive with input_database.",
    )
    input_format: str | None = option(
        None,
        help=f"Force the input format, one of {','.join(INPUT_FORMATS)} (FS mode only). "
        "Unset: inferred per target from the first data file's magic bytes.",
    )
    input_path_regex: re.Pattern[str] | None = option(
        None,
        help="Regex searched (not anchored) in each fully qualified candidate partition path; "
        "needs one capturing group per name in input_path_regex_capture_groups. Required with "
        "input_path.",
    )
    input_path_regex_capture_groups: tuple[str, ...] | None = option(
        None,
        help="Names of the input_path_regex groups, positionally. Must include 'table'; every "
        "other name becomes a partition key, in this order. Required with input_path.",
    )
    input_path_datetime_format: str = option(
        DEFAULT_DATETIME_FORMAT,
        help="Joda pattern printing the sub-path of an hour under each dataset directory.",
    )
    input_database: str | None = option(
        None,
        help="Hive database whose tables are the input (DB mode). Mutually exclusive with "
        "input_path.",
    )
    output_path: str | None = option(
        None, help="Base directory of the output tables; a table lives in <output_path>/<table>."
    )
    output_database: str | None = option(None, help="Hive database of the output tables.")
    since: datetime = option(
        default_factory=_since_default,
        default_doc="24 (hours ago)",
        help="Start of the search window: ISO-8601 (zone-less is UTC) or a whole number of hours "
        "before now.",
    )
    until: datetime = option(
        default_factory=utcnow,
        default_doc="0 (now)",
        help="End of the search window (exclusive): ISO-8601 or a whole number of hours ago.",
    )
    table_include_regex: re.Pattern[str] | None = option(
        None, help="Only refine tables whose normalized name fully matches this regex."
    )
    table_exclude_regex: re.Pattern[str] | None = option(
        None,
        help="Skip tables whose normalized name fully matches this regex (wins over include).",
    )
    transform_functions: tuple[str, ...] = option(
        (),
        help="Transform functions applied in order: names of the registry "
        "eljobs.refine.transforms.TRANSFORMS (event_transforms, deduplicate, geocode_ip, ...; "
        "aliases included), the same names as Scala objects "
        "(org.wikimedia.analytics.refinery.job.refine.<name>), or an explicit Python "
        "'package.module:function'. Anything else is refused before a target starts.",
    )
    geocode_database: str = option(
        "/usr/share/GeoIP/GeoIP2-City.mmdb",
        help="eljobs addition: the MaxMind City database geocode_ip reads on every executor "
        "(the Scala job's JVM property maxmind.database.city, same default). A missing file "
        "fails each target that geocodes, naming the path. 'bundled' selects the GeoLite2 "
        "City of July 2018 from the maxminddb-geolite2 package: for the demo and tests only.",
    )
    ignore_failure_flag: bool = option(
        False, help="Also refine targets that have _REFINE_FAILED and unchanged input."
    )
    ignore_done_flag: bool = option(
        False, help="Also refine targets that have _REFINED and unchanged input."
    )
    parallelism: int = option(
        default_factory=_cpu_count,
        default_doc="number of local CPU cores",
        help="How many tables are refined concurrently (targets of one table run in order).",
    )
    compression_codec: str = option(
        "snappy", help="Parquet compression codec (spark.sql.parquet.compression.codec)."
    )
    limit: int | None = option(
        None, help="Only refine the first N targets (after the flag filter)."
    )
    dry_run: bool = option(
        False,
        help="Discover targets and print one line per target (input path -> output partition "
        "path); read nothing, write nothing, send no email.",
    )
    should_email_report: bool = option(
        False, help="Email a failure report to to_emails through smtp_uri."
    )
    smtp_uri: str = option("localhost:25", help="SMTP server as host:port.")
    from_email: str = option("Refine <noreply@wikimedia.org>", help="Sender of report emails.")
    to_emails: tuple[str, ...] = option((), help="Recipients of report emails.")
    schema_base_uris: tuple[str, ...] = option(
        (),
        help="Event schema repositories (local dirs, file://, http(s)://) laid out as "
        "<name>/<version>.yaml; each event's $schema is resolved against them and the latest "
        "version of that schema is used. The single value 'eventlogging' selects the legacy "
        "EventLogging capsule loader (schemas from eventlogging_schemas_path). Empty: infer "
        "the schema from the data. Ignored in DB mode.",
    )
    eventlogging_schemas_path: str | None = option(
        None,
        help="eljobs addition, used with schema_base_uris=eventlogging instead of "
        "meta.wikimedia.org: a directory <Name>/<revision>.(json|yaml|yml) of EventLogging "
        "schemas, or an Event Platform repository of migrated legacy schemas "
        "(<name>/<version>.yaml whose properties.event is the EventLogging schema). The latest "
        "revision of the event's schema is used.",
    )
    schema_field: str = option("/$schema", help="JSON pointer to the schema URI inside an event.")
    dataframereader_options: dict[str, str] = option(
        default_factory=dict,
        help="Extra Spark DataFrameReader options, k1:v1,k2:v2 (the Scala help calls this "
        "dataframe_reader_options, but the key is dataframereader_options).",
    )
    merge_with_hive_schema_before_read: bool = option(
        False,
        help="Merge the loaded schema with the existing Hive table schema before reading.",
    )
    corrupt_record_failure_threshold: int = option(
        1,
        help="Fail a target when it has at least this many corrupt records; <= 0 disables "
        "(corrupt records are then dropped with a warning).",
    )
    allow_table_recreate: bool = option(
        False,
        help="eljobs addition: when the Hive metastore refuses to add members to a struct "
        "column, drop and re-create the external table with the new schema (partitions "
        "re-registered, no data moved; readers see no table for a moment). Off: the target "
        "fails with a message naming the table and the column.",
    )
    report_path: str | None = option(
        None,
        help="eljobs addition: where to write the JSON run report (default "
        "<work>/reports/<job>-<UTC time>.json), on failure too with the targets done so far; "
        "checked writable before any work starts. A dry run writes none.",
    )

    def validate(self) -> list[str]:
        """Every problem of the option set, as messages (empty when the config is usable)."""
        problems = super().validate()
        if self.input_path and self.input_database:
            problems.append("Only one of input_path or input_database is allowed.")
        if not self.input_path and not self.input_database:
            problems.append("Must provide one of input_path or input_database.")
        if self.input_path:
            if self.input_path_regex is None:
                problems.append("input_path_regex is required when input_path is given.")
            if not self.input_path_regex_capture_groups:
                problems.append(
                    "input_path_regex_capture_groups is required when input_path is given."
                )
        groups = self.input_path_regex_capture_groups
        if groups is not None and "table" not in groups:
            problems.append(
                f"Invalid input_path_regex_capture_groups {','.join(groups)}. "
                "Must at least contain 'table' as a named capture group."
            )
        if (
            groups
            and self.input_path_regex is not None
            and self.input_path_regex.groups != len(groups)
        ):
            problems.append(
                f"input_path_regex {self.input_path_regex.pattern!r} has "
                f"{self.input_path_regex.groups} capturing groups but "
                f"input_path_regex_capture_groups names {len(groups)} ({','.join(groups)})."
            )
        if self.input_format is not None and self.input_format not in INPUT_FORMATS:
            problems.append(
                f"Invalid input_format {self.input_format}. Must be one of "
                f"{','.join(INPUT_FORMATS)}."
            )
        problems.extend(self._window_problems())
        if not self.output_path:
            problems.append("output_path is required.")
        if not self.output_database:
            problems.append("output_database is required.")
        if self.parallelism < 1:
            problems.append(f"parallelism must be at least 1, found {self.parallelism}.")
        if self.limit is not None and self.limit < 0:
            problems.append(f"limit must not be negative, found {self.limit}.")
        if tuple(self.schema_base_uris) == ("eventlogging",) and not self.eventlogging_schemas_path:
            problems.append(
                "schema_base_uris=eventlogging needs eventlogging_schemas_path (eljobs has no "
                "access to meta.wikimedia.org): a directory of EventLogging schemas."
            )
        if ":" not in self.smtp_uri and self.should_email_report:
            problems.append(f"smtp_uri must be host:port, found {self.smtp_uri!r}.")
        problems.extend(transform_name_problems(self.transform_functions))
        if not self.schema_field.startswith("/"):
            problems.append(
                f"schema_field must be a JSON pointer starting with '/', found "
                f"{self.schema_field!r}."
            )
        return problems

    def _window_problems(self) -> list[str]:
        # An inverted window is a bad option in both modes (exit 2), found before any listing:
        # FS mode would otherwise find "0 targets" and exit 0, DB mode fail at discovery.
        since, until = self.since, self.until
        if since > until:
            return [
                f"since ({since.isoformat()}) is after until ({until.isoformat()}): expected "
                "since before until."
            ]
        if self.input_database and floor_hour(since) == floor_hour(until):
            return [
                f"since equal to until at hour granularity ({floor_hour(since).isoformat()}): "
                "the DB mode window [floor(since), floor(until)) is empty."
            ]
        return []
