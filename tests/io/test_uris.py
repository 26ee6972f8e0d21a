"""Writer URI parsing (pure, no Spark)."""

from __future__ import annotations

import pytest

from eljobs.io.uris import WriterURIError, parse_writer_uri


def test_file_uri_defaults_to_the_schema_topic() -> None:
    w = parse_writer_uri("file:///data/out")
    assert (w.kind, w.target, w.topic_template) == (
        "file",
        "file:///data/out",
        "eventlogging_{schema}",
    )
    assert w.blacklist is None and w.options == {}
    # a bare path is left to Hadoop's default file system (HDFS on the cluster)
    assert parse_writer_uri("/data/out").target == "/data/out"
    assert parse_writer_uri("/data/out?topic={schema}").topic_template == "{schema}"
    assert parse_writer_uri("hdfs://nn:8020/x/y").target == "hdfs://nn:8020/x/y"


def test_kafka_uri_as_the_backfill_had_it() -> None:
    w = parse_writer_uri(
        "kafka-confluent:///k1:9092,k2:9093?topic=eventlogging_{schema}"
        "&compression.type=snappy&blacklist=^(Edit|Test)&identity=backfill&async_mode=true"
    )
    assert w.kind == "kafka"
    assert w.target == "k1:9092,k2:9093"
    assert w.topic_template == "eventlogging_{schema}"
    assert w.options == {"kafka.compression.type": "snappy", "kafka.client.id": "backfill"}
    assert w.is_blacklisted("EditAttemptStep") and w.is_blacklisted("Test")
    # match at the start only, as re.match does
    assert not w.is_blacklisted("NavigationTiming") and not w.is_blacklisted("MyEdit")
    assert not w.is_blacklisted(None)


def test_kafka_without_topic_uses_the_capsule_topic_and_takes_a_key() -> None:
    w = parse_writer_uri("kafka://h:1/?key={wiki}")
    assert (w.target, w.topic_template, w.key_template) == ("h:1", "{topic}", "{wiki}")


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("zmq://x", "unknown writer scheme 'zmq'"),
        ("kafka:///?topic=x", "expected brokers"),
        ("kafka:///h:1?topic=eventlogging_{schema", "invalid template"),
        ("file:///d?blacklist=(", "invalid blacklist regex"),
        ("file:///d?foo=1", "takes only topic and blacklist"),
        ("file://", "expected a directory"),
    ],
)
def test_bad_uris_say_what_is_wrong(uri: str, message: str) -> None:
    with pytest.raises(WriterURIError, match=message) as e:
        parse_writer_uri(uri)
    assert uri in str(e.value)
