"""Each rule on small hand-made series, through the real store and engine (a SQLite file)."""

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tally import Tally, alerts, keys

from tallywatch import upkeep
from tallywatch.config import Config
from tallywatch.format import format_date
from tallywatch.ingest import Item
from tallywatch.models import Figure

D = dt.date
START = D(2025, 1, 1)


def day(n: int) -> dt.date:
    return START + dt.timedelta(days=n)


def config(**rules) -> Config:
    data = {"milestones": {"personnel": {"step": 100_000}, "aircraft": {"step": 100}}, "rules": rules}
    return Config.from_dict(data)


@pytest.fixture
def tally(tmp_path):
    t = Tally(tmp_path / "rules.db", config())
    yield t
    t.close()


def history(tally, values, metric="personnel", source="mod", first=0):
    """Report values on consecutive days from day(first); the first batch is a quiet first import."""
    results = [tally.report(source, day(first + i), v, metric) for i, v in enumerate(values)]
    return [e for r in results for e in r.events if e.notify]


def steady(start=900_000, rise=1_000, days=30):
    return [start + rise * i for i in range(days)]


def only(result, rule):
    return [s.event for s in result.events if s.event.rule == rule]


# -- spike -----------------------------------------------------------------------------------------


def test_spike_explains_itself(tally):
    values = steady()
    history(tally, values)
    result = tally.report("mod", day(30), values[-1] + 2_500)
    (spike,) = only(result, "spike")
    assert spike.key == f"spike:personnel:{day(30)}"
    assert spike.severity == "warning"
    assert spike.message == "personnel +2,500 in a day — about 2.5× the usual 1,000 a day"
    assert alerts(result) == [(spike.key, day(30))]


def test_no_verdict_without_enough_history(tally):
    values = steady(days=10)  # 9 daily rises, the rule wants 14
    history(tally, values)
    assert only(tally.report("mod", day(10), values[-1] + 4_000), "spike") == []


def test_empty_history_and_first_day_fire_nothing(tally):
    first = tally.report("mod", day(0), 900_000)
    assert first.events == []  # the levels below a first figure were passed on days it does not tell
    assert alerts(first) == []
    assert only(tally.report("mod", day(1), 901_000), "spike") == []


def test_exactly_on_the_ratio_fires_just_below_does_not(tmp_path):
    values = steady()
    below = Tally(tmp_path / "below.db", config())
    history(below, values)
    assert only(below.report("mod", day(30), values[-1] + 1_999), "spike") == []
    on = Tally(tmp_path / "on.db", config())
    history(on, values)
    assert len(only(on.report("mod", day(30), values[-1] + 2_000), "spike")) == 1
    below.close()
    on.close()


def test_floor_keeps_small_numbers_quiet(tmp_path):
    tally = Tally(tmp_path / "f.db", config(spike={"metric": {"personnel": {"floor": 5_000}}}))
    values = steady()
    history(tally, values)
    assert only(tally.report("mod", day(30), values[-1] + 2_500), "spike") == []
    tally.close()


def test_bursty_metric_fires_only_far_above_its_usual_high_days(tally):
    # aircraft: zero on most days, +1 or +2 on some — then +41 (2025-06-03 in the real series)
    values, total = [], 370
    for i in range(120):
        total += 1 if i % 9 == 0 else (2 if i % 31 == 0 else 0)
        values.append(total)
    history(tally, values, metric="aircraft")
    quiet_day = tally.report("mod", day(120), values[-1] + 2, "aircraft")
    assert only(quiet_day, "spike") == []
    big = tally.report("mod", day(121), values[-1] + 2 + 41, "aircraft", delta=41)  # it crosses 400: printed
    (spike,) = only(big, "spike")
    assert spike.message == "aircraft +41 in a day — usually 0–2 a day"  # a day far above its usual high days


def test_drops_are_watched_when_asked(tmp_path):
    tally = Tally(tmp_path / "d.db", config(spike={"drops": True}))
    values = steady(rise=1_000)
    values = [v + (i % 3) * 100 for i, v in enumerate(values)]  # some spread, as real days have
    history(tally, values)
    (drop,) = only(tally.report("mod", day(30), values[-1] + 100), "spike")
    assert drop.key == f"drop:personnel:{day(30)}"
    assert "only +100 in a day" in drop.message
    tally.close()


# -- record ----------------------------------------------------------------------------------------


def test_record_needs_a_full_window_then_fires(tmp_path):
    tally = Tally(tmp_path / "r.db", config(record={"window": 30, "min_history": 10}))
    values = steady(rise=100, days=20)
    history(tally, values)
    assert only(tally.report("mod", day(20), values[-1] + 120), "record") == []  # 20 days of history < 30
    more = [values[-1] + 120 + 100 * i for i in range(1, 16)]
    history(tally, more, first=21)
    (record,) = only(tally.report("mod", day(36), more[-1] + 130), "record")
    assert (
        record.message
        == f"personnel +130 in a day — the most in 30 days (the previous most: +120 on {format_date(day(20))})"
    )
    tally.close()


def test_a_spike_that_is_also_a_record_is_one_alert(tmp_path):
    tally = Tally(tmp_path / "r.db", config(record={"window": 30, "min_history": 10}))
    values = steady(days=40)
    history(tally, values)
    result = tally.report("mod", day(40), values[-1] + 3_000)
    assert [s.event.rule for s in result.events] == ["spike"]
    assert result.events[0].event.message.endswith("— the most in 30 days, about 3.0× the usual 1,000 a day")
    tally.close()


# -- approaching milestone -------------------------------------------------------------------------


def test_approaching_milestone_once_with_the_expected_date(tally):
    values = steady(start=980_000, days=15)  # 994,000 on day 14
    fired = history(tally, values)
    assert fired == []
    near = tally.report("mod", day(15), 997_000)  # 3,000 to go at 1,000 a day
    (event,) = only(near, "approaching")
    assert event.key == "approaching:personnel:1000000"
    assert event.message == f"personnel will pass 1,000,000 in about 3 days (≈ {format_date(day(18))})"
    assert only(tally.report("mod", day(16), 998_000), "approaching") == []  # once per milestone
    assert keys(tally.report("mod", day(17), 999_000)) == []
    assert keys(tally.report("mod", day(18), 1_000_100, delta=1_100)) == ["milestone:personnel:1000000"]


# -- corrections, the guard and the reported delta -----------------------------------------------


def test_a_source_revising_its_figure_is_one_correction(tally):
    history(tally, steady(days=10))
    tally.report("mod", day(10), 910_000, item="post-10")
    result = tally.report("mod", day(10), 910_090, item="post-10-edited")
    (event,) = only(result, "correction")
    assert event.message == f"personnel for {format_date(day(10))} revised: 910,000 → 910,090 (+90)"
    assert tally.point("personnel", day(10)) == (910_090, "mod", "accepted")


def test_a_decrease_is_held_then_confirmed_as_a_correction_never_a_spike(tally):
    values = steady(start=3_600, rise=8, days=30)  # special equipment, +8 a day
    history(tally, values, metric="special_equipment")
    held = tally.report("mod", day(30), values[-1] - 83, "special_equipment")
    assert held.events == []
    assert tally.point("special_equipment", day(30)) == (values[-1] - 83, "mod", "suspect")
    confirmed = tally.report("mod", day(31), values[-1] - 83 + 6, "special_equipment")
    assert [s.event.rule for s in confirmed.events] == ["correction"]
    event = confirmed.events[0].event
    assert event.as_of == day(30)
    assert (
        event.message
        == f"special equipment went down: {values[-1]:,} → {values[-1] - 83:,} (−83) — the source corrected its count"
    )


def test_a_typo_is_discarded_and_never_a_milestone_even_after_a_restart(tally):
    values = steady(start=990_000, days=12)  # up to 1,001,000 on day 11; the 1,000,000 milestone is behind us
    history(tally, values)
    typo = tally.report("mod", day(12), 10_002_000)  # 1,002,000 with an extra digit
    assert typo.events == []
    tally.restart()
    after = tally.report("mod", day(13), 1_003_100)
    assert [s.event.key for s in after.events] == [f"discarded:personnel:{day(12)}:10002000"]
    assert after.events[0].event.message == (
        f"personnel 10,002,000 for {format_date(day(12))} from mod discarded as implausible: "
        f"the next report (1,003,100 for {format_date(day(13))}) contradicts it"
    )
    assert not any(
        k.startswith("milestone:personnel:") and int(k.rsplit(":", 1)[1]) > 1_000_000
        for k in (e["key"] for e in tally.store.events())
    )
    assert tally.point("personnel", day(12)) == (10_002_000, "mod", "discarded")  # kept, out of the series
    assert tally.point("personnel", day(13)) == (1_003_100, "mod", "accepted")


def test_a_suspect_confirmed_by_a_second_source_fires_its_milestone(tally):
    values = steady(start=980_000, rise=1_000, days=15)
    history(tally, values)
    jump = values[-1] + 8_000  # more than 5 × the largest day: suspect
    assert tally.report("mod", day(15), jump).events == []
    confirmed = tally.report("api", day(15), jump)
    assert "milestone:personnel:1000000" in keys(confirmed)
    assert tally.point("personnel", day(15)) == (jump, "mod", "accepted")


def test_the_printed_delta_disagreeing_is_noted_and_the_computed_one_used(tally):
    values = steady(days=30)
    history(tally, values)
    result = tally.feed(
        "mod",
        Item("p", "p", [Figure(metric="personnel", as_of=day(30), value=values[-1] + 1_000, reported_delta=3_000)]),
    )
    assert result.events == []  # the report disagrees with itself: held until the next report
    assert tally.point("personnel", day(30)) == (values[-1] + 1_000, "mod", "suspect")
    result = tally.report("mod", day(31), values[-1] + 2_000, delta=1_000)  # it continues from it: confirmed
    assert [s.event.rule for s in result.events] == ["reported_delta"]
    assert result.events[0].event.message == (
        f"personnel: the report says +3,000 in a day, but its total changed by +1,000 "
        f"({values[-1]:,} → {values[-1] + 1_000:,})"
    )


def test_two_milestones_in_one_day(tmp_path):
    cfg = Config.from_dict(
        {"milestones": {"personnel": {"step": 100_000, "levels": [1_234_567]}}, "rules": {"guard": {"enabled": False}}}
    )
    tally = Tally(tmp_path / "two.db", cfg)
    tally.report("mod", day(0), 1_190_000)
    result = tally.report("mod", day(1), 1_300_000, delta=110_000)
    assert alerts(result) == [
        ("milestone:personnel:1200000", day(1)),
        ("milestone:personnel:1234567", day(1)),
        ("milestone:personnel:1300000", day(1)),
    ]
    tally.close()


# -- disagreement --------------------------------------------------------------------------------


def test_sources_that_disagree_beyond_the_tolerance(tally):
    history(tally, steady(days=5), metric="tanks")
    tally.report("api", day(5), 12_500, "tanks")
    close = tally.report("rss", day(5), 12_505, "tanks")  # 0.04 %: tolerated
    assert only(close, "disagreement") == []
    far = tally.report("mod", day(5), 12_600, "tanks")
    (event,) = only(far, "disagreement")
    assert event.message == f"tanks for {format_date(day(5))}: api says 12,500, mod says 12,600"
    again = tally.report("mod", day(5), 12_600, "tanks", item="repost")
    assert only(again, "disagreement") == []


def prioritised(tmp_path) -> Tally:
    """The official page (priority 1) before the news feed (priority 5); "api" keeps the default 100."""
    sources = [
        {"name": "kmu", "kind": "html", "url": "https://www.kmu.gov.ua/", "selector": "main", "priority": 1},
        {"name": "news", "kind": "rss", "url": "https://news.example/rss", "priority": 5},
    ]
    cfg = Config.from_dict({"milestones": {"personnel": {"step": 100_000}}, "sources": sources})
    return Tally(tmp_path / "priority.db", cfg)


@pytest.mark.parametrize("order", [("news", "kmu"), ("kmu", "news")])
def test_the_series_takes_the_figure_of_the_source_with_priority_whatever_the_order(tmp_path, order):
    t = prioritised(tmp_path)
    history(t, steady(start=990_000, rise=1_000, days=9), source="api")  # 990,000 … 998,000
    values = {"news": 998_700, "kmu": 1_000_340}  # the news feed has a typo; the official page crosses a million
    printed = {"news": None, "kmu": 2_340}
    results = {source: t.report(source, day(9), values[source], delta=printed[source]) for source in order}
    assert t.point("personnel", day(9)) == (1_000_340, "kmu", "accepted")
    events = [s.event for r in results.values() for s in r.events]
    assert [e.key for e in events if e.rule == "milestone"] == ["milestone:personnel:1000000"]  # once, from kmu
    assert [e.message for e in events if e.rule == "disagreement"] == [
        f"personnel for {format_date(day(9))}: kmu says 1,000,340, news says 998,700"
    ]
    row = t.store.conn.execute(
        "SELECT value, status FROM figures WHERE metric = 'personnel' AND as_of = ? AND source = 'news'", [str(day(9))]
    ).fetchone()
    assert tuple(row) == (998_700, None)  # kept, with its source, beside the series
    t.restart()  # the choice is stored: the next day continues from kmu's figure
    after = t.report("api", day(10), 1_001_400)
    assert only(after, "correction") == [] and t.point("personnel", day(10))[2] == "accepted"
    t.close()


# -- stale sources -------------------------------------------------------------------------------


def test_a_silent_source_fires_once_and_recovers(tmp_path):
    import asyncio

    from tallywatch.config import Source, Storage
    from tallywatch.pipeline import Pipeline

    cfg = Config(
        storage=Storage(path=tmp_path / "s.db"), sources=[Source(name="mod", kind="rss", url="http://127.0.0.1/x")]
    )
    source = cfg.sources[0]

    async def go():
        pipeline = Pipeline(cfg, channels=[])
        store = pipeline.store
        t0 = dt.datetime(2025, 6, 14, 6, 0, tzinfo=dt.UTC)
        fired = []
        store.db.execute(
            "INSERT INTO sources (name, last_new_report) VALUES (?, ?)", ["mod", t0.isoformat(timespec="seconds")]
        )
        for hours in (20, 31, 40):
            fired.append(
                [
                    s.event.key
                    for s in upkeep.check_stale(
                        pipeline.store, pipeline.config, pipeline.channels, source, t0 + dt.timedelta(hours=hours)
                    )
                ]
            )
        back = t0 + dt.timedelta(hours=44)
        store.db.execute(
            "UPDATE sources SET last_new_report = ? WHERE name = 'mod'", [back.isoformat(timespec="seconds")]
        )
        fired.append(
            [
                s.event
                for s in upkeep.check_stale(
                    pipeline.store, pipeline.config, pipeline.channels, source, back + dt.timedelta(minutes=5)
                )
            ]
        )
        fired.append(
            [
                s.event.key
                for s in upkeep.check_stale(
                    pipeline.store, pipeline.config, pipeline.channels, source, back + dt.timedelta(hours=1)
                )
            ]
        )
        await pipeline.aclose()
        return fired

    quiet, stale, still, recovered, after = asyncio.run(go())
    assert quiet == [] and still == [] and after == []
    assert stale == ["stale:mod:2025-06-14T06:00:00+00:00"]
    (event,) = recovered
    assert event.key == "recovered:mod:2025-06-14T06:00:00+00:00"
    assert event.message == "source mod is back: a new report after 44 h of silence"


# -- properties ----------------------------------------------------------------------------------

REAL = [(i, 995_000 + 1_100 * i) for i in range(10)]  # crosses 1,000,000 on day 5
TYPO_DAY = 6
TYPO = (TYPO_DAY, (995_000 + 1_100 * TYPO_DAY) * 10)  # the day's report with an extra zero
REPORTS = [r for r in REAL if r[0] != TYPO_DAY] + [TYPO]


@settings(max_examples=60, deadline=None)
@given(order=st.permutations(range(len(REPORTS))), repeats=st.lists(st.integers(0, len(REPORTS) - 1), max_size=8))
def test_any_order_any_repetition_each_milestone_once_and_no_suspect_milestone(tmp_path_factory, order, repeats):
    tally = Tally(tmp_path_factory.mktemp("prop") / "p.db", config())
    history(tally, steady(start=975_000, rise=1_000, days=20), first=-20)  # 20 days of history: 975,000 … 994,000
    fired = []
    for index in [*order, *repeats]:
        n, value = REPORTS[index]
        fired += [k for k, _ in alerts(tally.report("mod", day(n), value))]
    milestone_keys = [k for k in fired if k.startswith("milestone:")]
    assert len(milestone_keys) == len(set(milestone_keys))  # never twice
    stored = [e["key"] for e in tally.store.events() if e["rule"] == "milestone"]
    assert all(int(k.rsplit(":", 1)[1]) <= 1_100_000 for k in stored)  # nothing from the typo, ever
    assert tally.point("personnel", day(TYPO_DAY)) != (TYPO[1], "mod", "accepted")
    tally.close()
