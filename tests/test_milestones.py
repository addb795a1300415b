import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tally import Tally, alerts

from tallywatch.config import Config, Milestone
from tallywatch.detect.milestones import levels_between, next_level
from tallywatch.ingest import Item
from tallywatch.models import Figure

D = dt.date
CONFIG = Config(milestones={"personnel": Milestone(step=100_000, levels=[1_000_000, 1_234_567])})


def item(day, value, metric="personnel", delta=None):
    return Item(
        f"post-{day}-{value}", f"{day}-{value}", [Figure(metric=metric, as_of=day, value=value, reported_delta=delta)]
    )


def test_levels_between():
    rule = Milestone(step=100_000, levels=[1_000_000, 1_234_567])
    assert levels_between(rule, 999_200, 1_000_340) == [1_000_000]
    assert levels_between(rule, 1_000_000, 1_000_340) == []  # exactly on it the day before
    assert levels_between(rule, 999_999, 1_000_000) == [1_000_000]  # exactly on the threshold
    assert levels_between(rule, 1_190_000, 1_300_000) == [1_200_000, 1_234_567, 1_300_000]  # several in one day
    assert levels_between(rule, None, 250_000) == [100_000, 200_000]
    assert levels_between(Milestone(levels=[500]), 400, 450) == []
    assert next_level(rule, 999_200) == 1_000_000
    assert next_level(rule, 1_200_000) == 1_234_567
    assert next_level(Milestone(levels=[500]), 600) is None


def test_first_import_is_quiet_then_a_crossing_alerts(tmp_path):
    tally = Tally(tmp_path / "m.db", CONFIG)
    first = tally.feed("mod", item(D(2025, 6, 10), 998_100), item(D(2025, 6, 11), 999_200))
    # the levels below the first figure were passed on days it does not tell: none is dated by the import
    assert first.events == []
    crossing = tally.feed("mod", item(D(2025, 6, 12), 1_000_340, delta=1_140))
    assert alerts(crossing) == [("milestone:personnel:1000000", D(2025, 6, 12))]
    (event,) = [s.event for s in crossing.events]
    assert event.message == "personnel passed 1,000,000 — now 1,000,340 (+1,140 in a day)"
    tally.close()


def test_a_past_milestone_in_a_first_import_is_recorded_quietly_on_its_true_date(tmp_path):
    tally = Tally(tmp_path / "m.db", CONFIG)
    first = tally.feed("mod", item(D(2025, 6, 9), 899_000), item(D(2025, 6, 10), 900_100, delta=1_100))
    assert alerts(first) == []
    assert [(s.event.key, s.event.as_of) for s in first.events] == [("milestone:personnel:900000", D(2025, 6, 10))]
    tally.close()


def test_first_import_can_notify(tmp_path):
    config = CONFIG.replace(detect=CONFIG.detect.replace(first_import="notify"))
    tally = Tally(tmp_path / "m.db", config)
    assert alerts(tally.feed("mod", item(D(2022, 12, 21), 99_800), item(D(2022, 12, 22), 100_400, delta=600))) == [
        ("milestone:personnel:100000", D(2022, 12, 22))
    ]
    tally.close()


def test_milestone_fires_once_across_restart_and_repoll(tmp_path):
    tally = Tally(tmp_path / "m.db", CONFIG)
    tally.feed("mod", item(D(2025, 6, 11), 999_200))
    assert len(alerts(tally.feed("mod", item(D(2025, 6, 12), 1_000_340, delta=1_140)))) == 1
    tally.restart()
    assert alerts(tally.feed("mod", item(D(2025, 6, 12), 1_000_340))) == []  # re-poll
    # the same report again under another item id and source: nothing; a revision of the day: only the correction
    assert (
        alerts(
            tally.feed("rss", Item("other", "x", [Figure(metric="personnel", as_of=D(2025, 6, 12), value=1_000_340)]))
        )
        == []
    )
    revised = tally.feed(
        "mod", Item("post-fix", "y", [Figure(metric="personnel", as_of=D(2025, 6, 12), value=1_000_400)])
    )
    assert alerts(revised) == [("correction:personnel:2025-06-12:1000340:1000400", D(2025, 6, 12))]
    assert [e["key"] for e in tally.store.events(notify_only=True)] == [
        "milestone:personnel:1000000",
        "correction:personnel:2025-06-12:1000340:1000400",
    ]
    assert [e["key"] for e in tally.store.events()].count("milestone:personnel:1000000") == 1
    tally.close()


def test_seen_item_with_same_content_is_skipped(tmp_path):
    tally = Tally(tmp_path / "m.db", CONFIG)
    tally.feed("mod", item(D(2025, 6, 11), 999_200))
    again = tally.feed("mod", item(D(2025, 6, 11), 999_200))
    assert again.items == 0 and again.changes == []
    tally.close()


@settings(max_examples=40, deadline=None)
@given(order=st.permutations(range(6)), repeats=st.lists(st.integers(0, 5), max_size=6))
def test_any_order_and_repetition_fires_each_milestone_at_most_once(tmp_path_factory, order, repeats):
    days = [(D(2025, 6, 9 + i), v) for i, v in enumerate([997_000, 998_100, 999_200, 1_000_340, 1_001_560, 1_002_690])]
    tally = Tally(tmp_path_factory.mktemp("p") / "m.db", CONFIG)
    tally.feed("seed", item(D(2025, 6, 1), 990_000))
    fired = []
    for index in [*order, *repeats]:
        day, value = days[index]
        fired += alerts(tally.feed("mod", item(day, value)))
    keys = [k for k, _ in fired]
    assert keys.count("milestone:personnel:1000000") <= 1
    assert len(keys) == len(set(keys))
    tally.close()


@pytest.mark.parametrize("metric", ["tanks", "unknown_metric"])
def test_metrics_without_a_rule_fire_no_milestone(tmp_path, metric):
    tally = Tally(tmp_path / "m.db", CONFIG)
    tally.feed("mod", item(D(2025, 6, 11), 100, metric))
    assert [
        e for e in tally.feed("mod", item(D(2025, 6, 12), 100_000, metric)).events if e.event.rule == "milestone"
    ] == []
    tally.close()


def test_replay_fires_every_personnel_step_on_its_true_date():
    from tallywatch import config, replay

    events = replay.replay(config.defaults())
    personnel = [(e.key, e.as_of, e.value) for e in events if e.metric == "personnel" and e.rule == "milestone"]
    assert personnel == [
        ("milestone:personnel:100000", D(2022, 12, 22), 100_400),
        ("milestone:personnel:200000", D(2023, 5, 17), 200_590),
        ("milestone:personnel:300000", D(2023, 10, 31), 300_810),
        ("milestone:personnel:400000", D(2024, 2, 16), 400_300),
        ("milestone:personnel:500000", D(2024, 5, 25), 500_080),
        ("milestone:personnel:600000", D(2024, 8, 19), 600_470),
        ("milestone:personnel:700000", D(2024, 11, 4), 700_390),
        ("milestone:personnel:800000", D(2025, 1, 7), 800_010),
        ("milestone:personnel:900000", D(2025, 3, 21), 900_800),
        ("milestone:personnel:1000000", D(2025, 6, 12), 1_000_340),
        ("milestone:personnel:1100000", D(2025, 9, 20), 1_100_600),
        ("milestone:personnel:1200000", D(2025, 12, 24), 1_200_370),
        ("milestone:personnel:1300000", D(2026, 4, 2), 1_300_030),
        ("milestone:personnel:1400000", D(2026, 6, 28), 1_400_970),
    ]
    keys = [e.key for e in events]
    assert len(keys) == len(set(keys))


def test_replay_window_warms_up_quietly():
    from tallywatch import config, replay

    events = replay.replay(config.defaults(), D(2025, 6, 1), D(2025, 6, 30))
    assert [(e.key, e.as_of) for e in events if e.metric == "personnel"] == [
        ("approaching:personnel:1000000", D(2025, 6, 9)),
        ("milestone:personnel:1000000", D(2025, 6, 12)),
    ]
    assert all(D(2025, 6, 1) <= e.as_of <= D(2025, 6, 30) for e in events)


def test_no_approaching_alert_for_a_level_the_same_poll_passes(tmp_path):
    """A poll brings two days at once (after downtime): the first is a day short of 1,000,000, the
    second passes it. The crossing is told; "will pass in about 1 day" is not."""
    from tally import Tally

    from tallywatch.config import Config
    from tallywatch.ingest import Item
    from tallywatch.models import Figure

    config = Config.from_dict({"milestones": {"personnel": {"step": 100_000}}})
    tally, alone = Tally(tmp_path / "a.db", config), Tally(tmp_path / "b.db", config)  # alone: the next day by itself
    for i in range(20):  # 976,000 … 995,000 by 11 June: five days short, nothing near yet
        day = dt.date(2025, 5, 23) + dt.timedelta(days=i)
        for t in (tally, alone):
            t.feed(
                "mod",
                Item(f"h{i}", f"h{i}", [Figure(metric="personnel", as_of=day, value=976_000 + 1_000 * i)]),
                quiet=True,
            )
    first = Item(
        "d1", "d1", [Figure(metric="personnel", as_of=dt.date(2025, 6, 13), value=997_000, reported_delta=1_000)]
    )  # three days short
    second = Item(
        "d2", "d2", [Figure(metric="personnel", as_of=dt.date(2025, 6, 16), value=1_000_000, reported_delta=1_000)]
    )  # and passed
    assert [e.event.rule for e in alone.feed("mod", first).events] == ["approaching"]  # alone, it is told
    both = tally.feed("mod", first, second)
    assert [(e.event.rule, e.event.as_of) for e in both.events] == [("milestone", dt.date(2025, 6, 16))]
    tally.close()
    alone.close()
