"""When a source is polled: its publication window learned from the days before, tested with a
clock (``sources.schedule.next_poll`` is a pure function of the times seen and now)."""

import datetime as dt
import itertools
import random

from hypothesis import event, given, settings
from hypothesis import strategies as st

from tallywatch.sources import schedule
from tallywatch.sources.schedule import KYIV, learn, next_poll

NORMAL, FAST = 1800.0, 60.0
DAY = dt.date(2025, 6, 20)


def kyiv(day: dt.date, hour: int, minute: int, second: int = 0) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute, second), tzinfo=KYIV)


def history(
    days: int, hour: int = 9, minutes: tuple[int, ...] = (0, 5, 12, 3, 9, 1, 15, 7, 2, 10)
) -> list[dt.datetime]:
    """The report times of the ``days`` days before DAY, about ``hour`` o'clock Kyiv time, in UTC."""
    return [
        kyiv(DAY - dt.timedelta(days=n), hour, minutes[n % len(minutes)]).astimezone(dt.UTC) for n in range(1, days + 1)
    ]


def wait(seen, now) -> float:
    return (next_poll(seen, now, NORMAL, FAST) - now).total_seconds()


def test_no_history_means_the_normal_interval():
    assert wait([], kyiv(DAY, 9, 0)) == NORMAL
    assert wait(history(2), kyiv(DAY, 9, 0)) == NORMAL  # two days are not enough to trust
    assert learn(history(2), kyiv(DAY, 9, 0)) is None


def test_the_window_is_learned_from_the_days_before():
    window = learn(history(10), kyiv(DAY, 6, 0))
    # the 10th to 90th percentile of 09:00–09:15 and the last three days, 10 minutes before, 20 after
    assert (window.start, window.end, window.days) == (8 * 60 + 51, 9 * 60 + 32, 10)
    assert str(window) == "08:51–09:32 Kyiv time (learned from 10 days)"


def test_inside_the_window_fast_outside_the_normal_interval():
    seen = history(10)
    assert wait(seen, kyiv(DAY, 3, 0)) == NORMAL  # night
    assert next_poll(seen, kyiv(DAY, 5, 40), NORMAL, FAST) == kyiv(DAY, 5, 51)  # never past the early hours' start
    assert wait(seen, kyiv(DAY, 8, 0)) == 8 * FAST  # the hours before: an early report is watched for
    assert wait(seen, kyiv(DAY, 8, 40)) == 3 * FAST  # the more often the nearer the window
    assert wait(seen, kyiv(DAY, 8, 51)) == FAST
    assert wait(seen, kyiv(DAY, 9, 20)) == FAST
    assert wait(seen, kyiv(DAY, 10, 0)) == 3 * FAST  # past the window and not in yet: a late report
    assert wait(seen, kyiv(DAY, 17, 0)) == NORMAL  # given up on for today


def test_once_the_days_report_is_in_it_relaxes_until_the_next_window():
    seen = [*history(10), kyiv(DAY, 9, 4).astimezone(dt.UTC)]
    assert wait(seen, kyiv(DAY, 9, 5)) == NORMAL
    assert wait(seen, kyiv(DAY, 23, 50)) == NORMAL
    tomorrow = DAY + dt.timedelta(days=1)  # a new day: its window again (learned with today's report)
    assert next_poll(seen, kyiv(tomorrow, 5, 40), NORMAL, FAST) == kyiv(tomorrow, 5, 51)
    assert wait(seen, kyiv(tomorrow, 9, 0)) == FAST
    # yesterday's report arriving after midnight is not today's
    late = [*history(10), kyiv(DAY, 0, 30).astimezone(dt.UTC)]
    assert wait(late, kyiv(DAY, 9, 0)) == FAST


def test_a_window_soon_after_midnight_is_watched_for_from_the_hours_before_it_never_in_the_past():
    """Reports at about 00:30: from 21:20 the next day's window is near — the next poll is a few
    minutes on, not a time already past (which would poll without pause until midnight)."""
    seen = [kyiv(DAY - dt.timedelta(days=n), 0, 30).astimezone(dt.UTC) for n in range(1, 11)]
    assert str(learn(seen, kyiv(DAY, 23, 30))) == "00:20–00:50 Kyiv time (learned from 10 days)"
    assert wait(seen, kyiv(DAY, 23, 30)) == 8 * FAST  # the day's report not seen: given up on, tomorrow's near
    assert wait([*seen, kyiv(DAY, 0, 31)], kyiv(DAY, 23, 30)) == 8 * FAST  # the day's report in
    assert wait(seen, kyiv(DAY, 0, 5)) == 3 * FAST  # a quarter of an hour before it
    assert next_poll(seen, kyiv(DAY, 21, 19), NORMAL, FAST) == kyiv(DAY, 21, 20)


def test_now_in_kyiv_time_across_the_end_of_daylight_saving_is_the_same_moment_as_in_utc():
    """26 October 2025, 03:59 EEST: 30 minutes later is 03:29 EET, not the wall clock's 04:29."""
    now = dt.datetime(2025, 10, 26, 0, 59, tzinfo=dt.UTC)
    assert now.astimezone(KYIV).isoformat() == "2025-10-26T03:59:00+03:00"
    assert next_poll([], now.astimezone(KYIV), NORMAL, FAST) - now == dt.timedelta(seconds=NORMAL)


def simulate(publications: list[dt.datetime], seen: list[dt.datetime]) -> list[float]:
    """Poll as the daemon would from the first publication's day on: each day's delay in seconds."""
    now = kyiv(publications[0].astimezone(KYIV).date(), 0, 0)
    end = publications[-1] + dt.timedelta(hours=1)
    waiting, delays = sorted(publications), []
    while now < end:
        while waiting and waiting[0] <= now:
            published = waiting.pop(0)
            delays.append((now - published).total_seconds())
            seen.append(published)
        now = next_poll(seen, now, NORMAL, FAST)
    return delays


def test_a_publisher_whose_hour_moves_is_followed_within_days():
    """From about 09:00 to about 11:30: the first days are caught late, from the third day on within a minute."""
    moved = [kyiv(DAY + dt.timedelta(days=n), 11, 30 + n % 7, 20) for n in range(10)]
    delays = simulate(moved, history(14))
    assert delays[0] <= 3 * FAST  # a late report is watched for every 3 minutes
    assert all(d <= FAST for d in delays[2:]), delays


def test_daylight_saving_changes_nothing_for_a_publisher_on_kyiv_time():
    """26 October 2025: 09:00 in Kyiv is 06:00 UTC before and 07:00 UTC after; the window is in Kyiv time."""
    before = [kyiv(dt.date(2025, 10, 26) - dt.timedelta(days=n), 9, 0, 30).astimezone(dt.UTC) for n in range(1, 15)]
    after = [kyiv(dt.date(2025, 10, 26) + dt.timedelta(days=n), 9, 0, 30) for n in range(0, 7)]
    assert {t.astimezone(dt.UTC).hour for t in after[1:]} == {7} and before[0].hour == 6
    delays = simulate(after, before)
    assert all(d <= FAST for d in delays), delays


def test_daylight_saving_for_a_publisher_on_utc_is_followed_too():
    """A source that keeps to 06:00 UTC moves an hour earlier in Kyiv time: caught late at most on the first days."""
    before = [kyiv(dt.date(2025, 10, 26) - dt.timedelta(days=n), 9, 0, 30).astimezone(dt.UTC) for n in range(1, 15)]
    after = [
        dt.datetime.combine(dt.date(2025, 10, 26) + dt.timedelta(days=n), dt.time(6, 0, 30), tzinfo=dt.UTC)
        for n in range(0, 7)
    ]
    delays = simulate(after, before)
    assert max(delays) <= 30 * 60 and all(d <= FAST for d in delays[3:]), delays


def recent_feed(days: int, now: dt.datetime) -> tuple[bytes, list[dt.datetime]]:
    """A real-shaped General Staff feed (the bundled series' June days) whose items say they were
    published on the ``days`` days before today, at about 09:00 Kyiv time."""
    import email.utils
    import re

    from tallywatch import history
    from tallywatch.demo import rss

    report_days = [dt.date(2025, 6, 14) - dt.timedelta(days=n) for n in range(days - 1, -1, -1)]
    body = rss(report_days, history.daily()).decode()
    today = now.astimezone(KYIV).date()
    times = [kyiv(today - dt.timedelta(days=n), 9, n % 7, 30).astimezone(dt.UTC) for n in range(1, days + 1)]
    dates = iter(times)  # the feed lists the newest first
    body = re.sub(
        r"<pubDate>[^<]*</pubDate>", lambda _m: f"<pubDate>{email.utils.format_datetime(next(dates))}</pubDate>", body
    )
    return body.encode(), times


def test_a_poll_learns_the_window_from_the_feeds_own_times_and_sources_shows_it(tmp_path, feed_server):
    from processes import offline, run_tallywatch

    now = dt.datetime.now(dt.UTC)
    body, times = recent_feed(7, now)
    feed_server.routes["/mod.rss"] = (200, {}, body)
    cfg = tmp_path / "tw.toml"
    cfg.write_text(offline(tmp_path / "tw.db", f"{feed_server.url}/mod.rss", interval="30m"))
    polled = run_tallywatch("poll", "--config", str(cfg))
    assert polled.returncode == 0, polled.stderr

    from tallywatch.store import Store

    store = Store(tmp_path / "tw.db")
    try:
        learned = store.report_times(now - dt.timedelta(days=15))["mod"]
    finally:
        store.close()
    assert sorted(learned) == sorted(times)  # the items' own times, not when this poll first saw them
    window = learn(learned, now)
    shown = run_tallywatch("sources", "--config", str(cfg))
    assert shown.returncode == 0, shown.stderr
    assert f"reports appear {window}" in shown.stdout
    assert "Kyiv time (every 1m in the window, 30m outside)" in shown.stdout
    status = run_tallywatch("status", "--config", str(cfg))  # the same plan, in the one-line summary
    assert status.returncode == 0 and "Kyiv time (every 1m in the window, 30m outside)" in status.stdout


def test_a_time_the_source_gets_wrong_is_replaced_by_when_it_was_seen(tmp_path):
    from tallywatch.store import Store

    store = Store(tmp_path / "t.db")
    now = dt.datetime.now(dt.UTC)
    try:
        store.mark_item("a", "ok", "d", 14, "complete", now - dt.timedelta(days=2))
        store.mark_item("a", "future", "d", 14, "complete", now + dt.timedelta(hours=3))  # local time read as UTC
        store.mark_item("a", "naive", "d", 14, "partial", (now - dt.timedelta(days=1)).replace(tzinfo=None))
        store.mark_item("a", "none", "d", 14, "complete")
        store.mark_item("a", "not a report", "d", 0, published=now - dt.timedelta(days=1))
        times = store.report_times(now - dt.timedelta(days=15))["a"]
    finally:
        store.close()
    assert len(times) == 4
    assert sum(abs((t - now).total_seconds()) < 60 for t in times) == 2  # the future one and the one without
    assert any(abs((t - (now - dt.timedelta(days=1))).total_seconds()) < 1 for t in times)  # naive: UTC


def test_only_report_items_teach_the_window_and_mark_the_day_done(tmp_path):
    """A pattern metric's figure in a news item at 07:00, or a post with a few figures that is no
    report, is not the day's report: the 09:31 report is still watched for (issue 24), not
    waited for at the normal interval."""
    from tallywatch.store import Store

    day = dt.datetime.now(KYIV).date() - dt.timedelta(days=1)  # yesterday: every time below is in the past
    store = Store(tmp_path / "t.db")
    try:
        for n in range(1, 11):  # the reports of the ten days before, about 09:10
            published = kyiv(day - dt.timedelta(days=n), 9, n)
            store.mark_item("gs", f"report {n}", "d", 14, "complete" if n % 3 else "partial", published)
            # and each day a news item with a pattern metric at 03:00, never a report
            store.mark_item("gs", f"news {n}", "d", 1, "", kyiv(day - dt.timedelta(days=n), 3, 0))
        store.mark_item("gs", "news", "d", 1, "", kyiv(day, 7, 0))  # "220 combat clashes"
        store.mark_item("gs", "post", "d", 3, "", kyiv(day, 7, 5))  # a few figures, no report
        store.mark_item("gs", "unread", "d", 0, "unread", kyiv(day, 7, 10))  # a report nothing was read of
        seen = store.report_times(kyiv(day, 0, 0) - dt.timedelta(days=15))["gs"]
        assert sorted(seen) == [kyiv(day - dt.timedelta(days=n), 9, n) for n in range(10, 0, -1)]
        assert wait(seen, kyiv(day, 9, 0)) == FAST  # in the window, the day's report not in yet
        assert wait(seen, kyiv(day, 9, 30)) == 3 * FAST  # past it: a late report is watched for
        store.mark_item("gs", "report 0", "d", 14, "complete", kyiv(day, 9, 31))
        seen = store.report_times(kyiv(day, 0, 0) - dt.timedelta(days=15))["gs"]
        assert wait(seen, kyiv(day, 9, 32)) == NORMAL  # now it is in
    finally:
        store.close()


def test_a_stored_midnight_is_a_day_without_its_time_and_teaches_nothing(tmp_path):
    """Items stored before dated pages carried a day (kmu: 00:00 UTC), or a feed that dates by the
    day (00:00 Kyiv time): when they were first seen stands in for them, as for no time at all."""
    from tallywatch.store import Store

    store = Store(tmp_path / "t.db")
    now = dt.datetime.now(dt.UTC)
    day = now.astimezone(KYIV).date() - dt.timedelta(days=2)
    try:
        store.mark_item("kmu", "utc", "d", 14, "complete", dt.datetime.combine(day, dt.time(), dt.UTC))
        store.mark_item("kmu", "kyiv", "d", 14, "complete", kyiv(day, 0, 0))
        store.mark_item("kmu", "timed", "d", 14, "complete", kyiv(day, 0, 0, 1))  # a second past: a time
        times = store.report_times(now - dt.timedelta(days=15))["kmu"]
    finally:
        store.close()
    assert sorted(times)[0] == kyiv(day, 0, 0, 1)
    assert all(now <= t <= dt.datetime.now(dt.UTC) for t in sorted(times)[1:]), times


def moment(day: dt.date, minute: int, second: int = 0, zone: dt.tzinfo = dt.UTC) -> dt.datetime:
    """``minute`` minutes of real time after Kyiv's midnight of ``day`` (a day of 23 or 25 hours
    at a daylight-saving change, so every moment is one that exists), in UTC as the store gives
    them, or in ``zone``."""
    return (kyiv(day, 0, 0).astimezone(dt.UTC) + dt.timedelta(minutes=minute, seconds=second)).astimezone(zone)


CHANGES = (dt.date(2025, 3, 30), dt.date(2025, 10, 26))  # Kyiv's clocks go forward, then back
DAYS = st.one_of(
    st.tuples(st.sampled_from(CHANGES), st.integers(-3, 16)).map(lambda c: c[0] + dt.timedelta(days=c[1])),
    st.dates(dt.date(2024, 12, 1), dt.date(2025, 12, 31)),
)
# around midnight (Kyiv's and UTC's: 02:00 or 03:00), around the changes' hours, or any
MINUTES = st.one_of(st.sampled_from([0, 1, 59, 60, 120, 179, 180, 181, 239, 240, 1380, 1439]), st.integers(0, 1439))
ZONES = st.sampled_from([dt.UTC, KYIV])  # now as the daemon gives it, or as people read it
NOW = st.one_of(
    st.builds(moment, DAYS, MINUTES, st.integers(0, 59), ZONES),
    st.builds(moment, st.sampled_from(CHANGES), st.integers(120, 300), st.integers(0, 59), ZONES),  # the changes' hours
)
BACK = st.integers(0, schedule.LOOKBACK)  # days before now's day


def polled(seen: list[dt.datetime], now: dt.datetime) -> dt.datetime:
    """The next poll as a moment in UTC (Kyiv times of the repeated hour compare by wall clock)."""
    return next_poll(seen, now, NORMAL, FAST).astimezone(dt.UTC)


def test_neither_other_items_nor_a_bare_day_move_the_schedule_at_any_moment(tmp_path):
    """Over random moments — midnights, daylight-saving changes — a source's schedule is the one its
    report items' own times give: news items with a figure, a report nothing was read of, and
    days stored as 00:00 (UTC's or Kyiv's) change no poll (issue 24)."""
    from tallywatch.store import Store

    store = Store(tmp_path / "t.db")
    names = (f"s{n}" for n in itertools.count())

    @settings(max_examples=150, deadline=None)
    @given(
        now=NOW,
        reports=st.lists(st.tuples(BACK, MINUTES, st.integers(1, 59), st.sampled_from(["complete", "partial"]))),
        others=st.lists(st.tuples(BACK, MINUTES, st.sampled_from([("", 1), ("", 12), ("unread", 0)]))),
        bare=st.lists(st.tuples(BACK, st.sampled_from([KYIV, dt.UTC])), max_size=6),
    )
    def check(now, reports, others, bare):
        source, today, began = next(names), now.astimezone(KYIV).date(), dt.datetime.now(dt.UTC)
        own = [moment(today - dt.timedelta(days=back), minute, second) for back, minute, second, _ in reports]
        with store.transaction():
            for n, (when, (*_, coverage)) in enumerate(zip(own, reports, strict=True)):
                store.mark_item(source, f"report {n}", "d", 14, coverage, when)
            for n, (back, minute, (coverage, figures)) in enumerate(others):
                when = moment(today - dt.timedelta(days=back), minute)
                store.mark_item(source, f"other {n}", "d", figures, coverage, when)
            for n, (back, zone) in enumerate(bare):
                day = dt.datetime.combine(today - dt.timedelta(days=back), dt.time(), zone)
                store.mark_item(source, f"day {n}", "d", 14, "complete", day)
        since = now - dt.timedelta(days=schedule.LOOKBACK + 1)
        times = store.report_times(since, source).get(source, [])
        given_times = sorted(t for t in times if t < began)
        kept = sorted(t for t in own if t >= since)  # (a DST change can make 15 days end in the 14th)
        assert given_times == kept  # each report's own time (in UTC, as moments), nothing else
        assert len(times) - len(given_times) == len(bare) + len(own) - len(kept)  # when seen: after now
        assert polled(times, now) == polled(kept, now)

    try:
        check()
    finally:
        store.close()


@settings(max_examples=400, deadline=None)
@given(
    now=NOW,
    before=st.lists(st.tuples(st.integers(1, schedule.LOOKBACK + 2), MINUTES, st.integers(0, 59)), max_size=20),
    today=st.lists(st.tuples(MINUTES, st.integers(0, 59)), max_size=2),
)
def test_next_poll_over_random_moments_midnights_and_daylight_saving_changes(now, before, today):
    """Whatever the history and the moment: the next poll is at least the fast interval after now
    and at most the normal interval away, the window at most ``MAX_WIDTH`` wide (issue 25); inside today's window it is a minute away until a report of today is in, and
    once one is in (not yesterday's, late) it relaxes until the hour before tomorrow's window."""
    day = now.astimezone(KYIV).date()
    seen = [moment(day - dt.timedelta(days=back), minute, second) for back, minute, second in before]
    seen += [moment(day, minute, second) for minute, second in today]
    then, now = polled(seen, now), now.astimezone(dt.UTC)
    assert now + dt.timedelta(seconds=FAST) <= then <= now + dt.timedelta(seconds=NORMAL)  # never closer than FAST
    window = learn(seen, now)
    if window is None:
        return
    assert window.end - window.start <= schedule.MAX_WIDTH
    opens = dt.datetime.combine(day, dt.time(window.start // 60, window.start % 60), tzinfo=KYIV)
    closes = dt.datetime.combine(day, dt.time(window.end // 60, window.end % 60), tzinfo=KYIV)
    tomorrow = day + dt.timedelta(days=1)
    early = dt.datetime.combine(tomorrow, dt.time(window.start // 60, window.start % 60), tzinfo=KYIV)
    early -= dt.timedelta(minutes=schedule.EARLY_FOR)
    of_today = sorted(t.astimezone(KYIV) for t in seen if t.astimezone(KYIV).date() == day and t <= now)
    if not of_today and opens <= now <= closes:
        event("in the window, the day's report not in")
        assert then == now + dt.timedelta(seconds=FAST)
    if of_today and of_today[0].hour * 60 + of_today[0].minute >= window.start - schedule.DONE_BEFORE:
        event("the day's report in")
        assert then >= min(now + dt.timedelta(seconds=NORMAL), early)


def test_the_daemons_trigger_asks_the_schedule(tmp_path):
    from tallywatch.config import Config
    from tallywatch.daemon import LearnedTrigger
    from tallywatch.pipeline import Pipeline

    cfg = Config.from_dict(
        {
            "storage": {"path": str(tmp_path / "d.db")},
            "sources": [
                {"name": "mod", "kind": "rss", "url": "http://127.0.0.1:9/x", "interval": "30m", "jitter": 0},
                {"name": "fixed", "kind": "rss", "url": "http://127.0.0.1:9/y", "interval": "30m", "learn": False},
            ],
        }
    )
    pipeline = Pipeline(cfg)
    try:
        pipeline.report_times = {"mod": history(10), "fixed": history(10)}
        inside = kyiv(DAY, 9, 0)
        trigger = LearnedTrigger(pipeline, cfg.sources[0])
        assert trigger.get_next_fire_time(None, inside) - inside == dt.timedelta(seconds=FAST)
        assert trigger.get_next_fire_time(None, kyiv(DAY, 3, 0)) - kyiv(DAY, 3, 0) == dt.timedelta(seconds=NORMAL)
        assert pipeline.next_poll(cfg.sources[1], inside) - inside == dt.timedelta(seconds=NORMAL)  # learn = false
    finally:
        import asyncio

        asyncio.run(pipeline.aclose())


def session_trigger(tmp_path, job: str, **storage):
    """The trigger of ``job`` in a daemon session started on a fresh store (and closed again)."""
    import asyncio

    from tallywatch.config import Config
    from tallywatch.daemon import _start_session
    from tallywatch.pipeline import Pipeline

    cfg = Config.from_dict(
        {
            "storage": {"path": str(tmp_path / "d.db"), **storage},
            "backfill": {"enabled": False},
            "detect": {"baseline": False},
            "sources": [{"name": "mod", "kind": "rss", "url": "http://127.0.0.1:9/x", "interval": "30m"}],
        }
    )

    async def go():
        session = await _start_session(cfg, Pipeline(cfg), bot=False)
        try:
            return session.scheduler.get_job(job).trigger
        finally:
            await session.close()

    return asyncio.run(go())


def test_the_daemon_polls_each_source_by_its_learned_trigger(tmp_path):
    from tallywatch.daemon import LearnedTrigger

    trigger = session_trigger(tmp_path, "poll:mod")
    assert isinstance(trigger, LearnedTrigger) and trigger.source.name == "mod"


def test_a_poll_with_new_reports_teaches_the_running_daemon_its_window(tmp_path, feed_server):
    import asyncio

    from tallywatch.config import Config
    from tallywatch.pipeline import Pipeline

    now = dt.datetime.now(dt.UTC)
    body, times = recent_feed(7, now)
    feed_server.routes["/mod.rss"] = (200, {}, body)
    cfg = Config.from_dict(
        {
            "storage": {"path": str(tmp_path / "p.db")},
            "backfill": {"enabled": False},
            "detect": {"baseline": False},
            "console": {"enabled": False},
            "sources": [{"name": "mod", "kind": "rss", "url": f"{feed_server.url}/mod.rss", "interval": "30m"}],
        }
    )

    async def go():
        pipeline = Pipeline(cfg)
        try:
            assert pipeline.report_times.get("mod") is None
            await pipeline.poll(cfg.sources[0])
            return pipeline.report_times.get("mod")
        finally:
            await pipeline.aclose()

    assert sorted(asyncio.run(go())) == sorted(times)


def test_times_spread_over_the_whole_day_give_a_window_of_at_most_four_hours():
    """Issue 25: crafted publication times (one report a day at any hour) widened the window to the
    whole day, polled every minute: 2,030 polls a day. The window is the widest span holding the
    most days, the latest day's included."""
    spread = [kyiv(DAY - dt.timedelta(days=n), (n * 5) % 24, 0).astimezone(dt.UTC) for n in range(1, 15)]
    window = learn(spread, kyiv(DAY, 12, 0))
    assert window.end - window.start <= schedule.MAX_WIDTH
    assert window.start <= 5 * 60 <= window.end  # yesterday's report, 05:00
    polls, now = 0, kyiv(DAY, 0, 0).astimezone(dt.UTC)
    while now < kyiv(DAY + dt.timedelta(days=1), 0, 0):
        now, polls = next_poll(spread, now, NORMAL, FAST), polls + 1
    assert polls <= (schedule.MAX_WIDTH + schedule.EARLY_FOR / schedule.LATE + schedule.LATE_FOR / schedule.LATE) + 24
    steady = [kyiv(DAY - dt.timedelta(days=n), 9, 5 * (n % 3)).astimezone(dt.UTC) for n in range(1, 15)]
    assert learn(steady, kyiv(DAY, 12, 0)) == schedule.Window(8 * 60 + 50, 9 * 60 + 30, 14)  # a usual hour: as before


def test_the_trigger_survives_a_wrong_answer_of_the_schedule(tmp_path, caplog):
    """Issue 25: a time in the past from the schedule made APScheduler ask the trigger again and
    again (330,000 calls in 15 s, nothing else ran). A wrong answer — a time not after now, or an
    error — falls back to the source's interval, logged once."""
    from tallywatch.config import Config
    from tallywatch.daemon import LearnedTrigger
    from tallywatch.pipeline import Pipeline

    cfg = Config.from_dict(
        {
            "storage": {"path": str(tmp_path / "d.db")},
            "sources": [{"name": "mod", "kind": "rss", "url": "http://127.0.0.1:9/x", "interval": "30m", "jitter": 0}],
        }
    )
    pipeline = Pipeline(cfg)
    now = kyiv(DAY, 23, 30).astimezone(dt.UTC)
    answers = iter([now - dt.timedelta(minutes=5), now, ZeroDivisionError("division by zero")])

    def wrong(source, at):
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    pipeline.next_poll = wrong
    trigger = LearnedTrigger(pipeline, cfg.sources[0])
    try:
        with caplog.at_level("ERROR", logger="tallywatch.daemon"):
            fired = [trigger.get_next_fire_time(None, now) for _ in range(3)]
        assert fired == [now + dt.timedelta(minutes=30)] * 3
        (line,) = [r.getMessage() for r in caplog.records]
        assert line.startswith("mod: the learned schedule gave a time not after now") and "30m" in line
    finally:
        import asyncio

        asyncio.run(pipeline.aclose())


@settings(max_examples=60, deadline=None)
@given(hour=st.integers(0, 23), minute=st.sampled_from([0, 1, 30, 59]), change=st.sampled_from(CHANGES))
def test_the_daily_backup_runs_once_every_day_across_the_clock_changes(hour, minute, change):
    """[storage] backup_at ran on APScheduler's CronTrigger, which fires twice at a time the autumn
    change repeats (03:30 by default) and skips the day after the spring change for 00:xx. It runs
    on the digests' WallClockTrigger now: once every Kyiv day."""
    from tallywatch.daemon import WallClockTrigger

    trigger = WallClockTrigger(f"{hour:02d}:{minute:02d}", KYIV)
    start = kyiv(change - dt.timedelta(days=3), 0, 0).astimezone(dt.UTC)
    end = kyiv(change + dt.timedelta(days=4), 0, 0).astimezone(dt.UTC)
    fired, now, days = None, start, []
    while (fired := trigger.get_next_fire_time(fired, now)) < end:
        days.append(fired.astimezone(KYIV).date())
        now = fired + dt.timedelta(seconds=1)
    assert days == [change - dt.timedelta(days=3) + dt.timedelta(days=n) for n in range(7)]


def test_the_daemon_backs_up_on_the_wall_clock_trigger(tmp_path):
    from tallywatch.daemon import WallClockTrigger

    assert isinstance(session_trigger(tmp_path, "backup", backups=3), WallClockTrigger)


class Top(random.Random):
    """An rng whose every draw is the top of its range: the most a jitter can add."""

    def uniform(self, a: float, b: float) -> float:
        return b


def window_edges(seen: list[dt.datetime], now: dt.datetime) -> list[dt.datetime]:
    """The start of the early hour before the learned window and the window's opening, today's and
    tomorrow's, worked out here from the window (not from the code under test)."""
    window = learn(seen, now)
    if window is None:
        return []
    day = now.astimezone(KYIV).date()
    out = []
    for d in (day, day + dt.timedelta(days=1)):
        opens = dt.datetime.combine(d, dt.time(window.start // 60, window.start % 60), tzinfo=KYIV)
        out += [opens - dt.timedelta(minutes=schedule.EARLY_FOR), opens]
    return out


def test_the_jitter_never_carries_a_poll_past_an_edge_of_the_window_at_any_moment(tmp_path):
    """Issue 28: the daemon's trigger added up to a tenth of the wait to each poll: a poll planned
    for the start of the early hour, or for the window's opening, came up to 3 minutes after it, and
    half-hour waits drifted at random past them. Over random moments (midnights and daylight-saving
    changes in Kyiv included), with the largest jitter there is (every draw the top of its range)
    and with random ones: the poll comes at or after the planned one, never across the early hour's
    start or the window's opening, and in the window at most a quarter of the fast interval late."""
    from tallywatch.config import Config
    from tallywatch.daemon import LearnedTrigger
    from tallywatch.pipeline import Pipeline

    cfg = Config.from_dict(
        {
            "storage": {"path": str(tmp_path / "d.db")},
            "sources": [{"name": "mod", "kind": "rss", "url": "http://127.0.0.1:9/x", "interval": "30m", "jitter": 1}],
        }
    )
    pipeline = Pipeline(cfg)
    trigger = LearnedTrigger(pipeline, cfg.sources[0])

    @settings(max_examples=400, deadline=None)
    @given(
        now=NOW,
        before=st.lists(st.tuples(st.integers(1, schedule.LOOKBACK), MINUTES, st.integers(0, 59)), max_size=20),
        today=st.lists(st.tuples(MINUTES, st.integers(0, 59)), max_size=2),
        rng=st.one_of(st.just(Top()), st.randoms(use_true_random=False)),
    )
    def check(now, before, today, rng):
        day = now.astimezone(KYIV).date()
        seen = [moment(day - dt.timedelta(days=back), minute, second) for back, minute, second in before]
        seen += [moment(day, minute, second) for minute, second in today]
        pipeline.report_times = {"mod": seen}
        planned = polled(seen, now)
        trigger.rng = rng
        fired = trigger.get_next_fire_time(None, now)
        assert planned <= fired <= planned + dt.timedelta(seconds=NORMAL)  # never before the planned poll
        crossed = [e for e in window_edges(seen, now) if planned <= e < fired]
        assert not crossed, f"planned {planned}, fired {fired}, past {crossed}"
        if planned == now.astimezone(dt.UTC) + dt.timedelta(seconds=FAST):  # polling fast
            event("polling fast")
            assert fired - planned <= dt.timedelta(seconds=FAST / 4)
        if any(e == planned for e in window_edges(seen, now)):
            event("planned at an edge")

    try:
        check()
    finally:
        import asyncio

        asyncio.run(pipeline.aclose())


def test_a_report_hours_before_the_window_is_found_within_ten_minutes():
    """Issue 28: a publisher back at its spring hour (06:00, the real mil.gov.ua times of April 2022)
    after two weeks at 09:00 was polled every 30 minutes until the hour before the window: found 29
    minutes late. The three hours before the window are watched, less often the further from it."""
    early = [kyiv(DAY, 6, 1, 10)]
    delays = simulate(early, history(14))
    assert delays[0] <= 8 * FAST + 20, delays  # 8 minutes at most, and a fetch


def test_watching_the_hours_before_the_window_costs_a_few_polls():
    """From three hours before the window to its opening: about 28 polls (30 at most), where the
    hour at 3 minutes and two more at 30 minutes took 24."""
    seen = history(14)
    now, polls = kyiv(DAY, 5, 51).astimezone(dt.UTC), 0
    while now < kyiv(DAY, 8, 51):
        now, polls = next_poll(seen, now, NORMAL, FAST), polls + 1
    assert polls <= 30, polls
    assert wait(seen, kyiv(DAY, 5, 0)) == NORMAL  # before those hours: the normal interval
    assert wait(seen, kyiv(DAY, 6, 0)) == 8 * FAST  # far from the window: every 8 minutes
    assert wait(seen, kyiv(DAY, 8, 36)) == 3 * FAST  # near it: every 3
