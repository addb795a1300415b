"""Charts and cards are drawn in a worker process: matplotlib never stays in the daemon.

The figures are the bundled General Staff series (real data); the pictures themselves are looked
at in test_daily_report and test_web_page.
"""

import asyncio
import contextlib
import datetime as dt
import gc
import os
import signal
import subprocess
import sys
import textwrap
import weakref
from pathlib import Path
from typing import Any

import pytest

from tallywatch import charts, history

PNG = b"\x89PNG\r\n\x1a\n"


def real_points(metric: str = "personnel", days: int = 90) -> list[tuple[dt.date, int]]:
    series = history.daily()
    return [(d, f.value) for d in sorted(series)[-days:] for f in series[d] if f.metric == metric]


def drawing(pid: int | None = None) -> list[int]:
    """The drawing processes of ``pid`` (this one by default), by the name in their command line;
    one ended but not reaped (a zombie) still counts."""
    out = []
    for task in Path(f"/proc/{pid or os.getpid()}/task").iterdir():
        for child in (task / "children").read_text().split():
            with contextlib.suppress(OSError):
                if b"tallywatch.charts" in Path(f"/proc/{child}/cmdline").read_bytes():
                    out.append(int(child))
    return out


def alive(pid: int) -> bool:
    """Running, not a zombie."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


async def until(predicate, limit: float = 30.0) -> bool:
    """Wait for ``predicate`` on the loop (the drawer's timers run meanwhile)."""
    end = asyncio.get_running_loop().time() + limit
    while not predicate():
        if asyncio.get_running_loop().time() > end:
            return False
        await asyncio.sleep(0.05)
    return True


def test_the_daemon_draws_its_card_and_charts_without_importing_matplotlib(tmp_path):
    """A fresh interpreter stands for the daemon: after a card and a chart through the pipeline's
    Charts, matplotlib and numpy are not in it, and the drawing process ends once idle."""
    script = textwrap.dedent(
        f"""
        import asyncio, os, sys
        from pathlib import Path
        from tallywatch import history
        from tallywatch.config import Config
        from tallywatch.detect.report import day_of_war
        from tallywatch.pipeline import Pipeline

        async def main():
            settings = {{"storage": {{"path": {str(tmp_path / "c.db")!r}}}, "backfill": {{"enabled": False}}}}
            pipeline = Pipeline(Config.from_dict(settings))
            pipeline.drawer.idle = 0.2
            series = history.daily()
            last = max(series)
            before = {{f.metric: f.value for f in series[last - __import__("datetime").timedelta(days=1)]}}
            data = {{"figures": [{{"metric": f.metric, "value": f.value, "delta": f.value - before[f.metric]}}
                                for f in series[last]], "day_of_war": day_of_war(last)}}
            card = await pipeline.charts.card("report:x", data, last, "uk")
            await pipeline.prepare()  # stores the bundled history: the chart's figures
            chart = await pipeline.charts.get("personnel", "en")
            assert card[:8] == chart[:8] == b"\\x89PNG\\r\\n\\x1a\\n"
            print("matplotlib" in sys.modules, "numpy" in sys.modules)
            children = lambda: [c for t in Path(f"/proc/{{os.getpid()}}/task").iterdir() for c in (t / "children").read_text().split()]
            for _ in range(600):  # the worker ends 0.2 s after its last picture, and is reaped
                if not children():
                    break
                await asyncio.sleep(0.05)
            print(pipeline.drawer.running, len(children()), "multiprocessing" in sys.modules)
            await pipeline.aclose()

        asyncio.run(main())
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "False", "False", "0", "False"]


def test_a_worker_killed_while_idle_is_replaced_and_one_killed_while_drawing_fails_that_picture_only():
    async def go():
        drawer = charts.Drawer(idle=60)
        try:
            points = real_points()
            assert (await drawer(charts.render, "personnel", points, [], "en"))[:8] == PNG
            (worker,) = drawing()
            first = weakref.ref(drawer._worker)
            os.kill(worker, signal.SIGKILL)  # the OOM killer, say, while nothing is drawn
            assert await until(lambda: not alive(worker))
            assert (await drawer(charts.render, "personnel", points, [], "uk"))[:8] == PNG  # a new worker
            gc.collect()
            assert first() is None  # the dead worker is let go, not kept by a finalizer for the Drawer's life
            assert drawing() != [worker]  # and reaped
            with pytest.raises(RuntimeError, match="the drawing process ended without its picture"):
                await drawer(os._exit, 1)  # the worker dies while drawing
            assert (await drawer(charts.render, "personnel", points, [], "en"))[:8] == PNG
        finally:
            await drawer.aclose()
        assert not drawer.running and await until(lambda: not drawing())

    asyncio.run(go())


def test_a_drawing_that_fails_sends_the_event_without_its_picture(caplog):
    async def go():
        drawer = charts.Drawer()
        drawn = charts.Charts(None, None, drawer)
        try:
            return await drawn.card("report:empty", {"figures": []}, dt.date(2025, 6, 14), "en")
        finally:
            await drawer.aclose()

    assert asyncio.run(go()) is None
    assert "the card of report:empty could not be drawn" in caplog.text


def test_a_fan_outs_pictures_are_kept_while_asked_for_and_let_go_once_it_is_over():
    """An event's card is drawn once for all its recipients; once nobody has asked for it for
    ``kept_for`` seconds (its fan-out over) it is let go — ~120 KB a picture the idle daemon
    would otherwise hold until sixteen newer ones pushed it out — and a late retry draws it again."""
    drawn = []

    async def draw(_card, _data, day, language, _said):
        drawn.append((day, language))
        return PNG + language.encode()

    async def go():
        kept = charts.Charts(None, None, draw, kept_for=0.5)
        day = dt.date(2025, 6, 14)
        for _ in range(3):  # three recipients of the English card, two of the Ukrainian
            assert await kept.card("report:x", {}, day, "en") == PNG + b"en"
        for _ in range(2):
            assert await kept.card("report:x", {}, day, "uk") == PNG + b"uk"
        assert drawn == [(day, "en"), (day, "uk")]
        assert await until(lambda: not kept._drawn, limit=10)  # nobody asked for half a second
        assert await kept.card("report:x", {}, day, "en") == PNG + b"en"  # a retry an hour later
        assert drawn == [(day, "en"), (day, "uk"), (day, "en")]

    asyncio.run(go())


def test_a_stopped_worker_is_killed_at_the_deadline_and_the_next_picture_gets_a_new_one():
    """A worker that hangs (here: stopped with SIGSTOP, as an admin or a frozen cgroup would) fails
    its picture at ``deadline``, is killed and replaced; a stopped idle one doesn't hold up the close."""

    async def go():
        drawer = charts.Drawer(idle=60, deadline=1.0)
        points = real_points()
        try:
            assert (await drawer(charts.render, "personnel", points, [], "en"))[:8] == PNG
            (stopped,) = drawing()
            os.kill(stopped, signal.SIGSTOP)
            started = asyncio.get_running_loop().time()
            with pytest.raises(TimeoutError, match="the drawing took longer than 1 s; its process was killed"):
                await asyncio.wait_for(drawer(charts.render, "personnel", points, [], "uk"), 30)  # (not forever)
            took = asyncio.get_running_loop().time() - started
            assert await until(lambda: stopped not in drawing(), limit=10)  # killed, stopped as it was, and reaped
            assert (await drawer(charts.render, "personnel", points, [], "uk"))[:8] == PNG  # a new worker
            (fresh,) = drawing()
            assert fresh != stopped
            os.kill(fresh, signal.SIGSTOP)  # stopped while idle: the close kills it after the deadline
            closing = asyncio.get_running_loop().time()
            await drawer.aclose()
            closed = asyncio.get_running_loop().time() - closing
            assert await until(lambda: not drawing(), limit=10)
        finally:
            for child in drawing():  # never leave a stopped process behind
                with contextlib.suppress(ProcessLookupError):
                    os.kill(child, signal.SIGKILL)
            await drawer.aclose()
        return took, closed

    took, closed = asyncio.run(go())
    assert 1.0 <= took < 5.0 and closed < 5.0


def real_report(day: dt.date) -> dict:
    """A report event's data for ``day`` from the bundled series (figures only, no standouts)."""
    from tallywatch.detect.report import day_of_war

    series = history.daily()
    before = {f.metric: f.value for f in series[day - dt.timedelta(days=1)]}
    figures = [{"metric": f.metric, "value": f.value, "delta": f.value - before[f.metric]} for f in series[day]]
    return {"figures": figures, "day_of_war": day_of_war(day), "standouts": []}


def milestone(metric: str, level: int, value: int) -> dict:
    data = {"level": level, "delta": 1_140, "prior_as_of": "2025-06-11"}
    return {"rule": "milestone", "metric": metric, "value": value, "message": "", "data": data}


@pytest.mark.parametrize("language", ["en", "uk"])
def test_a_milestone_of_the_day_is_the_cards_band_and_its_words_fit_in_it(language):
    """12 June 2025, personnel 1,000,340: a red band across the card under the title, its words
    within the card (the band's last column is red from top to bottom: no word runs off the
    edge) — with one crossing, and with two (UAVs passed 40,000 the same day, say). A day without
    one has no band."""
    import io

    from PIL import Image

    red = (0xC0, 0x39, 0x2B)
    day = dt.date(2025, 6, 12)
    plain = real_report(day)
    one = {**plain, "standouts": [milestone("personnel", 1_000_000, 1_000_340)]}
    two = {**plain, "standouts": [*one["standouts"], milestone("uav", 40_000, 40_435)]}
    for data, band in ((plain, False), (one, True), (two, True)):
        png = charts.card(data, day, language, "Figures: the General Staff")
        image = Image.open(io.BytesIO(png)).convert("RGB")
        assert image.size == (charts.CARD_WIDTH, charts.CARD_HEIGHT)
        assert (image.getpixel((10, 250)) == red) is band
        if band:
            column = [image.getpixel((1075, y)) for y in range(205, 305)]
            assert all(p == red for p in column), language


# The pictures themselves: what a reader sees on the axes, read after a draw.

D = dt.date
RANGES = [30, 90, 365, None]  # the page's choices: 30 d, 90 d, 1 y, all (None)
GROUP = {"en": ",", "uk": "\u00a0"}  # the languages' thousands marks (format_number)


def series(metric: str, last: dt.date, days: int | None) -> list[tuple[dt.date, int]]:
    """The bundled figures of ``metric`` for the ``days`` days up to ``last`` (None: from the first)."""
    first = dt.date.min if days is None else last - dt.timedelta(days=days)
    data = history.daily()
    return [(d, f.value) for d in sorted(data) if first <= d <= last for f in data[d] if f.metric == metric]


def drawn(metric, points, marks=(), language="en"):
    """The chart's figure, drawn (its ticks, labels and legend placed as in the PNG)."""
    figure = charts.chart_figure(metric, points, list(marks), language)
    figure.canvas.draw()
    return figure


def axes(figure):
    top, bottom = figure.axes[:2]  # the running total above, the daily changes below
    return top, bottom


def y_labels(axis) -> list[tuple[float, str]]:
    """The y axis's shown tick labels: (where, what it says)."""
    low, high = sorted(axis.get_ylim())
    ticks = axis.yaxis.get_major_ticks()
    return [
        (t.get_loc(), t.label1.get_text())
        for t in ticks[: len(axis.yaxis.get_majorticklocs())]
        if t.label1.get_visible() and t.label1.get_text() and low <= t.get_loc() <= high
    ]


def x_labels(axis) -> list[tuple[dt.date, Any]]:
    """The x axis's shown tick labels: (the day the tick stands on, its Text)."""
    from matplotlib.dates import num2date

    low, high = sorted(axis.get_xlim())
    ticks = axis.xaxis.get_major_ticks()[: len(axis.xaxis.get_majorticklocs())]
    return [
        (num2date(t.get_loc()).date(), t.label1)
        for t in ticks
        if t.label1.get_visible() and t.label1.get_text() and low <= t.get_loc() <= high
    ]


@pytest.mark.parametrize("language", ["en", "uk"])
@pytest.mark.parametrize(
    ("metric", "last"),
    [
        ("submarines", D(2026, 8, 8)),  # 2 for months: a flat line, no change a day
        ("warships", D(2026, 8, 8)),  # 33 to 35: a change of 1 now and then
        ("srbm_launchers", D(2022, 4, 30)),  # 2 to 4 in its few weeks of figures
        ("tanks", D(2026, 8, 8)),
        ("personnel", D(2026, 8, 8)),
    ],
)
@pytest.mark.parametrize("days", [30, 90])
def test_the_counts_on_both_axes_are_whole_numbers_each_said_once(metric, last, days, language):
    """A small count never reads ``1 1 1 0 0`` or ``0.5``: each label a whole number, the number
    its tick stands on, no two alike, on the total and on the daily changes; at least two on each."""
    figure = drawn(metric, series(metric, last, days), language=language)
    for axis in axes(figure):
        shown = y_labels(axis)
        assert len(shown) >= 2, (metric, shown)
        words = [text for _, text in shown]
        assert len(set(words)) == len(words), (metric, words)
        for where, text in shown:
            number = int(text.replace(GROUP[language], "").replace("−", "-"))  # not a fraction
            assert number == where, (metric, where, text)


def month_names(language: str) -> list[str]:
    from babel.dates import get_month_names

    return list(get_month_names("abbreviated", "format", locale=language).values())


def test_ukrainian_month_names_are_ukrainian():
    assert month_names("uk")[5] == "черв." and month_names("en")[5] == "Jun"


def period(label: str, day: dt.date, language: str) -> tuple[dt.date, dt.date]:
    """The days a date label names, checked against the day its tick stands on: ``14 Jun`` /
    ``14 черв.`` that day, ``Jun`` / ``черв.`` its month, ``2025`` its year."""
    months = month_names(language)
    words = label.split(" ")
    if len(words) == 2:
        assert words == [str(day.day), months[day.month - 1]], (label, day)
        return day, day
    if label.isdigit():
        assert label == str(day.year), (label, day)
        return D(day.year, 1, 1), D(day.year, 12, 31)
    assert label == months[day.month - 1], (label, day, language)
    following = (day.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    return day.replace(day=1), following - dt.timedelta(days=1)


@pytest.mark.parametrize("language", ["en", "uk"])
@pytest.mark.parametrize("days", [7, *RANGES])  # 7: the bot's /chart tanks 7
@pytest.mark.parametrize("last", [D(2025, 6, 14), D(2026, 8, 8), D(2025, 5, 31), D(2025, 7, 1)])
def test_the_date_axis_names_days_months_and_years_in_the_language_under_their_own_figures(days, last, language):
    """One date axis (under the daily changes), no 'offset' text beside it (the stray ``2025-Jun``
    under May's figures): each label a day (``14 Jun``), a month (``Jun``) or a year (``2025``) in
    the reader's language, on a tick within the figures' days, no two alike; a month's or a year's
    label begins under that month's or year's figures (the range's first part of one: lies there
    whole)."""
    from matplotlib.dates import num2date

    points = series("personnel", last, days)
    first = points[0][0]
    figure = drawn("personnel", points, language=language)
    top, bottom = axes(figure)
    assert not x_labels(top)  # the curve above shares the axis below
    assert bottom.xaxis.get_offset_text().get_text() == ""
    shown = x_labels(bottom)
    assert len(shown) >= 3, shown
    words = [text.get_text() for _, text in shown]
    assert len(set(words)) == len(words), words
    renderer = figure.canvas.get_renderer()
    for day, text in shown:
        assert first <= day <= last, (text.get_text(), day, first, last)
        start, end = period(text.get_text(), day, language)
        box = text.get_window_extent(renderer)
        left, right = (
            num2date(x).date() for x in bottom.transData.inverted().transform([(box.x0, 0), (box.x1, 0)])[:, 0]
        )
        if start != end:  # a month's or a year's name: begins under its own days, under figures
            assert start <= left <= end, (text.get_text(), left, right)
            assert first - dt.timedelta(days=1) <= left and right <= last + dt.timedelta(days=1), text.get_text()
            if day != start:  # the part of a month or a year the range begins in: named under it only
                assert right <= end, (text.get_text(), left, right)


MILLION = D(2025, 6, 12)  # personnel passed 1,000,000 (1,000,340)


@pytest.mark.parametrize("language", ["en", "uk"])
@pytest.mark.parametrize(
    ("last", "days"),
    [
        (last, days)
        for last in (MILLION, D(2025, 6, 14), D(2025, 7, 12), D(2026, 8, 8))
        for days in RANGES
        if days is None or last - dt.timedelta(days=days) < MILLION  # the milestone within the range
    ],
)
def test_a_milestones_label_is_clear_of_the_curve(last, days, language):
    """The level's label (``1,000,000``) sits in the empty part of the chart, inside it, the curve
    nowhere under it — the milestone on the last day, two days before it, a month before, a year."""
    from tallywatch.format import format_number

    points = series("personnel", last, days)
    label = format_number(1_000_000, language)
    figure = drawn("personnel", points, [charts.Mark(MILLION, "milestone", label)], language)
    top, _ = axes(figure)
    renderer = figure.canvas.get_renderer()
    (text,) = [t for t in top.texts if t.get_text() == label]
    box = text.get_window_extent(renderer)
    (line,) = [line for line in top.lines if len(line.get_xdata()) == len(points)]
    curve = line.get_transform().transform_path(line.get_path())
    assert not curve.intersects_bbox(box, filled=False), (box, last, days)
    frame = top.get_window_extent(renderer)
    assert frame.x0 <= box.x0 and box.x1 <= frame.x1 and frame.y0 <= box.y0 and box.y1 <= frame.y1


LEGEND = {
    "en": {"daily change", "an unusual day or a record", "a count corrected down"},
    "uk": {"зміна за добу", "незвичний день або рекорд", "підрахунок виправлено в бік зменшення"},
}


def legend_entries(figure) -> dict[str, tuple]:
    """What the legend says, and the colour of each entry's swatch."""
    from matplotlib.colors import to_hex

    legends = [*figure.legends, *(a.get_legend() for a in figure.axes if a.get_legend())]
    return {
        text.get_text(): to_hex(handle.get_facecolor())
        for legend in legends
        for text, handle in zip(legend.get_texts(), legend.legend_handles, strict=True)
    }


@pytest.mark.parametrize("language", ["en", "uk"])
def test_the_legend_says_what_each_colour_of_bar_means(language):
    """Every colour of bar the chart shows is in the legend, in words in the reader's language: a
    day's change, an unusual day or a record (the red bars), a count corrected down."""
    from matplotlib.colors import to_hex

    points = series("tanks", D(2025, 6, 14), 30)
    points[-5] = (points[-5][0], points[-6][1] - 3)  # a count corrected down
    spike = charts.Mark(points[-10][0], "spike", "")
    figure = drawn("tanks", points, [spike], language)
    _, bottom = axes(figure)
    entries = legend_entries(figure)
    assert set(entries) == LEGEND[language]
    (bars,) = bottom.collections
    colours = {to_hex(colour) for colour in bars.get_facecolor()}
    assert len(bars.get_paths()) == len(points) - 1  # a bar a day
    assert colours == set(entries.values())
    plain = legend_entries(drawn("tanks", series("tanks", D(2025, 6, 14), 30), [], language))
    assert set(plain) == {next(w for w in LEGEND[language] if w in ("daily change", "зміна за добу"))}


@pytest.fixture(scope="module")
def june(tmp_path_factory):
    """A database the real ingest filled with June 2025 (the bundled history before it)."""
    from webapp import june_database

    return june_database(tmp_path_factory.mktemp("june")).storage.resolved()


@pytest.mark.parametrize("days", RANGES)
def test_each_range_the_page_offers_draws_from_the_store(june, days):
    """30 days, 90, a year and all (``days=None``): the figures from the store and the milestone
    it recorded (personnel passed 1,000,000 on 12 June 2025)."""
    from tallywatch.store import Store

    store = Store(june)
    try:
        points, events = store.chart_data("personnel", days)
        png = charts.chart_for(store, "personnel", days, "uk")
    finally:
        store.close()
    assert png[:8] == PNG
    assert points[-1][0] == D(2025, 6, 13)
    assert points[0][0] == (D(2022, 2, 25) if days is None else D(2025, 6, 13) - dt.timedelta(days=days))
    figure = drawn("personnel", points, charts.marks_from(events, "uk"), "uk")
    assert "1\u00a0000\u00a0000" in [t.get_text() for t in axes(figure)[0].texts]
