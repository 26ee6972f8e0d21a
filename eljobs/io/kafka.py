"""Kafka sink: write a DataFrame with Spark's Kafka-sink contract to Kafka.

For engineer B (backfill) and any job that writes to Kafka::

    from eljobs.io.kafka import KafkaOptions, write_to_kafka

    @dataclass(frozen=True, kw_only=True)
    class Config(KafkaOptions):          # adds --kafka_sink, --kafka_option (repeatable
        ...                              # kafka.x=y; properties files may carry kafka.* keys),
                                         # --create_topics, --topic_partitions, --kafka_timeout
    result = write_to_kafka(df, bootstrap_servers="h:9092", **cfg.kafka_write_kwargs())
    result.produced  # {topic: messages acknowledged}, equal to the rows routed to each topic

``write_to_kafka`` runs one small Spark action first (rows per topic, to check and create
topics before anything is produced): persist the DataFrame if it is expensive to compute.

The DataFrame contract is Spark's (``topic`` string, ``value`` string or binary, optional
``key`` string or binary, ``partition`` int, ``headers`` array<struct<key string, value binary>>;
other columns are ignored; an option ``topic`` overrides the column). Two paths:

* ``spark``: Spark's own ``format("kafka")`` when the ``spark-sql-kafka-0-10`` connector class
  (:data:`CONNECTOR_CLASS`) loads on the JVM classpath (``--packages`` / ``spark.jars.packages``).
* ``python``: eljobs' Spark 4 Python Data Source writer (:class:`KafkaDataSource`,
  ``DataSourceArrowWriter``), producing from the executors with confluent-kafka: idempotent
  producer, ``acks=all`` by default, Arrow batches, waits for every delivery report, fails the
  task on any delivery error (so Spark retries it), returns per-topic counts in its commit
  message; the driver sums them into :attr:`KafkaWriteResult.produced`.

Options use Spark's ``kafka.`` prefix for producer settings on both paths
(``kafka.linger.ms`` → producer ``linger.ms``). Librdkafka and the Java client share the common
names (``linger.ms``, ``acks``, ``compression.type``, ``security.protocol``, ``sasl.*``...).

Before writing, both paths check on the driver that the brokers answer (within ``timeout_s``;
else :class:`KafkaUnreachableError` naming the servers, nothing produced) and that every topic
exists (else :class:`MissingTopicsError` naming them, unless ``create_topics``). Message record
timestamps are left to the producer (the produce time), as Spark's sink and the reference
``kafka-confluent`` writer do.
"""

from __future__ import annotations

import json
import logging
import os
import re
import tempfile
import time
import uuid
import weakref
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from eljobs.config import option
from eljobs.errors import OutputError

try:  # pyspark is a dependency of the local/test extras; a cluster brings its own.
    from pyspark.sql.datasource import DataSource, DataSourceArrowWriter, WriterCommitMessage
except ImportError:  # pragma: no cover
    DataSource = object  # type: ignore[assignment,misc]
    DataSourceArrowWriter = object  # type: ignore[assignment,misc]
    WriterCommitMessage = object  # type: ignore[assignment,misc]

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.types import StructType

log = logging.getLogger(__name__)

CONNECTOR_CLASS = "org.apache.spark.sql.kafka010.KafkaSourceProvider"
CONNECTOR_HINT = (
    "add the connector with --packages or spark.jars.packages="
    "org.apache.spark:spark-sql-kafka-0-10_2.13:<spark version>"
)
SOURCE_NAME = "eljobs_kafka"
SinkName = Literal["auto", "spark", "python"]


# --------------------------------------------------------------------------------------------
# Errors and results


class KafkaSinkError(OutputError):
    """Writing to Kafka failed; the message names the bootstrap servers and topics.

    Attributes:
        bootstrap_servers: the servers the write went to.
        topics: the topics concerned.
        produced: messages known to be acknowledged per topic before the failure.
    """

    def __init__(
        self,
        message: str,
        *,
        bootstrap_servers: str = "",
        topics: Sequence[str] = (),
        produced: Mapping[str, int] | None = None,
    ) -> None:
        self.bootstrap_servers = bootstrap_servers
        self.topics = list(topics)
        self.produced = dict(produced or {})
        super().__init__(message)


class KafkaUnreachableError(KafkaSinkError):
    """No broker answered within the timeout."""


class MissingTopicsError(KafkaSinkError):
    """Topics the DataFrame routes rows to do not exist (and ``create_topics`` was not set)."""


class KafkaContractError(KafkaSinkError, ValueError):
    """The DataFrame or the options do not follow Spark's Kafka-sink contract."""


@dataclass(frozen=True)
class KafkaWriteResult:
    """What :func:`write_to_kafka` did.

    Attributes:
        sink: ``spark`` or ``python``.
        reason: why that sink was chosen (logged too).
        produced: messages acknowledged per topic.
    """

    sink: str
    reason: str
    produced: dict[str, int]

    @property
    def total(self) -> int:
        """Messages acknowledged over all topics."""
        return sum(self.produced.values())


# --------------------------------------------------------------------------------------------
# Job options


@dataclass(frozen=True, kw_only=True)
class KafkaOptions:
    """The Kafka sink options of a job; inherit from it in a job's ``Config``."""

    kafka_sink: SinkName = option(
        "auto",
        help="Kafka sink: spark (Spark's format('kafka'), needs the spark-sql-kafka-0-10 "
        "connector), python (eljobs' Python Data Source writer) or auto (spark when the "
        "connector is on the classpath, else python).",
    )
    kafka_option: dict[str, str] = option(
        default_factory=dict,
        accumulate=True,
        pair_sep="=",
        prefix="kafka.",
        help="Producer setting with Spark's kafka. prefix, e.g. kafka.linger.ms=50 "
        "(repeatable; properties files may carry kafka.* keys directly).",
    )
    create_topics: bool = option(
        False, help="Create missing topics (with --topic_partitions) instead of failing."
    )
    topic_partitions: int = option(1, help="Partitions of topics made by --create_topics.")
    kafka_timeout: float = option(
        30.0,
        help="Seconds to wait for the brokers to answer, and for each message to be "
        "acknowledged, before the write fails.",
    )

    def kafka_write_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for :func:`write_to_kafka` (all but ``bootstrap_servers``)."""
        return {
            "options": dict(self.kafka_option),
            "sink": self.kafka_sink,
            "create_topics": self.create_topics,
            "topic_partitions": self.topic_partitions,
            "timeout_s": self.kafka_timeout,
        }

    def kafka_option_problems(self) -> list[str]:
        """Problems with these options, for a job's ``validate()``."""
        problems = []
        for k in self.kafka_option:
            if not k.startswith("kafka."):
                problems.append(
                    f"--kafka_option: expected keys with the kafka. prefix "
                    f"(kafka.linger.ms=50), found {k!r}"
                )
        if self.topic_partitions < 1:
            problems.append(
                f"--topic_partitions: expected a whole number >= 1, found {self.topic_partitions}"
            )
        if self.kafka_timeout <= 0:
            problems.append(f"--kafka_timeout: expected seconds > 0, found {self.kafka_timeout}")
        return problems


# --------------------------------------------------------------------------------------------
# Options and client settings (pure)


def split_options(options: Mapping[str, str]) -> tuple[dict[str, str], str | None]:
    """Split sink options into client settings (``kafka.`` prefix removed) and the ``topic``.

    Raises:
        KafkaContractError: a key is neither ``kafka.<setting>`` nor ``topic``.
    """
    client: dict[str, str] = {}
    topic: str | None = None
    for k, v in options.items():
        if k.startswith("kafka."):
            client[k[len("kafka.") :]] = str(v)
        elif k == "topic":
            topic = str(v)
        else:
            raise KafkaContractError(
                f"Kafka option {k!r}: expected kafka.<client setting> (e.g. kafka.linger.ms) "
                "or topic"
            )
    return client, topic


def _sink_client_settings(bootstrap_servers: str, options: Mapping[str, str]) -> dict[str, str]:
    """The sink's client settings (:func:`split_options`) without ``bootstrap.servers``, which
    may repeat ``bootstrap_servers`` but not contradict it.

    Raises:
        KafkaContractError: ``kafka.bootstrap.servers`` names other servers.
    """
    client, _ = split_options(options)
    given = client.pop("bootstrap.servers", None)
    if given is not None and given != bootstrap_servers:
        raise KafkaContractError(
            f"kafka.bootstrap.servers={given!r} conflicts with bootstrap_servers="
            f"{bootstrap_servers!r}; give the servers once"
        )
    return client


def producer_config(
    bootstrap_servers: str, options: Mapping[str, str], *, timeout_s: float
) -> dict[str, str]:
    """librdkafka settings of the Python sink's producers: defaults, then the user's options.

    Defaults: idempotent producer, ``acks=all``, every message either acknowledged or failed
    within ``timeout_s`` (``message.timeout.ms``), larger batches than librdkafka's defaults.
    """
    client = _sink_client_settings(bootstrap_servers, options)
    conf = {
        "bootstrap.servers": bootstrap_servers,
        "enable.idempotence": "true",
        "acks": "all",
        "message.timeout.ms": str(int(timeout_s * 1000)),
        # Only failures call back into Python; acknowledged = handed - failed (see
        # _Deliveries), which saves a Python call per message.
        "delivery.report.only.error": "true",
        "linger.ms": "20",
        "batch.num.messages": "10000",
        "queue.buffering.max.messages": "200000",
        "queue.buffering.max.kbytes": "262144",
        "socket.connection.setup.timeout.ms": str(max(1000, int(timeout_s * 1000))),
    }
    conf.update(client)
    return conf


def admin_config(bootstrap_servers: str, options: Mapping[str, str]) -> dict[str, Any]:
    """Settings for the driver's AdminClient: the servers and the connection settings
    (security, client id) of ``options``; producer-only tuning is left out."""
    client, _ = split_options(options)
    conf: dict[str, Any] = {"bootstrap.servers": bootstrap_servers, "log_level": 3}
    for k, v in client.items():
        if k.startswith(("security.", "sasl.", "ssl.", "client.", "socket.", "broker.")):
            conf[k] = v
    return conf


# --------------------------------------------------------------------------------------------
# Sink choice


def connector_available(spark: SparkSession) -> bool:
    """Whether Spark's Kafka connector class loads on the driver's JVM classpath."""
    try:
        jvm: Any = getattr(spark, "_jvm", None)
    except Exception:  # Spark Connect: no JVM access from Python
        return False
    if jvm is None:
        return False
    try:
        loader = jvm.org.apache.spark.util.Utils.getContextOrSparkClassLoader()
        jvm.java.lang.Class.forName(CONNECTOR_CLASS, False, loader)
    except Exception:
        return False
    return True


def choose_sink(spark: SparkSession, requested: str) -> tuple[str, str]:
    """Pick the Kafka sink: ``("spark" | "python", reason)``.

    ``spark`` iff the connector class :data:`CONNECTOR_CLASS` loads on the JVM classpath.

    Raises:
        KafkaContractError: ``requested`` is unknown, or ``spark`` without the connector.
    """
    if requested not in ("auto", "spark", "python"):
        raise KafkaContractError(
            f"--kafka_sink: expected auto, spark or python, found {requested!r}"
        )
    if requested == "python":
        return "python", "--kafka_sink python was requested"
    found = connector_available(spark)
    if requested == "spark":
        if not found:
            raise KafkaContractError(
                f"--kafka_sink spark: the connector class {CONNECTOR_CLASS} is not on the JVM "
                f"classpath; {CONNECTOR_HINT}, or use --kafka_sink python"
            )
        return (
            "spark",
            f"--kafka_sink spark was requested and {CONNECTOR_CLASS} is on the classpath",
        )
    if found:
        return "spark", f"auto: {CONNECTOR_CLASS} is on the JVM classpath"
    return (
        "python",
        f"auto: {CONNECTOR_CLASS} is not on the JVM classpath ({CONNECTOR_HINT}); "
        "using eljobs' Python Data Source writer",
    )


# --------------------------------------------------------------------------------------------
# DataFrame contract


def prepare_frame(df: DataFrame, topic: str | None = None) -> DataFrame:
    """Check ``df`` against Spark's Kafka-sink contract and keep only its columns, in the order
    ``topic, key, value, partition, headers`` (those present).

    Args:
        df: the rows to write.
        topic: the ``topic`` option: every row goes to it (overrides a ``topic`` column).

    Raises:
        KafkaContractError: a column is missing or has the wrong type (named with both types).
    """
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    fields = {f.name: f.dataType for f in df.schema.fields}
    problems = []

    def want(name: str, ok: bool, expected: str) -> None:
        if name in fields and not ok:
            problems.append(
                f"column {name!r}: expected {expected}, found {fields[name].simpleString()}"
            )

    if topic is None and "topic" not in fields:
        problems.append("column 'topic' (string) is missing and no topic option was given")
    if "value" not in fields:
        problems.append("column 'value' (string or binary) is missing")
    if topic is None:
        want("topic", isinstance(fields.get("topic"), T.StringType), "string")
    want("value", isinstance(fields.get("value"), T.StringType | T.BinaryType), "string or binary")
    want("key", isinstance(fields.get("key"), T.StringType | T.BinaryType), "string or binary")
    want("partition", isinstance(fields.get("partition"), T.IntegerType), "int")
    h = fields.get("headers")
    headers_ok = (
        isinstance(h, T.ArrayType)
        and isinstance(h.elementType, T.StructType)
        and [(f.name, type(f.dataType)) for f in h.elementType.fields]
        == [("key", T.StringType), ("value", T.BinaryType)]
    )
    want("headers", headers_ok, "array<struct<key:string,value:binary>>")
    if problems:
        raise KafkaContractError(
            "DataFrame does not follow the Kafka sink contract: " + "; ".join(problems)
        )
    cols = []
    for name in ("topic", "key", "value", "partition", "headers"):
        if name == "topic" and topic is not None:
            cols.append(F.lit(topic).alias("topic"))
        elif name in fields:
            cols.append(F.col(name))
    return df.select(*cols)


def spark_sink_options(
    bootstrap_servers: str, options: Mapping[str, str], *, timeout_s: float
) -> dict[str, str]:
    """The options handed to Spark's ``format("kafka")``: ``kafka.``-prefixed producer
    settings with the same defaults as the Python path where the Java client shares them."""
    client = _sink_client_settings(bootstrap_servers, options)
    timeout_ms = int(timeout_s * 1000)
    request_ms = int(client.get("request.timeout.ms", min(30000, timeout_ms)))
    linger_ms = int(client.get("linger.ms", 20))
    conf = {
        "bootstrap.servers": bootstrap_servers,
        "enable.idempotence": "true",
        "acks": "all",
        "linger.ms": str(linger_ms),
        "max.block.ms": str(timeout_ms),
        "request.timeout.ms": str(request_ms),
        # The Java client insists on delivery.timeout.ms >= linger.ms + request.timeout.ms.
        "delivery.timeout.ms": str(max(timeout_ms, linger_ms + request_ms)),
    }
    conf.update(client)
    return {f"kafka.{k}": v for k, v in conf.items()}


def prepare_spark_write(
    df: DataFrame, *, bootstrap_servers: str, options: Mapping[str, str], timeout_s: float
) -> tuple[DataFrame, dict[str, str]]:
    """Exactly what the ``spark`` path hands to ``df.write.format("kafka")``: the DataFrame
    (contract columns only) and the options."""
    _, topic = split_options(options)
    return prepare_frame(df, topic), spark_sink_options(
        bootstrap_servers, options, timeout_s=timeout_s
    )


# --------------------------------------------------------------------------------------------
# Driver-side checks


def existing_topics(
    bootstrap_servers: str, options: Mapping[str, str], timeout_s: float
) -> set[str]:
    """Topic names the cluster knows (a metadata request for all topics, which never creates
    any, unlike asking about one topic on brokers that auto-create).

    Raises:
        KafkaUnreachableError: no broker answered within ``timeout_s``.
    """
    from confluent_kafka.admin import AdminClient

    admin = AdminClient(admin_config(bootstrap_servers, options))
    try:
        md = admin.list_topics(timeout=timeout_s)
    except Exception as e:
        raise KafkaUnreachableError(
            f"Kafka brokers {bootstrap_servers} did not answer a metadata request within "
            f"{timeout_s:g}s ({e}); nothing was produced",
            bootstrap_servers=bootstrap_servers,
        ) from None
    return set(md.topics)


def create_kafka_topics(
    bootstrap_servers: str,
    topics: Sequence[str],
    *,
    partitions: int,
    options: Mapping[str, str],
    timeout_s: float,
) -> None:
    """Create ``topics`` with ``partitions`` partitions (broker-default replication) and wait
    until metadata shows them. A topic created meanwhile by someone else is fine.

    Raises:
        KafkaSinkError: a topic could not be created (named, with the broker's answer).
    """
    from confluent_kafka import KafkaError
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient(admin_config(bootstrap_servers, options))
    futures = admin.create_topics(
        [NewTopic(t, num_partitions=partitions, replication_factor=-1) for t in topics],
        request_timeout=timeout_s,
    )
    failed = []
    for t, fut in futures.items():
        try:
            fut.result(timeout=timeout_s)
        except Exception as e:
            err = e.args[0] if e.args else None
            if getattr(err, "code", lambda: None)() == KafkaError.TOPIC_ALREADY_EXISTS:
                continue
            failed.append(f"{t}: {e}")
    if failed:
        raise KafkaSinkError(
            f"could not create topics on {bootstrap_servers}: " + "; ".join(failed),
            bootstrap_servers=bootstrap_servers,
            topics=topics,
        )
    deadline = time.monotonic() + timeout_s
    while True:
        missing = set(topics) - existing_topics(bootstrap_servers, options, timeout_s)
        if not missing:
            return
        if time.monotonic() > deadline:
            raise KafkaSinkError(
                f"topics {sorted(missing)} were created on {bootstrap_servers} but did not "
                f"appear in metadata within {timeout_s:g}s",
                bootstrap_servers=bootstrap_servers,
                topics=sorted(missing),
            )
        time.sleep(0.1)


def rows_per_topic(df: DataFrame) -> dict[str, int]:
    """Rows routed to each topic (one Spark action).

    Raises:
        KafkaContractError: some rows have a null topic.
    """
    counts: dict[str, int] = {}
    for r in df.groupBy("topic").count().collect():
        if r["topic"] is None:
            raise KafkaContractError(
                f"{r['count']} rows have a null topic; every row needs a topic (column or option)"
            )
        counts[r["topic"]] = int(r["count"])
    return counts


# --------------------------------------------------------------------------------------------
# The entry point


def write_to_kafka(
    df: DataFrame,
    *,
    bootstrap_servers: str,
    options: Mapping[str, str] = {},
    sink: SinkName = "auto",
    create_topics: bool = False,
    topic_partitions: int = 1,
    timeout_s: float = 30.0,
) -> KafkaWriteResult:
    """Write ``df`` (Spark's Kafka-sink contract) to Kafka and return what was acknowledged.

    Args:
        df: rows with ``topic``, ``value`` and optional ``key``, ``partition``, ``headers``.
        bootstrap_servers: ``host:port[,host:port...]``.
        options: ``kafka.``-prefixed producer settings, and optionally ``topic``.
        sink: ``auto``, ``spark`` or ``python`` (see :func:`choose_sink`).
        create_topics: create missing topics instead of failing.
        topic_partitions: partitions of the topics created.
        timeout_s: bound on waiting for the brokers and on each message's acknowledgement.

    Raises:
        KafkaUnreachableError: the brokers did not answer (nothing was produced).
        MissingTopicsError: topics do not exist and ``create_topics`` is false.
        KafkaContractError: bad columns or options.
        KafkaSinkError: the write failed; ``produced`` holds what completed tasks had
            acknowledged (failed tasks say in the message what they had).
    """
    spark = df.sparkSession
    chosen, reason = choose_sink(spark, sink)
    log.info("Kafka sink: %s (%s)", chosen, reason)
    _, topic_option = split_options(options)
    frame = prepare_frame(df, topic_option)
    # Validate the settings before touching the cluster.
    producer_config(bootstrap_servers, options, timeout_s=timeout_s)

    known = existing_topics(bootstrap_servers, options, timeout_s)
    routed = rows_per_topic(frame)
    missing = sorted(set(routed) - known)
    if missing:
        if not create_topics:
            raise MissingTopicsError(
                f"topics {', '.join(missing)} do not exist on {bootstrap_servers} "
                f"({sum(routed[t] for t in missing)} rows routed to them); create them or "
                "pass --create_topics; nothing was produced",
                bootstrap_servers=bootstrap_servers,
                topics=missing,
            )
        log.info("creating topics %s with %d partitions", missing, topic_partitions)
        create_kafka_topics(
            bootstrap_servers,
            missing,
            partitions=topic_partitions,
            options=options,
            timeout_s=timeout_s,
        )
    if not routed:
        log.info("Kafka sink: no rows to write")
        return KafkaWriteResult(chosen, reason, {})

    if chosen == "spark":
        sdf, sopts = prepare_spark_write(
            df, bootstrap_servers=bootstrap_servers, options=options, timeout_s=timeout_s
        )
        try:
            sdf.write.format("kafka").options(**sopts).mode("append").save()
        except Exception as e:
            raise KafkaSinkError(
                f"Spark's Kafka sink failed writing to {bootstrap_servers} (topics "
                f"{', '.join(sorted(routed))}): {_first_line(e)}",
                bootstrap_servers=bootstrap_servers,
                topics=sorted(routed),
            ) from e
        # Spark's sink fails the job on any send error: success means every row was acked.
        produced = dict(routed)
    else:
        produced = _write_python(
            frame, bootstrap_servers=bootstrap_servers, options=options, timeout_s=timeout_s
        )
        if produced != routed:
            raise KafkaSinkError(
                f"messages acknowledged by {bootstrap_servers} {produced} differ from rows "
                f"routed {routed}",
                bootstrap_servers=bootstrap_servers,
                topics=sorted(routed),
                produced=produced,
            )
    log.info(
        "Kafka sink (%s) produced %d messages to %s: %s",
        chosen,
        sum(produced.values()),
        bootstrap_servers,
        ", ".join(f"{t}={n}" for t, n in sorted(produced.items())),
    )
    return KafkaWriteResult(chosen, reason, produced)


def activate(spark: SparkSession) -> None:
    """Make ``spark`` the JVM's active session in this thread.

    Python data sources are looked up through the active session, which a thread other than
    the one that built the session (a notebook's background thread, a test) does not have.
    """
    jvm: Any = getattr(spark, "_jvm", None)
    jss: Any = getattr(spark, "_jsparkSession", None)
    if jvm is not None and jss is not None:
        jvm.org.apache.spark.sql.SparkSession.setActiveSession(jss)


def _first_line(e: BaseException) -> str:
    """The first line of ``e``'s message; for a JVM error, its root cause's (Py4J's own first
    line only says which call failed)."""
    cause = _jvm_root_cause(e)
    if cause:
        return cause
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def _jvm_root_cause(e: BaseException) -> str | None:
    jexc: Any = getattr(e, "java_exception", None)
    if jexc is None:
        return None
    try:
        seen = 0
        while jexc.getCause() is not None and seen < 20:
            jexc = jexc.getCause()
            seen += 1
        text = str(jexc.toString()).strip()
    except Exception:  # the JVM is gone or the object is not a Throwable
        return None
    return text.splitlines()[0] if text else None


_MARK = "EljobsKafkaDeliveryError:"
_REGISTERED: weakref.WeakSet[Any] = weakref.WeakSet()  # sessions with our source


def _write_python(
    frame: DataFrame, *, bootstrap_servers: str, options: Mapping[str, str], timeout_s: float
) -> dict[str, int]:
    spark = frame.sparkSession
    activate(spark)
    if spark not in _REGISTERED:
        spark.dataSource.register(KafkaDataSource)
        _REGISTERED.add(spark)
    client, _ = split_options(options)
    report = Path(tempfile.gettempdir()) / f"eljobs-kafka-commit-{uuid.uuid4().hex}.json"
    writer = (
        frame.write.format(SOURCE_NAME)
        .mode("append")
        .option("bootstrap_servers", bootstrap_servers)
        .option("timeout_s", str(timeout_s))
        .option("commit_report", str(report))
    )
    for k, v in client.items():
        writer = writer.option(f"kafka.{k}", v)
    try:
        try:
            writer.save()
        except Exception as e:
            done = _read_report(report)
            detail = _failure_detail(e)
            raise KafkaSinkError(
                f"Kafka write to {bootstrap_servers} failed: {detail}. Acknowledged by the "
                f"tasks that completed: {done.get('produced', {})}",
                bootstrap_servers=bootstrap_servers,
                topics=[],
                produced=done.get("produced", {}),
            ) from e
        done = _read_report(report)
        if done.get("status") != "committed":
            raise KafkaSinkError(
                f"Kafka write to {bootstrap_servers}: the commit report {report} is missing",
                bootstrap_servers=bootstrap_servers,
            )
        return {str(k): int(v) for k, v in done["produced"].items()}
    finally:
        report.unlink(missing_ok=True)


def _failure_detail(e: BaseException) -> str:
    """The task's own message when a task raised :class:`KafkaDeliveryError`, else the first
    informative line of the Spark or Java error."""
    texts = [str(e)]
    java = getattr(e, "java_exception", None)
    if java is not None:
        texts.append(str(java))
    for text in texts:
        for ln in text.splitlines():
            if _MARK in ln:
                return ln.split(_MARK, 1)[1].strip()
    for text in texts:
        # The exception line of a Python worker's traceback ("TypeError: ...").
        for ln in text.splitlines():
            if re.match(r"^[A-Za-z_][\w.]*(Error|Exception): ", ln.strip()):
                return ln.strip()[:500]
    for text in reversed(texts):
        for ln in text.splitlines():
            ln = ln.strip()
            if ln and not ln.startswith(("at ", "An error occurred while calling", ":")):
                return ln[:500]
    return _first_line(e)


def _read_report(path: Path) -> dict[str, Any]:
    try:
        return dict(json.loads(path.read_text()))
    except (OSError, ValueError):
        return {}


# --------------------------------------------------------------------------------------------
# The Python Data Source (runs in Spark's Python workers)


@dataclass
class KafkaCommitMessage(WriterCommitMessage):
    """One task's result: messages acknowledged per topic."""

    produced: dict[str, int] = field(default_factory=dict)


class KafkaDeliveryError(RuntimeError):
    """A task could not get every message acknowledged; Spark fails (and retries) the task."""


class KafkaDataSource(DataSource):
    """``format("eljobs_kafka")``: batch writes to Kafka (options: ``bootstrap_servers``,
    ``timeout_s``, ``commit_report``, ``kafka.*`` producer settings)."""

    @classmethod
    def name(cls) -> str:
        """The format name."""
        return SOURCE_NAME

    def writer(self, schema: StructType, overwrite: bool) -> KafkaArrowWriter:
        """A writer for one write job."""
        return KafkaArrowWriter(dict(self.options), schema)


class KafkaArrowWriter(DataSourceArrowWriter):
    """Produces Arrow batches with one confluent-kafka producer per task."""

    def __init__(self, options: Mapping[str, str], schema: StructType) -> None:
        opts = {str(k): str(v) for k, v in options.items()}
        self.bootstrap_servers = opts["bootstrap_servers"]
        self.timeout_s = float(opts.get("timeout_s", "30"))
        self.commit_report = opts.get("commit_report")
        kafka_opts = {k: v for k, v in opts.items() if k.lower().startswith("kafka.")}
        self.conf = producer_config(self.bootstrap_servers, kafka_opts, timeout_s=self.timeout_s)
        self.columns = [f.name for f in schema.fields]

    def write(self, iterator: Iterator[pa.RecordBatch]) -> KafkaCommitMessage:
        """Produce every row; return per-topic acknowledged counts or raise."""
        return KafkaCommitMessage(produced=produce_batches(iterator, self.conf, self.timeout_s))

    def commit(self, messages: list[WriterCommitMessage | None]) -> None:
        """Sum the tasks' counts into the commit report the driver reads."""
        self._report("committed", messages)

    def abort(self, messages: list[WriterCommitMessage | None]) -> None:
        """Record what the completed tasks acknowledged (failed tasks report in their error)."""
        self._report("aborted", messages)

    def _report(self, status: str, messages: list[WriterCommitMessage | None]) -> None:
        total: dict[str, int] = {}
        for m in messages:
            if not isinstance(m, KafkaCommitMessage):
                continue
            for t, n in m.produced.items():
                total[t] = total.get(t, 0) + n
        if self.commit_report:
            tmp = f"{self.commit_report}.{os.getpid()}.tmp"
            Path(tmp).write_text(json.dumps({"status": status, "produced": total}))
            os.replace(tmp, self.commit_report)


class _Deliveries:
    """Delivery-report bookkeeping of one producer.

    With ``delivery.report.only.error`` (the default here) librdkafka reports only failures;
    every message still gets exactly one outcome, so once nothing is left in the producer's
    queue the acknowledged count per topic is handed minus failed. Success reports, when a
    user turns them back on, are counted directly.
    """

    def __init__(self) -> None:
        self.handed: dict[str, int] = {}
        self.succeeded: dict[str, int] = {}
        self.failed_by_topic: dict[str, int] = {}
        self.failed = 0
        self.errors: list[str] = []

    def __call__(self, err: Any, msg: Any) -> None:
        t = msg.topic()
        if err is None:
            self.succeeded[t] = self.succeeded.get(t, 0) + 1
        else:
            self.failed += 1
            self.failed_by_topic[t] = self.failed_by_topic.get(t, 0) + 1
            if len(self.errors) < 3:
                self.errors.append(f"{t}[{msg.partition()}]: {err.str()}")

    def add_handed(self, topic: str, n: int) -> None:
        self.handed[topic] = self.handed.get(topic, 0) + n

    def hand(self, topics: Sequence[str]) -> None:
        for t, n in Counter(topics).items():
            self.handed[t] = self.handed.get(t, 0) + n

    def acked(self, only_errors: bool, settled: bool) -> dict[str, int]:
        """Acknowledged per topic; with error-only reports exact only when ``settled``."""
        if not only_errors:
            return dict(self.succeeded)
        if not settled:
            return {}
        return {
            t: n - self.failed_by_topic.get(t, 0)
            for t, n in self.handed.items()
            if n - self.failed_by_topic.get(t, 0)
        }


def produce_batches(
    batches: Iterator[pa.RecordBatch], conf: Mapping[str, str], timeout_s: float
) -> dict[str, int]:
    """Produce every row of ``batches`` (Kafka-sink columns) and wait for all delivery reports.

    Returns:
        Messages acknowledged per topic.

    Raises:
        KafkaDeliveryError: a message failed or was not acknowledged in time; the message says
            how many were acknowledged per topic before that (when known).
    """
    from confluent_kafka import KafkaError, KafkaException, Producer

    servers = conf.get("bootstrap.servers", "?")
    only_errors = str(conf.get("delivery.report.only.error", "false")).lower() == "true"
    dr = _Deliveries()
    settings: dict[str, Any] = dict(conf)
    # confluent-kafka takes this one as a Python bool, not librdkafka's string.
    settings["delivery.report.only.error"] = only_errors
    producer = Producer({**settings, "on_delivery": dr})
    produce = producer.produce
    poll = producer.poll
    deadline_s = timeout_s + 5

    def wait_for_room() -> None:
        # Local queue full: serve delivery reports until there is room. Messages time out
        # after message.timeout.ms, so this wait is bounded.
        poll(0.05)

    def enqueue_all(topic: str, msgs: list[dict[str, Any]]) -> bool:
        """produce_batch until every message is queued; False when deliveries fail meanwhile.

        produce_batch marks the messages it could not queue with ``_error``; a full local queue
        is waited out (bounded by message.timeout.ms), any other error fails the task.
        """
        pending = msgs
        while pending:
            queued = producer.produce_batch(topic, pending)
            if queued == len(pending):
                dr.add_handed(topic, len(pending))
                return True
            retry = []
            for m in pending:
                err = m.pop("_error", None)
                if err is None:
                    continue
                if err.code() != KafkaError._QUEUE_FULL:
                    raise fail(f"cannot queue a message for {topic}: {err}", False)
                retry.append(m)
            if len(pending) - len(retry) != queued:
                raise fail(
                    f"produce_batch queued {queued} of {len(pending)} messages for {topic} but "
                    f"marked {len(retry)} as not queued",
                    False,
                )
            dr.add_handed(topic, queued)
            wait_for_room()
            if dr.failed:
                return False
            pending = retry
        return True

    def fail(why: str, settled: bool) -> KafkaDeliveryError:
        handed = sum(dr.handed.values())
        acked = dr.acked(only_errors, settled)
        known = (
            f"acknowledged per topic: {acked}"
            if settled or not only_errors
            else f"{len(producer)} still unacknowledged"
        )
        return KafkaDeliveryError(
            f"{_MARK} {why} (brokers {servers}; {handed} messages handed to the producer, "
            f"{known}; first errors: {dr.errors})"
        )

    try:
        for batch in batches:
            if dr.failed:
                break
            n = batch.num_rows
            if n == 0:
                continue
            names = batch.schema.names
            topics = batch.column(names.index("topic")).to_pylist()
            values = batch.column(names.index("value")).to_pylist()
            done = 0
            if names == ["topic", "value"]:
                # The common case (no key, partition or headers): group the batch by topic and
                # hand each group to librdkafka in one produce_batch call (about 3 times less
                # Python work per message than one produce call each).
                groups: dict[str, list[dict[str, Any]]] = {}
                for t, v in zip(topics, values, strict=True):
                    g = groups.get(t)
                    if g is None:
                        g = groups[t] = []
                    g.append({"value": v})
                for t, msgs in groups.items():
                    if not enqueue_all(t, msgs):
                        break
                if dr.failed:
                    break
                poll(0)
                continue
            else:
                keys = batch.column(names.index("key")).to_pylist() if "key" in names else None
                parts = (
                    batch.column(names.index("partition")).to_pylist()
                    if "partition" in names
                    else None
                )
                headers = (
                    batch.column(names.index("headers")).to_pylist() if "headers" in names else None
                )
                for i in range(n):
                    kw: dict[str, Any] = {}
                    if keys is not None:
                        kw["key"] = keys[i]
                    if parts is not None and parts[i] is not None:
                        kw["partition"] = parts[i]
                    if headers is not None and headers[i]:
                        kw["headers"] = [(h["key"], h["value"]) for h in headers[i]]
                    while True:
                        try:
                            produce(topics[i], values[i], **kw)
                            break
                        except BufferError:
                            wait_for_room()
                            if dr.failed:
                                break
                    if dr.failed:
                        break
                    done += 1
            dr.hand(topics if done == n else topics[:done])
            poll(0)
        if dr.failed:
            remaining = producer.flush(deadline_s)
            raise fail(f"{dr.failed} messages failed delivery", remaining == 0)
        remaining = producer.flush(deadline_s)
    except KafkaException as e:
        raise fail(f"producer error {e}", False) from None
    if remaining:
        raise fail(f"{remaining} messages still unacknowledged after {deadline_s:g}s", False)
    if dr.failed:
        raise fail(f"{dr.failed} messages failed delivery", True)
    return dr.acked(only_errors, True)
