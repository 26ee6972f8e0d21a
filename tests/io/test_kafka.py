"""Kafka sink: contract checks, sink choice, and writes to the real embedded broker.

Pure option handling is tested without Spark; the rest uses the session's ``spark`` and
``broker`` fixtures (nothing mocked). Fault tests (broker killed mid-write) start their own
broker so the shared one keeps its data.
"""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

import pytest

from eljobs.config import ConfigError, parse_config
from eljobs.io.kafka import (
    CONNECTOR_CLASS,
    KafkaContractError,
    KafkaOptions,
    KafkaSinkError,
    KafkaUnreachableError,
    MissingTopicsError,
    choose_sink,
    existing_topics,
    prepare_spark_write,
    producer_config,
    split_options,
    write_to_kafka,
)
from eljobs.testing.broker import Broker, EmbeddedBroker, free_port, read_topic


def _topic(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


# ------------------------------------------------------------------------------------------
# Pure: options


def test_split_options_strips_the_kafka_prefix_and_keeps_topic() -> None:
    client, topic = split_options({"kafka.linger.ms": "50", "topic": "t", "kafka.acks": "1"})
    assert client == {"linger.ms": "50", "acks": "1"}
    assert topic == "t"


def test_split_options_rejects_unprefixed_keys_by_name() -> None:
    with pytest.raises(KafkaContractError, match=r"'linger\.ms'"):
        split_options({"linger.ms": "50"})


def test_producer_config_defaults_and_user_overrides() -> None:
    conf = producer_config("h:1", {"kafka.linger.ms": "50", "kafka.acks": "1"}, timeout_s=7)
    assert conf["bootstrap.servers"] == "h:1"
    assert conf["enable.idempotence"] == "true"
    assert conf["message.timeout.ms"] == "7000"
    assert conf["linger.ms"] == "50"  # the user's setting wins
    assert conf["acks"] == "1"
    assert producer_config("h:1", {}, timeout_s=30)["acks"] == "all"


def test_the_same_kafka_options_reach_both_sinks_with_acks_all_and_idempotence() -> None:
    from eljobs.io.kafka import spark_sink_options

    given = {"kafka.linger.ms": "7", "kafka.compression.type": "lz4", "kafka.client.id": "bf"}
    python = producer_config("h:1", given, timeout_s=30)
    jvm = spark_sink_options("h:1", given, timeout_s=30)
    for k, v in given.items():
        assert python[k.removeprefix("kafka.")] == v == jvm[k], k
    assert python["acks"] == jvm["kafka.acks"] == "all"
    assert python["enable.idempotence"] == jvm["kafka.enable.idempotence"] == "true"
    assert python["bootstrap.servers"] == jvm["kafka.bootstrap.servers"] == "h:1"


def test_producer_config_refuses_a_second_different_bootstrap() -> None:
    with pytest.raises(KafkaContractError, match="conflicts"):
        producer_config("h:1", {"kafka.bootstrap.servers": "other:2"}, timeout_s=1)


def test_kafka_options_parse_from_cli_and_properties(tmp_path: Any) -> None:
    props = tmp_path / "job.properties"
    props.write_text("kafka.compression.type=lz4\ncreate_topics=true\n")
    cfg = parse_config(
        KafkaOptions,
        [
            "--config_file",
            str(props),
            "--kafka_option",
            "kafka.linger.ms=50",
            "--kafka_option=kafka.acks=all",
            "--kafka_sink",
            "python",
            "--topic_partitions",
            "3",
        ],
    )
    kw = cfg.kafka_write_kwargs()
    assert kw == {
        "options": {"kafka.compression.type": "lz4", "kafka.linger.ms": "50", "kafka.acks": "all"},
        "sink": "python",
        "create_topics": True,
        "topic_partitions": 3,
        "timeout_s": 30.0,
    }
    assert cfg.validate() == []
    with pytest.raises(ConfigError) as e:
        KafkaOptions(kafka_option={"linger.ms": "1"}, topic_partitions=0)
    assert len(e.value.problems) == 2


# ------------------------------------------------------------------------------------------
# Spark, no broker: sink choice and the JVM path's inputs


def test_auto_chooses_spark_when_the_set_up_put_the_connector_on_the_classpath(
    spark: Any,
) -> None:
    # The local session carries the connector the set-up fetched (eljobs.spark), as a cluster
    # session does with --packages.
    sink, reason = choose_sink(spark, "auto")
    assert sink == "spark"
    assert CONNECTOR_CLASS in reason and "is on the JVM classpath" in reason
    assert choose_sink(spark, "spark")[0] == "spark"
    assert choose_sink(spark, "python")[0] == "python"


def test_without_the_connector_auto_falls_back_to_python_and_spark_is_refused(
    spark: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import eljobs.io.kafka.chooser as kafka

    # A JVM without the jar cannot be had in this process (one JVM per session): stand in for
    # the class look-up only.
    monkeypatch.setattr(kafka, "connector_available", lambda _spark: False)
    sink, reason = choose_sink(spark, "auto")
    assert sink == "python"
    assert CONNECTOR_CLASS in reason and "not on the JVM classpath" in reason
    with pytest.raises(KafkaContractError, match="spark-sql-kafka-0-10"):
        choose_sink(spark, "spark")


def test_spark_path_gets_contract_columns_and_prefixed_options(spark: Any) -> None:
    df = spark.createDataFrame(
        [("t1", "k", b"v", 0, "extra")],
        "topic string, key string, value binary, partition int, other string",
    )
    sdf, opts = prepare_spark_write(
        df,
        bootstrap_servers="b1:9092,b2:9092",
        options={"kafka.linger.ms": "50", "kafka.compression.type": "lz4"},
        timeout_s=12,
    )
    assert [(f.name, f.dataType.simpleString()) for f in sdf.schema.fields] == [
        ("topic", "string"),
        ("key", "string"),
        ("value", "binary"),
        ("partition", "int"),
    ]
    assert opts == {
        "kafka.bootstrap.servers": "b1:9092,b2:9092",
        "kafka.enable.idempotence": "true",
        "kafka.acks": "all",
        "kafka.linger.ms": "50",
        "kafka.max.block.ms": "12000",
        "kafka.request.timeout.ms": "12000",
        "kafka.delivery.timeout.ms": "12050",
        "kafka.compression.type": "lz4",
    }
    # The topic option replaces the column, as in Spark's sink.
    sdf2, _ = prepare_spark_write(
        df.drop("topic"), bootstrap_servers="b:1", options={"topic": "fixed"}, timeout_s=30
    )
    assert sdf2.collect()[0]["topic"] == "fixed"


def test_contract_errors_name_column_and_types(spark: Any) -> None:
    df = spark.createDataFrame([("t", 1)], "topic string, value int")
    with pytest.raises(
        KafkaContractError, match="column 'value': expected string or binary, found int"
    ):
        prepare_spark_write(df, bootstrap_servers="b:1", options={}, timeout_s=1)
    df2 = spark.createDataFrame([("v",)], "value string")
    with pytest.raises(KafkaContractError, match=r"'topic' .* missing"):
        prepare_spark_write(df2, bootstrap_servers="b:1", options={}, timeout_s=1)


# ------------------------------------------------------------------------------------------
# The real broker


def _rows(spark: Any, n: int, topics: list[str], *, with_key: bool = False) -> Any:
    """n rows spread round-robin over topics; value = JSON with a uuid per row."""
    from pyspark.sql import functions as F

    topic_col = F.element_at(
        F.array(*[F.lit(t) for t in topics]), (F.col("id") % len(topics) + 1).cast("int")
    )
    cols = [
        topic_col.alias("topic"),
        F.to_json(F.struct(F.col("id"), F.expr("uuid()").alias("uuid"))).alias("value"),
    ]
    if with_key:
        cols.append(F.concat(F.lit("k"), F.col("id").cast("string")).alias("key"))
    return spark.range(n, numPartitions=2).select(*cols)


@pytest.mark.parametrize("sink", ["spark", "python"])
def test_writes_rows_to_two_topics_and_a_consumer_reads_exactly_them(
    spark: Any, broker: Broker, sink: str
) -> None:
    from pyspark.sql import functions as F

    a, b = _topic(f"sink_{sink}_a"), _topic(f"sink_{sink}_b")
    df = spark.createDataFrame(
        [(a if i % 3 else b, f"k{i}", f'{{"i": {i}}}') for i in range(300)],
        "topic string, key string, value string",
    ).repartition(2)
    expected = {
        t: sorted((r["key"].encode(), r["value"].encode()) for r in rows)
        for t, rows in (
            (a, df.filter(F.col("topic") == a).collect()),
            (b, df.filter(F.col("topic") == b).collect()),
        )
    }
    result = write_to_kafka(
        df,
        bootstrap_servers=broker.bootstrap_servers,
        sink=sink,  # type: ignore[arg-type]
        create_topics=True,
        topic_partitions=2,
    )
    assert result.sink == sink
    assert result.produced == {a: 200, b: 100}
    # The account of every attempt: the topics gained exactly that, no attempt failed.
    assert result.landed == {a: 200, b: 100}
    assert result.duplicates == 0 and result.failed_attempts == 0
    for t in (a, b):
        got = read_topic(broker.bootstrap_servers, t)
        assert sorted((m["key"], m["value"]) for m in got) == expected[t]


@pytest.mark.parametrize("sink", ["spark", "python"])
def test_messages_over_the_topic_max_message_bytes_fail_naming_topic_and_count(
    spark: Any, broker: Broker, sink: str
) -> None:
    from confluent_kafka.admin import AdminClient, NewTopic

    small, fine = _topic(f"small_{sink}"), _topic(f"fine_{sink}")
    admin = AdminClient({"bootstrap.servers": broker.bootstrap_servers})
    futures = admin.create_topics(
        [NewTopic(small, 1, 1, config={"max.message.bytes": "2000"}), NewTopic(fine, 1, 1)]
    )
    for f in futures.values():
        f.result()
    rows = [(small, "x" * (5000 if i % 4 == 0 else 10)) for i in range(12)]
    rows += [(fine, "y" * 5000) for _ in range(3)]
    df = spark.createDataFrame(rows, "topic string, value string").repartition(2)
    with pytest.raises(KafkaContractError) as caught:
        write_to_kafka(
            df,
            bootstrap_servers=broker.bootstrap_servers,
            sink=sink,  # type: ignore[arg-type]
        )
    text = str(caught.value)
    assert f"{small}: 3 of 12 messages exceed 2000 bytes" in text, text
    assert fine not in text and "nothing was produced" in text
    # Nothing dropped silently and nothing half-written: both topics are untouched.
    assert read_topic(broker.bootstrap_servers, small) == []
    assert read_topic(broker.bootstrap_servers, fine) == []


def test_missing_topics_fail_naming_them_and_produce_nothing(spark: Any, broker: Broker) -> None:
    present, absent = _topic("present"), _topic("absent")
    write_to_kafka(
        _rows(spark, 4, [present]), bootstrap_servers=broker.bootstrap_servers, create_topics=True
    )
    with pytest.raises(MissingTopicsError) as ei:
        write_to_kafka(
            _rows(spark, 10, [present, absent]), bootstrap_servers=broker.bootstrap_servers
        )
    assert absent in str(ei.value) and broker.bootstrap_servers in str(ei.value)
    assert present not in ei.value.topics
    # Nothing was produced: the present topic still holds only the first 4 messages and the
    # missing one was not auto-created.
    assert len(read_topic(broker.bootstrap_servers, present)) == 4
    assert absent not in existing_topics(broker.bootstrap_servers, {}, 10)


def test_create_topics_with_partitions_and_explicit_partition_column(
    spark: Any, broker: Broker
) -> None:
    from confluent_kafka.admin import AdminClient

    t = _topic("created")
    df = spark.createDataFrame(
        [(t, f"v{i}", i % 3) for i in range(30)], "topic string, value string, partition int"
    )
    result = write_to_kafka(
        df, bootstrap_servers=broker.bootstrap_servers, create_topics=True, topic_partitions=3
    )
    assert result.produced == {t: 30}
    md = AdminClient({"bootstrap.servers": broker.bootstrap_servers}).list_topics(timeout=10)
    assert len(md.topics[t].partitions) == 3
    got = read_topic(broker.bootstrap_servers, t)
    assert sorted((m["partition"], m["value"]) for m in got) == sorted(
        (i % 3, f"v{i}".encode()) for i in range(30)
    )


def test_produce_batches_waits_out_a_full_local_queue_and_loses_nothing(
    broker: Broker,
) -> None:
    import pyarrow as pa

    from eljobs.io.kafka import produce_batches

    t = _topic("queue_full")
    existing_topics(broker.bootstrap_servers, {}, 10)
    values = [f"v{i}" for i in range(5000)]
    batches = [
        pa.RecordBatch.from_pydict({"topic": [t] * 2500, "value": values[:2500]}),
        pa.RecordBatch.from_pydict({"topic": [t] * 2500, "value": values[2500:]}),
    ]
    # A local queue of 100 messages: every batch overflows it many times.
    conf = producer_config(
        broker.bootstrap_servers, {"kafka.queue.buffering.max.messages": "100"}, timeout_s=30
    )
    assert produce_batches(iter(batches), conf, 30) == {t: 5000}
    got = read_topic(broker.bootstrap_servers, t)
    assert sorted(m["value"] for m in got) == sorted(v.encode() for v in values)


def test_broker_down_at_start_fails_in_bounded_time_naming_servers(spark: Any) -> None:
    servers = f"127.0.0.1:{free_port()}"
    df = _rows(spark, 10, ["never"])
    start = time.monotonic()
    with pytest.raises(KafkaUnreachableError) as ei:
        write_to_kafka(df, bootstrap_servers=servers, timeout_s=3)
    elapsed = time.monotonic() - start
    assert servers in str(ei.value) and "nothing was produced" in str(ei.value)
    assert elapsed < 15, elapsed


def _distinct_uuids(servers: str, topic: str) -> set[str]:
    import json

    return {json.loads(m["value"])["uuid"] for m in read_topic(servers, topic)}  # type: ignore[arg-type]


@pytest.mark.slow
@pytest.mark.parametrize("sink", ["spark", "python"])
def test_broker_killed_mid_write_fails_clearly_and_a_rerun_loses_nothing(
    spark: Any, tmp_path: Any, sink: str
) -> None:
    from pyspark.sql import functions as F

    n = 60_000
    topics = [_topic(f"fault_{sink}_a"), _topic(f"fault_{sink}_b")]
    # Fixed uuids (derived from the id) so the rerun produces the same events.
    df = (
        spark.range(n, numPartitions=2)
        .select(
            F.element_at(
                F.array(*[F.lit(t) for t in topics]), (F.col("id") % 2 + 1).cast("int")
            ).alias("topic"),
            F.to_json(F.struct(F.col("id"), F.md5(F.col("id").cast("string")).alias("uuid"))).alias(
                "value"
            ),
        )
        .cache()
    )
    # The same rows, made slowly (a 20 ms pause in the JVM every 100 rows: at most 5,000
    # rows/s per task) so the kill lands in the middle of the first write, whatever the sink's
    # speed. The pause's result is cut to an empty string (reflect answers "null").
    pause = F.when(
        F.col("id") % 100 == 0, F.expr("reflect('java.lang.Thread', 'sleep', cast(20 as bigint))")
    )
    slow = spark.range(n, numPartitions=2).select(
        F.element_at(F.array(*[F.lit(t) for t in topics]), (F.col("id") % 2 + 1).cast("int")).alias(
            "topic"
        ),
        F.concat(
            F.to_json(F.struct(F.col("id"), F.md5(F.col("id").cast("string")).alias("uuid"))),
            F.substring(F.coalesce(pause, F.lit("")), 1, 0),
        ).alias("value"),
    )
    expected = {t: n // 2 for t in topics}
    with EmbeddedBroker(log_path=tmp_path / "kafka.log") as b:
        box: dict[str, Any] = {}

        def write() -> None:
            try:
                box["result"] = write_to_kafka(
                    slow,
                    bootstrap_servers=b.bootstrap_servers,
                    sink=sink,  # type: ignore[arg-type]
                    create_topics=True,
                    timeout_s=8,
                )
            except Exception as e:
                box["error"] = e

        th = threading.Thread(target=write)
        th.start()
        # Kill the broker as soon as messages are arriving.
        from confluent_kafka import Consumer, TopicPartition

        # Wait for a message actually read, not for reported offsets.
        c = Consumer(
            {
                "bootstrap.servers": b.bootstrap_servers,
                "group.id": "probe",
                "topic.metadata.refresh.interval.ms": 200,
            }
        )
        c.assign([TopicPartition(topics[0], 0, 0)])
        deadline = time.monotonic() + 120
        arrived = 0
        while time.monotonic() < deadline and th.is_alive() and arrived < 2000:
            arrived += sum(1 for m in c.consume(1000, timeout=0.2) if m.error() is None)
        c.close()
        assert arrived, "no message arrived before the write ended"

        assert th.is_alive(), f"the write finished before the broker could be killed: {box}"
        b.kill()
        th.join(120)
        assert not th.is_alive()
        err = box.get("error")
        assert isinstance(err, KafkaSinkError), box
        assert b.bootstrap_servers in str(err)
        # The message gives what the topics gained from every attempt, or says it is unknown
        # (here the brokers are gone), and warns that a rerun writes it again.
        assert "counting every task attempt" in str(err) or "is unknown" in str(err)
        assert "a rerun writes those messages again" in str(err)
        print(f"error after the kill: {err}")

        b.restart()  # a disk log: what the first write got acknowledged is still there
        result = write_to_kafka(
            df,
            bootstrap_servers=b.bootstrap_servers,
            sink=sink,  # type: ignore[arg-type]
            create_topics=True,
            timeout_s=60,
        )
        assert result.produced == expected
        for t in topics:
            # Every event is present; what the killed write had delivered is there twice (the
            # operations guide says so), and the uuids tell the copies apart.
            assert len(_distinct_uuids(b.bootstrap_servers, t)) == n // 2
            assert len(read_topic(b.bootstrap_servers, t)) >= n // 2
    df.unpersist()
