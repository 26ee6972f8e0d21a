"""File sink layout: DIR/topic=<topic>/part-* with one JSON line per event."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from eljobs.io.files import UNLISTED, write_files


def test_layout_counts_and_append(spark: Any, tmp_path: Path) -> None:
    rows = [
        ("eventlogging_A", '{"schema": "A", "x": 1}'),
        ("eventlogging_A", '{"schema": "A", "x": 2}'),
        ("eventlogging_EventError", '{"schema": "EventError"}'),
        (None, '{"not": "routed"}'),
    ]
    df = spark.createDataFrame(rows, "topic string, value string")
    out = tmp_path / "out"
    counts = write_files(df, f"file://{out}")
    assert counts == {"eventlogging_A": 2, "eventlogging_EventError": 1}

    def lines(topic: str) -> list[str]:
        return sorted(
            line
            for p in (out / f"topic={topic}").glob("part-*")
            for line in p.read_text().splitlines()
        )

    assert sorted(p.name for p in out.iterdir() if not p.name.startswith((".", "_"))) == [
        "topic=eventlogging_A",
        "topic=eventlogging_EventError",
    ]
    assert lines("eventlogging_A") == ['{"schema": "A", "x": 1}', '{"schema": "A", "x": 2}']
    assert lines("eventlogging_EventError") == ['{"schema": "EventError"}']

    # a second write appends, as the processor's file writer did; counted during the write for
    # the topics listed, the others under UNLISTED (written all the same)
    again = write_files(df, str(out), topics=["eventlogging_A"])
    assert again == {"eventlogging_A": 2, UNLISTED: 1}
    assert len(lines("eventlogging_A")) == 4
    assert len(lines("eventlogging_EventError")) == 2
