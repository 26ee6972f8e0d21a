"""``extract --plot`` against the real broker: the chart of a window with a missing hour."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from eljobs.config import parse_config
from eljobs.jobs.extract import Config, run
from eljobs.plot import counts_by_topic
from eljobs.testing.broker import Broker

H = datetime(2024, 6, 1, 10, tzinfo=UTC)  # the window is [H, H+3h); nothing at H+1h


@pytest.mark.slow
def test_plot_shows_the_gap_next_to_the_report(
    spark: Any, broker: Broker, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from confluent_kafka import Producer
    from confluent_kafka.admin import AdminClient, NewTopic

    topic = f"plot_{uuid.uuid4().hex[:6]}"
    admin = AdminClient({"bootstrap.servers": broker.bootstrap_servers})
    for f in admin.create_topics([NewTopic(topic, 1, 1)]).values():
        f.result()
    p = Producer({"bootstrap.servers": broker.bootstrap_servers})
    for hour, n in ((0, 3), (2, 5)):
        for i in range(n):
            ts = H + timedelta(hours=hour, minutes=i)
            p.produce(topic, f"m{hour}-{i}".encode(), timestamp=int(ts.timestamp() * 1000))
    assert p.flush(10) == 0

    cfg = parse_config(
        Config,
        [
            "--bootstrap_servers", broker.bootstrap_servers,
            "--topics", topic,
            "--since", H.isoformat(),
            "--until", (H + timedelta(hours=3)).isoformat(),
            "--output", (tmp_path / "out").as_uri(),
            "--plot",
        ],
    )  # fmt: skip
    result = run(spark, cfg)
    assert result.ok and result.report_path is not None
    # both on the output's file system, given as qualified paths (file:/...)
    assert result.plot_path == result.report_path.removesuffix(".json") + ".png"
    assert result.plot_path == f"file:{tmp_path}/out/_extract_report.png"
    assert (tmp_path / "out" / "_extract_report.png").read_bytes().startswith(b"\x89PNG")
    assert f"plot: {result.plot_path}" in capsys.readouterr().out
    hours = [f"2024-06-01T{h}:00:00Z" for h in (10, 11, 12)]
    _, _, values = counts_by_topic({"messages": result.rows}, hours=hours)
    assert values[topic]["messages"] == [3, 0, 5]
