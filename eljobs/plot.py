"""Charts of events per hour and topic, for people who look rather than read.

:func:`events_per_hour_figure` draws one panel per topic with a bar per hour for each series
(e.g. ``before`` and ``after`` a backfill, or the one series of an ``extract``), so a missing hour
is a visible hole and its repair a bar that appears. Hours of the window without any row are
drawn as zero, never left out. :func:`events_per_hour_png` renders the same chart as PNG bytes.

The input is the account rows the jobs already produce (``topic``, ``hour`` and a count,
``read`` by default), e.g. ``ExtractResult.rows`` or the ``rows`` of an extract's JSON report.
Uses matplotlib's object API with the Agg canvas: no pyplot state, no display needed. matplotlib
is an optional dependency (the ``local`` extra); a missing install is a :class:`PlotError`.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from eljobs.errors import EljobsError

if TYPE_CHECKING:
    from matplotlib.figure import Figure


class PlotError(EljobsError, RuntimeError):
    """A chart cannot be drawn (matplotlib missing, or nothing to draw)."""


def counts_by_topic(
    series: Mapping[str, Iterable[Mapping[str, Any]]],
    *,
    hours: Sequence[str] | None = None,
    count: str = "read",
) -> tuple[list[str], list[str], dict[str, dict[str, list[int]]]]:
    """The numbers a chart shows: ``(topics, hours, {topic: {series: [count per hour]}})``.

    Hours are ``hours`` when given (the whole window, so empty hours show as 0), else every
    hour found in the rows, sorted. Rows whose hour is not one of them (e.g. the ``-`` row of a
    topic without messages) only make their topic appear.
    """
    rows = {name: list(rs) for name, rs in series.items()}
    found = sorted({str(r["hour"]) for rs in rows.values() for r in rs if r["hour"] != "-"})
    axis = list(hours) if hours is not None else found
    index = {h: i for i, h in enumerate(axis)}
    topics = sorted({str(r["topic"]) for rs in rows.values() for r in rs})
    values = {t: {name: [0] * len(axis) for name in rows} for t in topics}
    for name, rs in rows.items():
        for r in rs:
            i = index.get(str(r["hour"]))
            if i is not None:
                values[str(r["topic"])][name][i] += int(r[count])
    return topics, axis, values


def events_per_hour_figure(
    series: Mapping[str, Iterable[Mapping[str, Any]]],
    *,
    hours: Sequence[str] | None = None,
    count: str = "read",
    title: str = "Events per hour and topic",
) -> Figure:
    """One panel per topic, a group of bars per hour, one bar per series (legend: the series
    names). See :func:`counts_by_topic` for ``hours`` and ``count``.

    Raises:
        PlotError: matplotlib is not installed, or there is no topic to draw.
    """
    try:
        from matplotlib.figure import Figure
    except ImportError as e:
        raise PlotError(
            "expected matplotlib for charts (pip install 'eljobs[local]' or matplotlib); "
            "found it not installed"
        ) from e
    topics, axis, values = counts_by_topic(series, hours=hours, count=count)
    if not topics:
        raise PlotError("expected at least one topic to draw, found no rows")
    names = list(series)
    fig = Figure(figsize=(max(6.0, 0.45 * len(axis) * max(1, len(names)) + 2), 2.2 * len(topics)))
    axes = fig.subplots(len(topics), 1, sharex=True, squeeze=False)[:, 0]
    width = 0.8 / max(1, len(names))
    for ax, topic in zip(axes, topics, strict=True):
        for k, name in enumerate(names):
            xs = [i + (k - (len(names) - 1) / 2) * width for i in range(len(axis))]
            ax.bar(xs, values[topic][name], width=width, label=name)
        ax.set_title(topic, fontsize=9, loc="left")
        ax.set_ylabel(count)
        ax.grid(axis="y", alpha=0.3)
    # Hours as HH:00 under the bars, the dates in the last axis label: shorter than ISO stamps.
    last = axes[-1]
    last.set_xticks(range(len(axis)))
    last.set_xticklabels([h[11:16] if len(h) >= 16 else h for h in axis], rotation=90, fontsize=7)
    if axis:
        last.set_xlabel(f"hour (UTC), {axis[0][:10]} .. {axis[-1][:10]}")
    if len(names) > 1:
        axes[0].legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def events_per_hour_png(
    series: Mapping[str, Iterable[Mapping[str, Any]]],
    *,
    hours: Sequence[str] | None = None,
    count: str = "read",
    title: str = "Events per hour and topic",
) -> bytes:
    """:func:`events_per_hour_figure` as PNG bytes."""
    # matplotlib (the local extra, about 0.5 s to load) only when a chart is drawn.
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    fig = events_per_hour_figure(series, hours=hours, count=count, title=title)
    buf = io.BytesIO()
    FigureCanvasAgg(fig).print_png(buf)
    return buf.getvalue()
