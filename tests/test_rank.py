"""Personnel's rank in the daily report ("the Nth highest of the last 365 days"), kept up to date as
the series grows instead of walking the year again each day (issue 28): the same answers as
counting the year directly, over random histories with gaps, falls and ties."""

import datetime as dt
import sys

from hypothesis import given, settings
from hypothesis import strategies as st

from tallywatch.config import Config
from tallywatch.detect import report
from tallywatch.detect.window import Point, Window

FIRST = dt.date(2022, 2, 25)
CONFIG = Config()


def counted(series: dict[dt.date, int], day: dt.date) -> dict[str, int] | None:
    """The rank counted directly from the docstring's words: every day of the 365 before ``day`` (and
    ``day``) whose day before is known gives a rise; said once 300 days of history are known."""
    if min(report.RANK_DAYS, (day - min(series)).days) < report.RANK_COVERED:
        return None
    start = day - dt.timedelta(days=report.RANK_DAYS)
    rises = {
        d: v - series[d - dt.timedelta(days=1)]
        for d, v in series.items()
        if start < d <= day and d - dt.timedelta(days=1) in series
    }
    if day not in rises:
        return None
    return {"rank": 1 + sum(1 for r in rises.values() if r > rises[day]), "of": len(rises)}


# a day's step: mostly the next day, sometimes a gap; a rise that is often the same as another's, sometimes a fall
steps = st.tuples(
    st.sampled_from([1] * 12 + [2, 3, 9]),
    st.one_of(st.integers(0, 12), st.integers(-40, 900)),
)


@settings(max_examples=60, deadline=None)
@given(
    history=st.lists(steps, min_size=290, max_size=520),
    asked=st.sets(st.integers(0, 519), max_size=40),
    earlier=st.lists(st.integers(1, 400), min_size=1, max_size=5),
)
def test_the_rank_kept_up_to_date_is_the_rank_counted_directly(history, asked, earlier):
    window, series = Window("personnel", CONFIG), {}
    day, value = FIRST, 10_000
    for i, (gap, rise) in enumerate(history):
        day, value = day + dt.timedelta(days=gap), value + rise
        window.push(Point(day, value, "mod"))
        series[day] = value
        if i in asked:  # the newest day (each day of a replay), and days behind it (a held day's report)
            assert report.rank(window, day) == counted(series, day), (i, day)
            for back in earlier:
                before = day - dt.timedelta(days=back)
                if before >= FIRST:
                    assert report.rank(window, before) == counted(series, before), (i, before)
    assert report.rank(window, day) == counted(series, day)
    rebuilt = Window("personnel", CONFIG)  # as the detector builds it again from the store
    for d, v in series.items():
        rebuilt.push(Point(d, v, "mod"))
    assert report.rank(rebuilt, day) == counted(series, day)


def lines_run(ask) -> int:
    """How many lines of Python ``ask()`` runs, everything it calls included (a count of the work, not a time)."""
    lines = 0

    def tracer(frame, event, arg):
        nonlocal lines
        if event == "line":
            lines += 1
        return tracer

    previous = sys.gettrace()
    sys.settrace(tracer)
    try:
        ask()
    finally:
        sys.settrace(previous)
    return lines


def test_the_rank_of_each_newest_day_does_not_walk_the_year_again():
    """A replay asks the rank once a day: after the year is read once, a new day costs its own rise,
    not a walk over the 365 days before it (a quarter of the full replay's time, issue 28)."""
    window = Window("personnel", CONFIG)
    series = {}
    for i in range(430):
        day = FIRST + dt.timedelta(days=i)
        series[day] = 10_000 + 100 * i + (i * 37) % 91
        window.push(Point(day, series[day], "mod"))
        if i == 400:
            report.rank(window, day)  # the year read once
    ranked = []
    lines = lines_run(lambda: ranked.append(report.rank(window, day)))
    assert ranked == [counted(series, day)] and ranked[0]["of"] == report.RANK_DAYS
    assert lines < 60, lines  # a walk over the year runs a few lines for each of its 365 days
