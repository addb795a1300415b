"""Charts: one metric's running total and its daily changes, as a PNG readable on a phone; and
the daily report's card (``card``): every category's total and the day's change, 1080 × 1350.

matplotlib is imported only here, only when a chart is drawn, and through its object API with
the Agg canvas (no pyplot state). The running daemon draws in a worker process of its own
(``Drawer``), started when a picture is asked for and stopped a minute after the last one, so
matplotlib, numpy and their fonts never stay in the daemon between two reports. A picture has a
deadline (``[charts] deadline``): past it the worker is killed, the next picture starts a new one,
and the event goes out without that picture.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import io
import itertools
import logging
import os
import signal
import sys
import weakref
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from .channels.render import metric_name
from .detect.report import headlines
from .detect.wording import crossing
from .format import format_date, format_number, format_period
from .i18n import N_, capitalized, gettext


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
    """PNG bytes: the cumulative curve above, the daily changes below, milestones and spikes marked
    (``chart_figure``)."""
    out = io.BytesIO()
    chart_figure(metric, points, marks, language).savefig(out, format="png")
    return out.getvalue()


CURVE, RISE, FALL, STANDOUT = "#1f5fa8", "#5d8fc9", "#7f8c8d", "#c0392b"  # the chart's colours
LEGEND = {  # what each colour means, in the legend under the chart (msgids)
    RISE: N_("daily change"),
    STANDOUT: N_("an unusual day or a record"),
    FALL: N_("a count corrected down"),
    "milestone": N_("a milestone passed"),
}
LABELLED = 3  # milestones named on a chart, the latest first (each one has its dot)


def chart_figure(
    metric: str,
    points: list[tuple[dt.date, int]],
    marks: list[Mark] = (),
    language: str = "en",
) -> Any:
    """The chart as a matplotlib ``Figure`` on the Agg canvas, laid out (``render`` saves it).

    ``points``: every day to draw, from the first to the last — the last 30, 90 or 365 days, or
    all a metric has (``chart_data(metric, None)``); the date axis suits the span (``_date_axis``).
    The counts on both axes are whole numbers, each said once; a milestone is a dot on the curve
    with its level in the empty part of the chart beside it; a legend under the chart says what
    each colour of bar means, in the reader's language."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if not points:
        raise ValueError(f"no figures for {metric} to draw")
    days = [d for d, _ in points]
    values = [v for _, v in points]
    changes = [(d, b - a) for (_, a), (d, b) in itertools.pairwise(points)]
    spike_days = {m.as_of for m in marks if m.rule in ("spike", "record")}
    name = metric_name(metric, language)

    figure = Figure(
        figsize=(5.4, 5.6), dpi=180, layout="constrained"
    )  # 972 × 1008 px: phone-shaped, its words legible at a phone's width
    FigureCanvasAgg(figure)
    top, bottom = figure.subplots(2, 1, sharex=True, height_ratios=[3, 2])
    period = format_period(days[0], days[-1], language)
    figure.suptitle(f"{capitalized(name)}: {format_number(values[-1], language)}", fontsize=17, fontweight="bold")
    top.set_title(period, fontsize=12, color="#555555")

    low, _ = _whole_axis(top, min(values), max(values), language)
    (curve,) = top.plot(days, values, color=CURVE, linewidth=2.4)
    top.fill_between(days, values, low, color=CURVE, alpha=0.08)
    top.set_ylabel(gettext(language, "total"), fontsize=12)
    top.grid(True, alpha=0.3)

    shown: dict[str, str] = {}  # the legend: colour → words
    if changes:
        colors = [STANDOUT if d in spike_days else (FALL if c < 0 else RISE) for d, c in changes]
        _bars(bottom, changes, colors)
        shown = {color: LEGEND[color] for color in (RISE, STANDOUT, FALL) if color in colors}
    steps = [c for _, c in changes] or [0]
    _whole_axis(bottom, min(0, *steps), max(0, *steps), language)
    bottom.set_ylabel(gettext(language, "per day"), fontsize=12)
    bottom.grid(True, axis="y", alpha=0.3)
    for axis in (top, bottom):
        axis.tick_params(labelsize=11)
        for side in ("top", "right"):
            axis.spines[side].set_visible(False)

    at = dict(points)
    milestones = [m for m in marks if m.rule == "milestone" and m.as_of in at]
    if milestones:
        shown["milestone"] = LEGEND["milestone"]
    _legend(figure, shown, language)
    _date_axis(figure, bottom, days[0], days[-1], language)
    milestones.sort(key=lambda m: m.as_of)
    if milestones:
        top.plot([m.as_of for m in milestones], [at[m.as_of] for m in milestones], "o", color=STANDOUT, zorder=3)
    _name_milestones(figure, top, curve, [(m, at[m.as_of]) for m in milestones], low)
    return figure


def _bars(axis: Any, changes: list[tuple[dt.date, int]], colors: list[str]) -> None:
    """A bar a day, as one collection (1,600 days of bars as patches take seconds to lay out)."""
    from matplotlib.collections import PolyCollection
    from matplotlib.dates import date2num

    half = 0.5 if len(changes) > 120 else 0.425  # bars a few pixels wide or less: no gap between them
    shapes = [
        [(x - half, 0), (x - half, c), (x + half, c), (x + half, 0)]
        for x, c in zip(date2num([d for d, _ in changes]), [c for _, c in changes], strict=True)
    ]
    axis.add_collection(PolyCollection(shapes, facecolors=colors, edgecolors="none", linewidths=0), autolim=False)


def _whole_axis(axis: Any, low: int, high: int, language: str) -> tuple[float, float]:
    """Counts on ``axis``'s y: whole numbers only, each a different one (never ``1 1 1 0 0``), at
    least two on a flat series; the limits it shows (from ``low`` to ``high`` and a little more)."""
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    if low == high:  # a flat series: the whole numbers around it (not 2.00 2.02 2.04…)
        axis.set_ylim(low - 1 if low else 0, high + 1)
    else:
        margin = (high - low) * 0.05
        axis.set_ylim(low - margin, high + margin)
    axis.yaxis.set_major_locator(MaxNLocator(nbins=5, integer=True, min_n_ticks=2))

    def whole(x: float, _pos: Any) -> str:
        return format_number(round(x), language).replace("-", "−") if abs(x - round(x)) < 1e-6 else ""

    axis.yaxis.set_major_formatter(FuncFormatter(whole))
    return axis.get_ylim()


def _month_names(language: str) -> list[str]:
    """The language's abbreviated month names, as CLDR writes them (Jun / черв.): Babel's tables,
    read in the drawing process only."""
    from babel.dates import get_month_names

    return list(get_month_names("abbreviated", "format", locale=language).values())


def _date_axis(figure: Any, axis: Any, first: dt.date, last: dt.date, language: str) -> None:
    """One date axis under the daily changes, from ``first`` to ``last``, in the reader's language:
    up to 45 days a tick a week (up to 14, every other day) back from the last day, named
    ``14 Jun`` / ``14 черв.``; longer, a tick where each month (up to 200 days), each quarter (up to
    800) or each year begins, its name (``Jun``, a January its year ``2025``) written from there
    on, under its own figures. The first part of a period, before its first tick, is named too
    where its name fits under it; a name that would run into the next or past the end is left out.
    No offset text (the period is the title's)."""
    from matplotlib.dates import date2num
    from matplotlib.ticker import FixedFormatter, FixedLocator, FuncFormatter, NullFormatter, NullLocator

    months = _month_names(language)
    span = (last - first).days
    axis.set_xlim(date2num(first) - 0.6, date2num(last) + 0.6)
    axis.xaxis.set_minor_locator(NullLocator())
    axis.xaxis.set_minor_formatter(NullFormatter())
    if span <= 45:
        step = 1 if span <= 4 else 2 if span <= 14 else 7  # a week's chart (/chart tanks 7): every other day
        ticks = [last - dt.timedelta(days=k) for k in range(0, span + 1, step)][::-1]
        names = {d: f"{d.day} {months[d.month - 1]}" for d in ticks}
        axis.xaxis.set_major_locator(FixedLocator(date2num(ticks)))
        axis.xaxis.set_major_formatter(FuncFormatter(lambda x, pos: names[ticks[pos]] if pos is not None else ""))
        return
    every = 1 if span <= 200 else 3 if span <= 800 else 12
    starts = []  # each period's first day after ``first``
    month = dt.date(first.year, first.month, 1)
    while month <= last:
        if month > first and (month.month - 1) % every == 0:
            starts.append(month)
        month = _next_month(month)

    def name(day: dt.date) -> str:
        return str(day.year) if every == 12 or day.month == 1 else months[day.month - 1]

    ticks = [first, *starts]  # the first: the part of a period the range begins in
    while True:
        labels = [name(d) for d in ticks]
        axis.xaxis.set_major_locator(FixedLocator(date2num(ticks)))
        axis.xaxis.set_major_formatter(FixedFormatter(labels))
        for tick in axis.xaxis.get_major_ticks()[: len(ticks)]:
            tick.label1.set_horizontalalignment("left")
        figure.draw_without_rendering()
        renderer = figure.canvas.get_renderer()
        boxes = [t.label1.get_window_extent(renderer) for t in axis.xaxis.get_major_ticks()[: len(ticks)]]
        # the first part's name ends within its period (a May of one day is not named under June's
        # figures); a name never runs into the next (a gap of 14 pixels at least), nor past the last day
        named = _next_month(ticks[0]) if name(ticks[0]) in months else dt.date(ticks[0].year + 1, 1, 1)
        limits = [axis.transData.transform((date2num(d), 0))[0] for d in (named, last + dt.timedelta(days=1))]
        crowded = [
            i
            for i, box in enumerate(boxes)
            if box.x1 + 14
            > min(
                boxes[i + 1].x0 if i + 1 < len(boxes) else limits[-1],
                limits[0] if i == 0 and ticks[0] == first else limits[-1],
            )
        ]
        if not crowded:
            return
        ticks.pop(crowded[0])


def _next_month(day: dt.date) -> dt.date:
    return (day.replace(day=28) + dt.timedelta(days=4)).replace(day=1)


def _legend(figure: Any, shown: dict[str, str], language: str) -> None:
    """Under the chart: a swatch of each colour shown and what it means, in the reader's language."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    if not shown:
        return
    handles = [
        Line2D([], [], color=STANDOUT, marker="o", linestyle="--", linewidth=1.1, markersize=6)
        if key == "milestone"
        else Patch(facecolor=key, edgecolor="none")
        for key in shown
    ]
    words = [gettext(language, text) for text in shown.values()]
    columns = 2 if sum(len(w) for w in words) <= 48 else 1
    figure.legend(
        handles, words, loc="outside lower center", ncols=min(columns, len(words)), fontsize=11, frameon=False
    )


def _name_milestones(figure: Any, axis: Any, curve: Any, marks: list[tuple[Mark, int]], low: float) -> None:
    """The latest ``LABELLED`` milestones (``marks``: each one with its dot on the curve, in order):
    a dashed line down from the dot, and the level written in an empty part of the chart as near
    the dot as it can be — the curve, the dots, the lines and the other levels nowhere under it —,
    a thin line from it to the dot (one that does not cross the curve, where there is one). A
    level that finds no room is left out (its dot stays)."""
    from matplotlib.dates import date2num
    from matplotlib.transforms import Bbox

    named = marks[-LABELLED:][::-1]
    for mark, value in named:
        axis.vlines(mark.as_of, low, value, color=STANDOUT, linestyle="--", linewidth=1.1)
    if not named:
        return
    figure.draw_without_rendering()
    renderer = figure.canvas.get_renderer()
    path = curve.get_transform().transform_path(curve.get_path())
    under = _Graph(path.vertices)
    frame = axis.get_window_extent(renderer)
    dots = [axis.transData.transform((date2num(m.as_of), v)) for m, v in marks]
    lines = [axis.transData.transform((date2num(m.as_of), v)) for m, v in named]
    taken = [Bbox.from_extents(x - 9, y - 9, x + 9, y + 9) for x, y in dots]  # the dots
    taken += [Bbox.from_extents(x - 3, frame.y0, x + 3, y) for x, y in lines]  # the dashed lines
    style = {"fontsize": 12, "fontweight": "bold", "color": STANDOUT, "va": "bottom", "ha": "left"}
    for mark, value in named:
        text = axis.text(0, 0, mark.label, transform=axis.transAxes, **style)
        width, height = text.get_window_extent(renderer).size
        px, py = axis.transData.transform((date2num(mark.as_of), value))
        room = []  # (how far from the dot, where it goes)
        for fx in _steps(0.02, 0.98, 40):
            for fy in _steps(0.04, 0.96, 24):
                x0, y0 = frame.x0 + fx * frame.width, frame.y0 + fy * frame.height
                box = Bbox.from_bounds(x0 - 4, y0 - 4, width + 8, height + 8)  # a little room around
                if box.x0 < frame.x0 or box.x1 > frame.x1 or box.y0 < frame.y0 or box.y1 > frame.y1:
                    continue
                if under.meets(box) or any(box.overlaps(t) for t in taken):
                    continue
                nx, ny = min(max(px, box.x0), box.x1), min(max(py, box.y0), box.y1)
                room.append((((nx - px) ** 2 + (ny - py) ** 2) ** 0.5, fx, fy, box, (nx, ny)))
        if not room:
            text.remove()
            continue
        room.sort(key=lambda r: r[0])

        clear = (r for r in room[:50] if not _crosses(path, (px, py), r[-1]))  # its line to the dot
        _, fx, fy, box, near = next(clear, room[0])
        text.set_position((fx, fy))
        taken.append(box)
        axis.annotate(
            "",
            xy=(mark.as_of, value),
            xytext=axis.transAxes.inverted().transform(near),
            textcoords="axes fraction",
            arrowprops={"arrowstyle": "-", "color": STANDOUT, "linewidth": 1.0, "shrinkA": 0, "shrinkB": 4},
        )


def _crosses(path: Any, dot: tuple[float, float], near: tuple[float, float]) -> bool:
    """Whether the line from ``near`` to the ``dot`` on the curve (``path``, in pixels) crosses it
    on the way (the line stops 10 pixels short of the dot)."""
    from matplotlib.path import Path

    (px, py), (nx, ny) = dot, near
    distance = ((nx - px) ** 2 + (ny - py) ** 2) ** 0.5
    if distance <= 10:
        return False
    short = 10 / distance
    return path.intersects_path(Path([(nx, ny), (px + (nx - px) * short, py + (ny - py) * short)]))


class _Graph:
    """A curve drawn left to right (one y for each x), in pixels: whether it passes through a box."""

    def __init__(self, vertices: Any) -> None:
        self.x, self.y = vertices[:, 0], vertices[:, 1]

    def meets(self, box: Any) -> bool:
        import numpy as np

        if box.x1 < self.x[0] or box.x0 > self.x[-1]:
            return False
        inside = self.y[np.searchsorted(self.x, box.x0) : np.searchsorted(self.x, box.x1)]
        ends = np.interp([max(box.x0, self.x[0]), min(box.x1, self.x[-1])], self.x, self.y)
        low, high = min(ends.min(), inside.min(initial=np.inf)), max(ends.max(), inside.max(initial=-np.inf))
        return low <= box.y1 and high >= box.y0  # a connected curve: its heights over the box's width


def _steps(low: float, high: float, n: int) -> list[float]:
    return [low + (high - low) * i / (n - 1) for i in range(n)]


CARD_WIDTH, CARD_HEIGHT = 1080, 1350  # pixels: a phone's full width, 4:5 as Telegram shows a photo
CARD_TITLES = (N_("Russia's losses"), N_("{day} · day {n} of the full-scale war"))  # msgids
NAVY, INK, MUTED, ACCENT, PANEL = "#0f2a4a", "#13202e", "#5b6b7b", "#c0392b", "#eef2f6"
BAND_ROWS = 2  # the day's milestones the card's band shows (the caption says every one)


def card(report: dict[str, Any], day: dt.date, language: str = "en", said_by: str = "") -> bytes:
    """The daily report as one PNG card, 1080 × 1350, in the spirit of the General Staff's own
    infographic: the title, the date and the day of the war on a dark band; under it, on a day that
    crossed a milestone, a red band with the level in figures and in words (``1,000,000  Personnel
    passed 1 million``: the day's news before its figures); personnel large across the width; every
    other category in two columns, its total in bold and the day's change in red; whose figures
    they are at the foot. ``report``: a report event's data."""
    figures = report["figures"]
    if not figures:
        raise ValueError("a report without figures has no card")
    drawing = _Card(language)
    drawing.title(report, day)
    crossed = [crossing(s["metric"], s["data"]["level"], language) for s in headlines(report)][:BAND_ROWS]
    top = drawing.band(crossed, top=200)  # under the title's band
    drawing.cells(figures, top, crossed=bool(crossed))
    if said_by:  # one line, or two: whose figures, then the service that shows them
        drawing.text(40, CARD_HEIGHT - 14, said_by, 24, color=MUTED, va="bottom", linespacing=1.35)
    return drawing.png()


class _Card:
    """The card being drawn, in pixels from its top left corner (``card``)."""

    dpi = 100

    def __init__(self, language: str) -> None:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        self.language = language
        self.figure = Figure(figsize=(CARD_WIDTH / self.dpi, CARD_HEIGHT / self.dpi), dpi=self.dpi, facecolor="white")
        self.renderer = FigureCanvasAgg(self.figure).get_renderer()  # measures words, so they fit where they go

    @staticmethod
    def fx(px: float) -> float:  # pixels from the left
        return px / CARD_WIDTH

    @staticmethod
    def fy(px: float) -> float:  # pixels from the top
        return 1 - px / CARD_HEIGHT

    def text(self, x: float, y: float, words: str, size: float, **style: Any) -> Any:
        points = size * 72 / self.dpi  # a text's height in pixels, as points
        return self.figure.text(
            self.fx(x), self.fy(y), words, fontsize=points, transform=self.figure.transFigure, **style
        )

    def width(self, drawn: Any) -> float:
        return drawn.get_window_extent(self.renderer).width  # pixels (the figure's dpi is the card's)

    def box(self, x: float, y: float, w: float, h: float, color: str, rounded: bool = True) -> None:
        from matplotlib.patches import FancyBboxPatch, Rectangle

        corner, size = (self.fx(x), self.fy(y + h)), (self.fx(w), h / CARD_HEIGHT)
        shape = (
            FancyBboxPatch(
                corner,
                *size,
                boxstyle="round,pad=0,rounding_size=0.012",
                transform=self.figure.transFigure,
                facecolor=color,
                edgecolor="none",
            )
            if rounded
            else Rectangle(corner, *size, transform=self.figure.transFigure, color=color)
        )
        self.figure.patches.append(shape)

    def title(self, report: dict[str, Any], day: dt.date) -> None:
        language = self.language
        title, subtitle = (gettext(language, text) for text in CARD_TITLES)
        when = format_date(day, language)
        number = format_number(report["day_of_war"]) if language == "en" else str(report["day_of_war"])
        self.box(0, 0, CARD_WIDTH, 200, NAVY, rounded=False)
        self.text(60, 95, title, 64, color="white", fontweight="bold", va="baseline")
        self.text(60, 158, subtitle.format(day=when, n=number), 34, color="#c9d6e3", va="baseline")

    def band(self, crossed: list[tuple[str, str]], top: float) -> float:
        """The day's news: a red band across the card, a row for each milestone; where it ends."""
        if not crossed:
            return top
        row, size, one, two = (
            (110, 68, range(34, 27, -2), range(32, 19, -2))
            if len(crossed) == 1
            else (64, 44, range(28, 21, -2), range(20, 15, -2))
        )
        pad = 0 if len(crossed) == 1 else 8
        self.box(0, top, CARD_WIDTH, row * len(crossed) + 2 * pad, ACCENT, rounded=False)
        for i, (level, words) in enumerate(crossed):
            middle = top + pad + i * row + row / 2
            drawn = self.text(60, middle + size * 0.36, level, size, color="white", fontweight="bold", va="baseline")
            self.words_in(60 + self.width(drawn) + 32, CARD_WIDTH - 50, middle, capitalized(words), (one, two))
        return top + row * len(crossed) + 2 * pad

    def words_in(self, x: float, right: float, middle: float, words: str, sizes: tuple[range, range]) -> None:
        """``words`` in white from ``x`` to ``right``, centred on ``middle``: on one line at the
        largest of the sizes ``one`` that fits, else on two at the largest of ``two`` (cut at the
        space nearest the middle: a number and its word are held by a no-break space)."""
        one, two = sizes
        cuts = [i for i, c in enumerate(words) if c == " "]
        cut = min(cuts, key=lambda i: abs(i - len(words) / 2), default=None)
        halves = [words[:cut], words[cut + 1 :]] if cut is not None else [words]
        tries = [([words], size) for size in one] + [(halves, size) for size in two]
        for n, (lines, size) in enumerate(tries):
            first = middle - (len(lines) - 1) * size * 0.62 + size * 0.36  # the first line's baseline
            drawn = [
                self.text(x, first + i * size * 1.25, line, size, color="white", va="baseline")
                for i, line in enumerate(lines)
            ]
            if max(self.width(d) for d in drawn) <= right - x or n == len(tries) - 1:
                return
            for d in drawn:
                d.remove()

    def cells(self, figures: list[dict[str, Any]], top: float, *, crossed: bool) -> None:
        """Personnel large across the width, every other category in two columns under it."""
        personnel = [f for f in figures if f["metric"] == "personnel"]
        others = [f for f in figures if f["metric"] != "personnel"]
        top += 30 if not crossed else 20
        if personnel:
            big = 190 if not crossed else 175  # room for the band, shared with the other categories
            self.cell((40, top, CARD_WIDTH - 80, big), personnel[0], big=True)
            top += big + 20
        rows = (len(others) + 1) // 2
        foot = 90
        gap = 14 if not crossed else 10
        height = (CARD_HEIGHT - top - foot - gap * max(rows - 1, 0)) / max(rows, 1)
        width = (CARD_WIDTH - 80 - 20) / 2
        for i, f in enumerate(others):
            row, column = divmod(i, 2)
            self.cell((40 + column * (width + 20), top + row * (height + gap), width, height), f, big=False)

    def cell(self, where: tuple[float, float, float, float], figure: dict[str, Any], big: bool) -> None:
        """One category in its panel (``where``: x, y, width, height): its name, its total, the day's change."""
        from .format import format_delta

        x, y, w, h = where
        language = self.language
        self.box(x, y, w, h, PANEL)
        k = min(1.0, h / (190 if big else 105))  # a lower cell (the band took its room): smaller words
        name = capitalized(metric_name(figure["metric"], language))
        self.text(x + 28, y + k * (52 if big else 36), name, k * (34 if big else 25), color=MUTED, va="baseline")
        baseline = y + h - k * (34 if big else 16)
        if figure["value"] is None:  # held as suspect: no number until it is confirmed
            words = gettext(language, "not yet confirmed")
            self.text(x + 28, baseline, words, k * (44 if big else 26), color=MUTED, fontstyle="italic", va="baseline")
            return
        total = format_number(figure["value"], language)
        self.text(x + 28, baseline, total, k * (96 if big else 46), color=INK, fontweight="bold", va="baseline")
        if figure["delta"] is not None:
            change = format_delta(figure["delta"], language)
            color = ACCENT if figure["delta"] else MUTED  # a day without losses in the category: grey
            size = k * (56 if big else 36)
            self.text(x + w - 28, baseline, change, size, color=color, fontweight="bold", va="baseline", ha="right")

    def png(self) -> bytes:
        out = io.BytesIO()
        self.figure.savefig(out, format="png", dpi=self.dpi, facecolor="white")
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


def chart_for(store, metric: str, days: int | None = 90, language: str = "en") -> bytes:
    """The PNG for a metric from the store (call on the store's thread): its last ``days`` days
    (30, 90, 365…), or with ``days=None`` all it holds (``Charts.get`` passes ``days`` on the same way)."""
    points, events = store.chart_data(metric, days)
    return render(metric, points, marks_from(events, language), language)


log = logging.getLogger("tallywatch.charts")
KEPT = 16  # charts drawn for an event's fan-out, kept while its recipients are served
KEPT_FOR = 60.0  # seconds they stay once nobody asks for them (the fan-out is over)
IDLE = 60.0  # seconds the drawing process is kept after its last picture
DEADLINE = 5.0  # seconds one picture may take ([charts] deadline): then its worker is killed
STARTUP = 20.0  # seconds more for the picture that starts a worker (a fresh interpreter imports
# matplotlib and loads its fonts: 0.7 s on the 2-core dev machine, longer the first time ever)


def _with_the_daemon(daemon: int) -> None:
    """In the drawing process, first: it ends when the daemon does, even killed (a kill -9 outside
    systemd's cgroup would otherwise leave it waiting for work, holding the daemon's stdout)."""
    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG: SIGKILL when the daemon ends
    if os.getppid() != daemon:  # it ended before that was set
        os._exit(0)


# The drawing process's command: the daemon's sys.path first (a test's module can be drawn with),
# then ``_serve``. Its name is in the process's command line, for ps and the tests.
WORKER = "import pickle, sys; sys.path[:] = pickle.load(sys.stdin.buffer); import tallywatch.charts as c; c._serve({})"


def _serve(daemon: int) -> None:
    """The drawing process: (function, arguments) from standard input, pickled, one at a time;
    for each, ``(True, its bytes)`` or ``(False, the exception, its traceback)`` to the daemon,
    pickled, on what was standard output (anything printed goes to standard error); standard
    input closed — the daemon let it go — is its end."""
    import pickle
    import traceback

    _with_the_daemon(daemon)
    answers = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    while True:
        try:
            draw, args = pickle.load(sys.stdin.buffer)
        except EOFError:
            return
        try:
            answer: tuple = (True, draw(*args))
        except BaseException as exc:  # the daemon's to say; this process goes on drawing
            answer = (False, exc, traceback.format_exc())
        try:
            pickle.dump(answer, answers)
        except Exception as exc:  # (an exception that can't be pickled: its words instead)
            pickle.dump((False, RuntimeError(f"{type(exc).__name__}: {exc}"), answer[-1]), answers)
        answers.flush()


class _Gone(Exception):
    """The drawing process ended (killed, crashed) before it answered."""


class _Drawn(Exception):
    """The traceback of an exception raised in the drawing process (as the cause of its copy here)."""


class _Worker:
    """One drawing process: a fresh interpreter (``python -c WORKER``; not a fork of the daemon's
    threads) that draws what ``ask`` sends it over a pipe. Its owner calls ``ask`` from one thread
    at a time, and ``kill`` or ``close`` from any."""

    def __init__(self) -> None:
        import subprocess

        self.process = subprocess.Popen(
            [sys.executable, "-c", WORKER.format(os.getpid())], stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )
        self.told_path = False

    def ask(self, draw: Callable[..., bytes], args: tuple) -> bytes:
        """``draw(*args)`` in the process (blocking); ``_Gone`` if it ends first."""
        import pickle

        try:
            if not self.told_path:
                pickle.dump(sys.path, self.process.stdin)
                self.told_path = True
            pickle.dump((draw, args), self.process.stdin)
            self.process.stdin.flush()
            answer = pickle.load(self.process.stdout)
        except (EOFError, OSError, ValueError, pickle.UnpicklingError):  # (ValueError: the pipe closed here)
            self.reap()
            raise _Gone from None
        if answer[0]:
            return answer[1]
        raise answer[1] from _Drawn(answer[2])

    def kill(self) -> None:
        with contextlib.suppress(OSError):  # already gone
            self.process.kill()

    def close(self) -> None:
        """No more pictures: the process ends after the one it may be drawing."""
        with contextlib.suppress(OSError):
            self.process.stdin.close()

    def reap(self) -> None:
        """Waits for the process's end (blocking), so no zombie is left."""
        with contextlib.suppress(Exception):
            self.process.wait()
            self.process.stdout.close()


class Drawer:
    """Runs ``render`` and ``card`` in a worker process, started when a picture is asked for and
    stopped ``idle`` seconds after the last one.

    Drawing imports matplotlib, numpy and Pillow and loads fonts: ~45 MB that a daemon drawing
    its card once a day would otherwise carry all day (bench/footprint.py --report: 112 MB idle
    after a report with the drawing in the daemon, 66 MB with it here). The worker is a plain
    ``subprocess`` spoken to over a pipe, not multiprocessing's pool: that left its process
    starting and locking machinery in the daemon after each report, and a resource tracker process
    beside it for good. A report's pictures are drawn by one worker, one at a time; a worker that
    dies (killed for its memory, a crash) fails that picture only, and the next one starts a new
    worker. A picture not drawn within ``deadline`` seconds (``STARTUP`` more if it starts the
    worker) fails with ``TimeoutError``: the worker — hung, or stopped — is killed, and the next
    picture starts a new one."""

    def __init__(self, idle: float = IDLE, deadline: float = DEADLINE) -> None:
        self.idle = idle
        self.deadline = deadline
        self._worker: _Worker | None = None
        self._unclosed: weakref.finalize | None = None  # lets the worker go if the Drawer is dropped unclosed
        self._busy = 0
        self._timer: asyncio.TimerHandle | None = None
        self._turns: tuple[Any, asyncio.Lock] | None = None  # (its loop, the lock): one picture at a time

    @property
    def running(self) -> bool:
        """Whether a drawing process is up now."""
        return self._worker is not None

    def _turn(self) -> asyncio.Lock:
        """The lock that lets one picture at a time into the worker, so each has its deadline to
        itself (not shared with the pictures queued before it)."""
        loop = asyncio.get_running_loop()
        if self._turns is None or self._turns[0] is not loop:
            self._turns = (loop, asyncio.Lock())
        return self._turns[1]

    async def __call__(self, draw: Callable[..., bytes], *args: Any) -> bytes:
        loop = asyncio.get_running_loop()
        self._cancel_timer()
        self._busy += 1
        try:
            async with self._turn():
                for _ in range(2):  # a worker that died while idle is replaced once
                    fresh = self._worker is None
                    if fresh:
                        self._worker = _Worker()
                        self._unclosed = weakref.finalize(self, _Worker.close, self._worker)
                    worker = self._worker
                    limit = self.deadline + (STARTUP if fresh else 0.0)
                    try:
                        return await asyncio.wait_for(loop.run_in_executor(None, worker.ask, draw, args), limit)
                    except TimeoutError:
                        self._kill(worker)
                        raise TimeoutError(
                            f"the drawing took longer than {limit:g} s; its process was killed"
                        ) from None
                    except _Gone:
                        if self._worker is worker:
                            self._release()
                        if fresh:  # it died drawing this very picture
                            break
                raise RuntimeError("the drawing process ended without its picture (killed, or out of memory)")
        finally:
            self._busy -= 1
            if not self._busy and self._worker is not None:
                self._timer = loop.call_later(self.idle, self._stop)

    def _kill(self, worker: _Worker) -> None:
        """Kill ``worker`` (hung or stopped: it would never take another picture) and let it go
        (the thread that waits for its answer sees it end, and reaps it); the next picture starts
        a new one."""
        if self._worker is worker:
            self._release()
        worker.kill()

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _release(self) -> _Worker | None:
        """The worker, no longer this Drawer's (its finalizer let go with it), or None."""
        worker, self._worker = self._worker, None
        if self._unclosed is not None:
            self._unclosed.detach()
            self._unclosed = None
        return worker

    def _stop(self) -> None:
        self._timer = None
        worker = self._release()
        if worker is not None:
            worker.close()
            asyncio.get_running_loop().run_in_executor(None, worker.reap)

    async def aclose(self) -> None:
        """Stop the worker (after the picture it may be drawing); one that does not stop within
        ``deadline`` (hung, or stopped) is killed, so the daemon's stop never waits on it."""
        self._cancel_timer()
        worker = self._release()
        if worker is not None:
            worker.close()
            ending = asyncio.ensure_future(asyncio.to_thread(worker.reap))
            try:
                await asyncio.wait_for(asyncio.shield(ending), self.deadline)
            except TimeoutError:
                worker.kill()
                await ending


class MadeOnce:
    """Each key's value made once: the first caller makes it, those arriving meanwhile wait for it
    and get the same; the newest ``kept`` keys are kept. A making that raises is not kept (the next
    caller tries again). The charts' pictures (``Charts``) and the web page's card copies."""

    def __init__(self, kept: int) -> None:
        self.kept = kept
        self._made: OrderedDict[tuple, tuple[asyncio.Lock, list[Any]]] = OrderedDict()

    async def get(self, key: tuple, make: Callable[[], Awaitable[Any]]) -> Any:
        if key not in self._made:
            self._made[key] = (asyncio.Lock(), [])
            while len(self._made) > self.kept:
                self._made.popitem(last=False)
        self._made.move_to_end(key)
        lock, made = self._made[key]
        async with lock:
            if not made:
                try:
                    made.append(await make())
                except BaseException:
                    self._made.pop(key, None)
                    raise
        return made[0]

    def __len__(self) -> int:
        return len(self._made)

    def clear(self) -> None:
        self._made.clear()


class Charts:
    """Charts for the running daemon: the figures read on the store's thread (``run``), drawn in
    the drawing process (``draw``: the pipeline's ``Drawer``); with ``once`` (an event's key)
    drawn once and kept for every recipient of that event (the last ``kept``), and a drawing that
    fails logged once — the event then goes out without a chart. With ``kept_for``, the pictures
    are let go once none has been asked for in that many seconds: the pipeline's, whose fan-out is
    then over (a card is ~120 KB, bench/footprint.py --report); the web page's are kept."""

    def __init__(
        self,
        run: Callable[..., Awaitable[Any]],
        store: Any,
        draw: Drawer,
        kept: int = KEPT,
        kept_for: float | None = None,
    ) -> None:
        self.run, self.store, self.draw, self.kept_for = run, store, draw, kept_for
        self._drawn = MadeOnce(kept)
        self._asked = 0.0  # when a kept picture was last asked for (the loop's clock)
        self._forget: asyncio.TimerHandle | None = None

    async def get(self, metric: str, language: str = "en", days: int = 90, *, once: str | None = None) -> bytes | None:
        """A metric's chart as PNG (``None``: fewer than two points to draw)."""
        if once is None:
            points, events = await self.run(self.store.chart_data, metric, days)
            if len(points) < 2:
                return None
            return await self.draw(render, metric, points, marks_from(events, language), language)
        what = f"the chart of {metric} for {once}"
        return await self._once((once, metric, language, days), what, lambda: self.get(metric, language, days))

    async def card(
        self, key: str, data: dict[str, Any], day: dt.date, language: str = "en", service: str = ""
    ) -> bytes | None:
        """A daily report's card as PNG, drawn once per report version and language. Its foot: whose
        figures they are, and under it ``service`` (the service's name and address) when given."""
        from .channels.render import credit

        said = credit(data.get("publisher") or "genstaff", language) + (f"\n{service}" if service else "")
        draw = lambda: self.draw(card, data, day, language, said)  # noqa: E731
        return await self._once((key, "card", language), f"the card of {key}", draw)

    async def _once(self, key: tuple, what: str, draw: Callable[[], Awaitable[bytes | None]]) -> bytes | None:
        """The first caller draws (``draw``); the others wait for it and get the same bytes. A
        drawing that fails is logged once, and its event goes out without a picture."""
        if self.kept_for is not None:
            loop = asyncio.get_running_loop()
            self._asked = loop.time()
            if self._forget is None:
                self._forget = loop.call_later(self.kept_for, self._let_go)

        async def or_none() -> bytes | None:  # a failed drawing is kept as none: logged once, not tried again
            try:
                return await draw()
            except Exception:
                log.exception("%s could not be drawn; it goes without one", what)
                return None

        return await self._drawn.get(key, or_none)

    def _let_go(self) -> None:
        """The kept pictures let go, ``kept_for`` seconds after the last was asked for."""
        loop = asyncio.get_running_loop()
        left = self._asked + self.kept_for - loop.time()
        if left > 0:
            self._forget = loop.call_later(left, self._let_go)
            return
        self._forget = None
        self._drawn.clear()
