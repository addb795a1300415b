"""The shipped defaults over the real 2022-02-25 … 2026-08-08 series: what people would have been told."""

import collections
import datetime as dt
import itertools

import pytest

from tallywatch import config, history, replay

D = dt.date


@pytest.fixture(scope="module")
def events():
    return replay.replay(config.defaults())


def test_personnel_milestones_on_their_true_dates_each_once_with_a_warning_before(events):
    milestones = [(e.as_of, e.data["level"]) for e in events if e.rule == "milestone" and e.metric == "personnel"]
    assert milestones == [
        (D(2022, 12, 22), 100_000),
        (D(2023, 5, 17), 200_000),
        (D(2023, 10, 31), 300_000),
        (D(2024, 2, 16), 400_000),
        (D(2024, 5, 25), 500_000),
        (D(2024, 8, 19), 600_000),
        (D(2024, 11, 4), 700_000),
        (D(2025, 1, 7), 800_000),
        (D(2025, 3, 21), 900_000),
        (D(2025, 6, 12), 1_000_000),
        (D(2025, 9, 20), 1_100_000),
        (D(2025, 12, 24), 1_200_000),
        (D(2026, 4, 2), 1_300_000),
        (D(2026, 6, 28), 1_400_000),
    ]
    approaching = {e.data["level"]: e.as_of for e in events if e.rule == "approaching" and e.metric == "personnel"}
    for when, level in milestones:
        assert approaching[level] < when, level
        assert (when - approaching[level]).days <= 7  # a forecast at the weekly rate: days, not weeks, ahead


def test_the_known_spikes_fire(events):
    spikes = {(e.metric, e.as_of): e.data["delta"] for e in events if e.rule == "spike"}
    assert spikes[("personnel", D(2025, 2, 28))] == 2_710
    assert spikes[("aircraft", D(2025, 6, 3))] == 41
    assert spikes[("tanks", D(2023, 10, 20))] == 55
    assert spikes[("armoured_vehicles", D(2023, 10, 20))] == 120
    assert spikes[("special_equipment", D(2024, 9, 28))] == 99
    assert spikes[("cruise_missiles", D(2024, 11, 18))] == 112
    message = next(e.message for e in events if e.key == "spike:personnel:2025-02-28")
    assert message == "personnel +2,710 in a day — the most in a year, about 2.2× the usual 1,245 a day"


def test_spikes_stay_rare_enough_to_be_read(events):
    per_metric = collections.Counter(e.metric for e in events if e.rule == "spike")
    assert sum(per_metric.values()) <= 120  # about one every two weeks over four and a half years
    assert per_metric["personnel"] <= 25


def test_every_real_decrease_is_a_correction_never_a_spike_or_milestone(events):
    series = history.daily()
    days = list(series)
    decreases = set()
    for before, after in itertools.pairwise(days):
        old = {f.metric: f.value for f in series[before]}
        for f in series[after]:
            if f.metric in old and f.value < old[f.metric]:
                decreases.add((f.metric, after))
    assert ("special_equipment", D(2024, 11, 30)) in decreases and ("artillery", D(2026, 3, 4)) in decreases
    corrections = {(e.metric, e.as_of): e for e in events if e.rule == "correction"}
    assert set(corrections) == decreases
    assert corrections[("special_equipment", D(2024, 11, 30))].message == (
        "special equipment went down: 3,700 → 3,617 (−83) — the source corrected its count"
    )
    others = {(e.metric, e.as_of) for e in events if e.rule in ("spike", "milestone", "record")}
    assert not decreases & others


def test_no_key_twice(events):
    keys = [e.key for e in events]
    assert len(keys) == len(set(keys))
