"""The drill of ``test_kafka_retries.py``, run in its own process (its own Spark, with task
retries): ``python kafka_drill.py SERVERS BROKER_PID TOPIC SINK ROWS``. Prints one line
``DRILL {json}`` with the write's account."""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from typing import Any


def pause_broker_mid_write(servers: str, pid: int, topic: str, box: dict[str, Any]) -> None:
    """Once 2,000 messages can be read, stop the broker for 7 s (past the 4 s delivery
    timeout the write uses), then let it go on."""
    from confluent_kafka import Consumer, TopicPartition

    c = Consumer(
        {
            "bootstrap.servers": servers,
            "group.id": "drill",
            "log_level": 3,
            "topic.metadata.refresh.interval.ms": 200,
        }
    )
    c.assign([TopicPartition(topic, 0, 0)])
    seen, deadline = 0, time.monotonic() + 300
    while seen < 2000 and time.monotonic() < deadline:
        seen += sum(1 for m in c.consume(1000, timeout=0.2) if m.error() is None)
    c.close()
    os.kill(pid, signal.SIGSTOP)
    box["paused_after"] = seen
    time.sleep(7)
    os.kill(pid, signal.SIGCONT)


def main(argv: list[str]) -> int:
    """Run the write with retries on while the broker is paused; print its account."""
    from pyspark.sql import functions as F

    from eljobs.io.kafka import write_to_kafka
    from eljobs.spark import get_session

    servers, pid, topic, sink, n = argv[0], int(argv[1]), argv[2], argv[3], int(argv[4])
    # local[2,4]: two cores, four attempts per task (YARN's default).
    spark = get_session("test", conf={"spark.master": "local[2,4]"})
    # A 20 ms pause in the JVM every 100 rows (at most 5,000 rows/s per task) so the broker
    # pause lands mid-write whatever the sink's speed; the pause's result is cut away.
    slow = F.when(
        F.col("id") % 100 == 0, F.expr("reflect('java.lang.Thread', 'sleep', cast(20 as bigint))")
    )
    df = spark.range(n, numPartitions=2).select(
        F.lit(topic).alias("topic"),
        F.concat(F.col("id").cast("string"), F.substring(F.coalesce(slow, F.lit("")), 1, 0)).alias(
            "value"
        ),
    )
    box: dict[str, Any] = {}
    th = threading.Thread(
        target=pause_broker_mid_write, args=(servers, pid, topic, box), daemon=True
    )
    th.start()
    out: dict[str, Any]
    try:
        r = write_to_kafka(
            df, bootstrap_servers=servers, sink=sink, create_topics=True, timeout_s=4
        )
        out = {
            "ok": True,
            "produced": r.produced,
            "landed": r.landed,
            "duplicates": r.duplicates,
            "failed_attempts": r.failed_attempts,
        }
    except Exception as e:
        out = {"ok": False, "error": str(e)}
    th.join(30)
    out.update(box)
    print("DRILL " + json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
