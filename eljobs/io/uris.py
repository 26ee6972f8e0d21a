"""Writer URIs of ``--output`` / ``--output_invalid``, as eventlogging-processor had them.

* ``file:///DIR`` (also ``hdfs://...``, or a bare path, which is on Hadoop's default file system
  as everywhere in eljobs, see :mod:`eljobs.io.fs`): JSON lines into
  ``DIR/topic=<topic>/part-*``. The topic template defaults to ``eventlogging_{schema}``.
* ``kafka:///host:port[,host:port]?topic=eventlogging_{schema}&...`` (also
  ``kafka-confluent://`` and ``kafka-python://``): the Kafka sink. Without ``topic`` the
  capsule's own ``topic`` field is used, as the reference did (events without one are not
  written, and counted as unroutable).

Query keys: ``topic`` (a ``str.format`` template over the capsule), ``key`` (the same,
for the record key), ``blacklist`` (a regex matched at the start of the schema name: matching
events are not written through this writer and are counted as ``blacklisted``), ``identity``
(becomes the producer's ``client.id``); ``async_mode`` and ``raw`` only steered the reference's
own writer and are ignored with a warning. Every other key is a producer option and is passed on
as ``kafka.<key>``.
"""

from __future__ import annotations

import logging
import re
import string
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import parse_qsl, unquote, urlsplit

log = logging.getLogger(__name__)

DEFAULT_FILE_TOPIC = "eventlogging_{schema}"
CAPSULE_TOPIC = "{topic}"
KAFKA_SCHEMES = ("kafka", "kafka-confluent", "kafka-python")
FILE_SCHEMES = ("file", "hdfs")
_IGNORED_KEYS = ("async_mode", "raw")


class WriterURIError(ValueError):
    """A writer URI cannot be understood; the message names it and says what was expected."""


@dataclass(frozen=True)
class WriterURI:
    """One parsed writer URI."""

    uri: str
    kind: Literal["file", "kafka"]
    target: str
    """The directory (a Hadoop path) for files, the bootstrap servers for Kafka."""
    topic_template: str
    key_template: str | None = None
    blacklist: re.Pattern[str] | None = None
    options: dict[str, str] = field(default_factory=dict)
    """Producer options with their ``kafka.`` prefix."""

    def is_blacklisted(self, schema: str | None) -> bool:
        """The schema name matches the blacklist at its start."""
        return bool(self.blacklist and schema is not None and self.blacklist.match(schema))


def check_template(template: str, where: str) -> None:
    """Raise WriterURIError when ``template`` is not a valid ``str.format`` template."""
    try:
        list(string.Formatter().parse(template))
    except ValueError as e:
        raise WriterURIError(f"{where}: invalid template {template!r}: {e}") from None


def parse_writer_uri(uri: str) -> WriterURI:
    """Parse one writer URI (see the module docstring).

    Raises:
        WriterURIError: unknown scheme, no brokers, a bad template or a bad blacklist regex.
    """
    text = uri.strip()
    parts = urlsplit(text)
    scheme = parts.scheme.lower()
    query: dict[str, str] = {}
    for k, v in parse_qsl(parts.query, keep_blank_values=True, strict_parsing=False):
        query[k] = v

    topic = query.pop("topic", None)
    key = query.pop("key", None) or None
    bl = query.pop("blacklist", None)
    blacklist = None
    if bl:
        try:
            blacklist = re.compile(bl)
        except re.error as e:
            raise WriterURIError(f"{uri}: invalid blacklist regex {bl!r}: {e}") from None

    if scheme in FILE_SCHEMES or (not scheme and parts.path):
        path = unquote(parts.path)
        if not path or path == "/":
            raise WriterURIError(f"{uri}: expected a directory, e.g. file:///data/out")
        # a bare path stays bare: the Hadoop file system resolves it against fs.defaultFS
        target = f"{scheme}://{parts.netloc}{path}" if scheme else path
        if query:
            raise WriterURIError(
                f"{uri}: a file writer takes only topic and blacklist, found {sorted(query)}"
            )
        if key:
            raise WriterURIError(f"{uri}: a file writer has no record key (key={key!r})")
        tmpl = topic or DEFAULT_FILE_TOPIC
        check_template(tmpl, uri)
        return WriterURI(
            uri=uri, kind="file", target=target, topic_template=tmpl, blacklist=blacklist
        )

    if scheme in KAFKA_SCHEMES:
        brokers = ",".join(
            b.strip() for b in (parts.netloc + "," + parts.path).replace("/", ",").split(",")
        ).strip(",")
        brokers = ",".join(b for b in brokers.split(",") if b)
        if not brokers:
            raise WriterURIError(
                f"{uri}: expected brokers in the path, e.g. kafka:///host:9092?topic=eventlogging_{{schema}}"
            )
        options: dict[str, str] = {}
        for k, v in query.items():
            if k in _IGNORED_KEYS:
                log.warning(
                    "%s: ignoring %s=%s (an option of the reference's own writer)", uri, k, v
                )
                continue
            if k == "identity":
                options["kafka.client.id"] = v
                continue
            options[k if k.startswith("kafka.") else f"kafka.{k}"] = v
        tmpl = topic or CAPSULE_TOPIC
        check_template(tmpl, uri)
        if key:
            check_template(key, uri)
        return WriterURI(
            uri=uri,
            kind="kafka",
            target=brokers,
            topic_template=tmpl,
            key_template=key,
            blacklist=blacklist,
            options=options,
        )

    raise WriterURIError(
        f"{uri}: unknown writer scheme {parts.scheme!r}; expected file:///DIR or "
        "kafka:///host:port?topic=... (also kafka-confluent://)"
    )
