"""Charts: one metric's running total and its daily changes, as a PNG readable on a phone.

matplotlib is imported only here, only when a chart is drawn, and through its object API with
the Agg canvas (no pyplot state, safe off the event loop), so an idle daemon does not carry it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import itertools
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from .channels.render import metric_name
from .format import format_number


@dataclass(frozen=True)
class Mark:
    as_of: dt.date
    rule: str  # milestone | spike | record | correction
    label: str


def render(
    metric: str,
    points: list[tuple[dt.date, int]],
    marks: list[Mark] = (),
    language: str = "en",
) -> bytes:
    """PNG bytes: the cumulative curve above, the daily changes below, milestones and spikes marked."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter, DateFormatter, DayLocator
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter

    if not points:
        raise ValueError(f"no figures for {metric} to draw")
    days = [d for d, _ in points]
    values = [v for _, v in points]
    changes = [(d, b - a) for (_, a), (d, b) in itertools.pairwise(points)]
    spike_days = {m.as_of for m in marks if m.rule in ("spike", "record")}
    name = metric_name(metric, language)
    thousands = FuncFormatter(lambda x, _pos: format_number(int(x), language))

    figure = Figure(figsize=(8, 6.4), dpi=120, layout="constrained")
    FigureCanvasAgg(figure)
    top, bottom = figure.subplots(2, 1, sharex=True, height_ratios=[3, 2])
    period = f"{days[0]:%d.%m.%Y} – {days[-1]:%d.%m.%Y}" if language == "uk" else f"{days[0]} – {days[-1]}"
    figure.suptitle(f"{name.capitalize()}: {format_number(values[-1], language)}", fontsize=17, fontweight="bold")
    top.set_title(period, fontsize=12, color="#555555")

    top.plot(days, values, color="#1f5fa8", linewidth=2.4)
    top.fill_between(days, values, min(values), color="#1f5fa8", alpha=0.08)
    top.yaxis.set_major_formatter(thousands)
    top.set_ylabel("total" if language == "en" else "усього", fontsize=12)
    top.grid(True, alpha=0.3)
    span = max(1, (days[-1] - days[0]).days)
    for mark in marks:
        if mark.rule == "milestone" and days[0] <= mark.as_of <= days[-1]:
            top.axvline(mark.as_of, color="#c0392b", linestyle="--", linewidth=1.4)
            # at the top on white, left of the line — or right of it near the left edge (the y labels)
            right = (mark.as_of - days[0]).days < span * 0.25
            top.annotate(
                mark.label,
                xy=(mark.as_of, 0.98),
                xycoords=("data", "axes fraction"),
                xytext=(5 if right else -5, 0),
                textcoords="offset points",
                ha="left" if right else "right",
                va="top",
                fontsize=12,
                fontweight="bold",
                color="#c0392b",
                bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.9, "pad": 1.5},
            )

    if changes:
        colors = ["#c0392b" if d in spike_days else ("#7f8c8d" if c < 0 else "#5d8fc9") for d, c in changes]
        bottom.bar([d for d, _ in changes], [c for _, c in changes], color=colors, width=0.85)
    bottom.yaxis.set_major_formatter(thousands)
    bottom.set_ylabel("per day" if language == "en" else "за добу", fontsize=12)
    bottom.grid(True, axis="y", alpha=0.3)
    short = (days[-1] - days[0]).days <= 10
    locator = DayLocator() if short else AutoDateLocator(maxticks=8)
    bottom.xaxis.set_major_locator(locator)
    # month names would be English whatever the reader's language: Ukrainian charts use 14.06 dates
    bottom.xaxis.set_major_formatter(DateFormatter("%d.%m") if language == "uk" else ConciseDateFormatter(locator))
    for axis in (top, bottom):
        axis.tick_params(labelsize=11)
        for side in ("top", "right"):
            axis.spines[side].set_visible(False)
    out = io.BytesIO()
    figure.savefig(out, format="png")
    return out.getvalue()


def marks_from(events: list[tuple[dt.date, str, dict]], language: str = "en") -> list[Mark]:
    """Chart marks from stored events: milestones labelled with their level, spikes and records."""
    out = []
    for as_of, rule, data in events:
        if rule == "milestone":
            out.append(Mark(as_of, rule, format_number(data["level"], language)))
        elif rule in ("spike", "record"):
            out.append(Mark(as_of, rule, ""))
    return out


def chart_for(store, metric: str, days: int = 90, language: str = "en") -> bytes:
    """The PNG for a metric from the store (call on the store's thread)."""
    points, events = store.chart_data(metric, days)
    return render(metric, points, marks_from(events, language), language)


log = logging.getLogger("tallywatch.charts")
KEPT = 16  # charts drawn for an event's fan-out, kept while its recipients are served


class Charts:
    """Charts for the running daemon: the figures read on the store's thread (``run``), drawn on a
    worker thread; with ``once`` (an event's key) drawn once and kept for every recipient of that
    event, and a drawing that fails logged once — the event then goes out without a chart."""

    def __init__(self, run: Callable[..., Awaitable[Any]], store: Any) -> None:
        self.run, self.store = run, store
        self._drawn: OrderedDict[tuple, tuple[asyncio.Lock, list[bytes | None]]] = OrderedDict()

    async def get(self, metric: str, language: str = "en", days: int = 90, *, once: str | None = None) -> bytes | None:
        """A metric's chart as PNG (``None``: fewer than two points to draw)."""
        if once is None:
            points, events = await self.run(self.store.chart_data, metric, days)
            if len(points) < 2:
                return None
            return await asyncio.to_thread(render, metric, points, marks_from(events, language), language)
        key = (once, metric, language, days)
        if key not in self._drawn:
            self._drawn[key] = (asyncio.Lock(), [])
            while len(self._drawn) > KEPT:
                self._drawn.popitem(last=False)
        self._drawn.move_to_end(key)
        lock, drawn = self._drawn[key]
        async with lock:  # the first caller draws; the others wait for its drawing
            if not drawn:
                try:
                    drawn.append(await self.get(metric, language, days))
                except Exception:
                    log.exception("the chart of %s for %s could not be drawn; it goes without one", metric, once)
                    drawn.append(None)
        return drawn[0]
