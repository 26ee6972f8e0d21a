"""Charts of events per hour and topic (eljobs.plot): the numbers drawn and the PNG."""

from __future__ import annotations

import pytest

from eljobs.plot import PlotError, counts_by_topic, events_per_hour_figure, events_per_hour_png

H = [f"2024-01-15T0{h}:00:00Z" for h in (2, 3, 4)]
BEFORE = [
    {"topic": "eventlogging_A", "hour": H[0], "read": 5},
    {"topic": "eventlogging_A", "hour": H[2], "read": 4},
    {"topic": "eventlogging_B", "hour": "-", "read": 0},  # a topic without messages
]
AFTER = [
    *BEFORE[:2],
    {"topic": "eventlogging_A", "hour": H[1], "read": 6},
    {"topic": "eventlogging_B", "hour": H[1], "read": 2},
]


def test_counts_fill_every_hour_of_the_window_with_zeros() -> None:
    topics, hours, values = counts_by_topic({"before": BEFORE, "after": AFTER}, hours=H)
    assert topics == ["eventlogging_A", "eventlogging_B"] and hours == H
    assert values["eventlogging_A"] == {"before": [5, 0, 4], "after": [5, 6, 4]}
    assert values["eventlogging_B"] == {"before": [0, 0, 0], "after": [0, 2, 0]}
    # Without a window, the hours found in the rows.
    assert counts_by_topic({"x": BEFORE})[1] == [H[0], H[2]]


def test_figure_has_a_panel_per_topic_and_a_bar_per_series_and_hour() -> None:
    fig = events_per_hour_figure({"before": BEFORE, "after": AFTER}, hours=H)
    axes = fig.get_axes()
    assert [ax.get_title(loc="left") for ax in axes] == ["eventlogging_A", "eventlogging_B"]
    heights = [int(bar.get_height()) for bar in axes[0].patches]
    assert heights == [5, 0, 4, 5, 6, 4]  # before's three hours, then after's
    assert [t.get_text() for t in axes[1].get_xticklabels()] == ["02:00", "03:00", "04:00"]
    assert [t.get_text() for t in axes[0].get_legend().get_texts()] == ["before", "after"]


def test_png_bytes_and_nothing_to_draw() -> None:
    png = events_per_hour_png({"extract": AFTER}, hours=H)
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 5_000
    with pytest.raises(PlotError, match="at least one topic"):
        events_per_hour_png({"extract": []})
