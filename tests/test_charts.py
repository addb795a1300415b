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
