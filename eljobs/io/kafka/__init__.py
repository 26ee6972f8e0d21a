"""Kafka I/O: write a DataFrame with Spark's Kafka-sink contract, read a time window back.

For a job that writes to Kafka::

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
other columns are ignored; an option ``topic`` overrides the column). Two sinks:

* ``spark``: Spark's own ``format("kafka")`` when the ``spark-sql-kafka-0-10`` connector class
  (:data:`CONNECTOR_CLASS`) loads on the JVM classpath (``--packages`` / ``spark.jars.packages``).
* ``python``: eljobs' Spark 4 Python Data Source writer (:class:`KafkaDataSource`), producing
  from the executors with confluent-kafka.

Before writing, both paths check on the driver that the brokers answer (within ``timeout_s``;
else :class:`KafkaUnreachableError` naming the servers, nothing produced) and that every topic
exists (else :class:`MissingTopicsError` naming them, unless ``create_topics``). Message record
timestamps are left to the producer (the produce time), as Spark's sink and the reference
``kafka-confluent`` writer do.

The modules, in the order a write meets them:

============== ===========================================================================
``options``    job options (:class:`KafkaOptions`), client settings of both sinks and the
               readers, :func:`split_options` (pure)
``chooser``    :func:`choose_sink` / :func:`connector_available`: Spark's connector or ours
``frame``      the DataFrame contract, rows per topic
``admin``      driver-side topic questions: :func:`existing_topics`, :func:`create_kafka_topics`
``sink``       :func:`write_to_kafka`, the entry point
``spark_sink`` the JVM path (Spark's ``format("kafka")``)
``python_sink`` the Python path's driver side (runs the writer, reads its tasks' counts)
``writer``     the Python Data Source writer that runs on the executors
``window``     a time window's partition ranges, shared by both readers
``source``     the driver side of reading a window: :func:`plan_ranges`, :func:`read_window`
``reader``     the Python Data Source reader that runs on the executors
``jvm``        the active session, readable JVM errors
============== ===========================================================================
"""

from __future__ import annotations

from eljobs.io.kafka.admin import create_kafka_topics, existing_topics
from eljobs.io.kafka.chooser import (
    CONNECTOR_CLASS,
    CONNECTOR_HINT,
    choose_sink,
    connector_available,
)
from eljobs.io.kafka.errors import (
    KafkaContractError,
    KafkaSinkError,
    KafkaUnreachableError,
    KafkaWriteResult,
    MissingTopicsError,
)
from eljobs.io.kafka.frame import prepare_frame, rows_per_topic
from eljobs.io.kafka.jvm import activate
from eljobs.io.kafka.options import (
    KafkaOptions,
    SinkName,
    admin_config,
    consumer_config,
    producer_config,
    spark_sink_options,
    split_options,
)
from eljobs.io.kafka.sink import write_to_kafka
from eljobs.io.kafka.spark_sink import prepare_spark_write
from eljobs.io.kafka.writer import (
    SOURCE_NAME,
    KafkaArrowWriter,
    KafkaCommitMessage,
    KafkaDataSource,
    KafkaDeliveryError,
    produce_batches,
)

__all__ = [
    "CONNECTOR_CLASS",
    "CONNECTOR_HINT",
    "SOURCE_NAME",
    "KafkaArrowWriter",
    "KafkaCommitMessage",
    "KafkaContractError",
    "KafkaDataSource",
    "KafkaDeliveryError",
    "KafkaOptions",
    "KafkaSinkError",
    "KafkaUnreachableError",
    "KafkaWriteResult",
    "MissingTopicsError",
    "SinkName",
    "activate",
    "admin_config",
    "choose_sink",
    "connector_available",
    "consumer_config",
    "create_kafka_topics",
    "existing_topics",
    "prepare_frame",
    "prepare_spark_write",
    "produce_batches",
    "producer_config",
    "rows_per_topic",
    "spark_sink_options",
    "split_options",
    "write_to_kafka",
]
