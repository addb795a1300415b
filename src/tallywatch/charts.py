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

    figure = Figure(
        figsize=(5.4, 5.6), dpi=180, layout="constrained"
    )  # 972 × 1008 px: phone-shaped, its words legible at a phone's width
    FigureCanvasAgg(figure)
    top, bottom = figure.subplots(2, 1, sharex=True, height_ratios=[3, 2])
    period = format_period(days[0], days[-1], language)
    figure.suptitle(f"{capitalized(name)}: {format_number(values[-1], language)}", fontsize=17, fontweight="bold")
    top.set_title(period, fontsize=12, color="#555555")

    top.plot(days, values, color="#1f5fa8", linewidth=2.4)
    top.fill_between(days, values, min(values), color="#1f5fa8", alpha=0.08)
    top.yaxis.set_major_formatter(thousands)
    top.set_ylabel(gettext(language, "total"), fontsize=12)
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
    bottom.set_ylabel(gettext(language, "per day"), fontsize=12)
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


def chart_for(store, metric: str, days: int = 90, language: str = "en") -> bytes:
    """The PNG for a metric from the store (call on the store's thread)."""
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
        self.run, self.store, self.draw, self.kept, self.kept_for = run, store, draw, kept, kept_for
        self._drawn: OrderedDict[tuple, tuple[asyncio.Lock, list[bytes | None]]] = OrderedDict()
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
        if key not in self._drawn:
            self._drawn[key] = (asyncio.Lock(), [])
            while len(self._drawn) > self.kept:
                self._drawn.popitem(last=False)
        self._drawn.move_to_end(key)
        lock, drawn = self._drawn[key]
        async with lock:
            if not drawn:
                try:
                    drawn.append(await draw())
                except Exception:
                    log.exception("%s could not be drawn; it goes without one", what)
                    drawn.append(None)
        return drawn[0]

    def _let_go(self) -> None:
        """The kept pictures let go, ``kept_for`` seconds after the last was asked for."""
        loop = asyncio.get_running_loop()
        left = self._asked + self.kept_for - loop.time()
        if left > 0:
            self._forget = loop.call_later(left, self._let_go)
            return
        self._forget = None
        self._drawn.clear()
