"""Each kind of event's data has one shape (``models.EVENT_DATA``); tests/conftest.py holds every
event any test stores to it. Here: the shapes themselves."""

from tallywatch.models import EVENT_DATA, RULES, check_data


def test_every_rule_has_a_shape():
    assert set(EVENT_DATA) == set(RULES)


def test_a_misspelt_key_a_wrong_type_or_a_missing_required_key_is_named():
    assert check_data("milestone", {"level": 1_000_000, "late": {"from": "2025-06-10", "to": "2025-06-12"}}) == []
    assert check_data("milestone", {"levle": 1_000_000}) == ["milestone: unknown key 'levle'"]
    assert check_data("report", {"replaces": ["report:2025-06-13"]}) == [
        "report: Expected `int`, got `str` - at `$.replaces[0]`"
    ]
    assert check_data("approaching", {"level": 11_000, "rate": 2.5}) == [
        "approaching: Object missing required field `expected`"
    ]
    assert check_data("nonsense", {}) == ["no data shape for the rule 'nonsense'"]


def test_a_disagreement_also_carries_each_sources_value_under_its_name():
    data = {"mod": 1_000_340, "api": 1_000_300, "sources": [["mod", 1_000_340], ["api", 1_000_300]]}
    assert check_data("disagreement", data) == []
    assert check_data("disagreement", {**data, "nope": "x"}) == ["disagreement: unknown key 'nope'"]


def test_events_figures_and_deliveries_are_built_with_keywords_only():
    """(An argument in the wrong place is how a list of ids once stood where a key was read.)"""
    import datetime as dt

    import pytest

    from tallywatch.models import Event, Figure
    from tallywatch.store import Delivery

    day = dt.date(2025, 6, 12)
    for make, args in (
        (Event, ("milestone:personnel:1000000", "milestone", "personnel", day, 1_000_340, "passed")),
        (Figure, ("personnel", day, 1_000_340)),
        (Delivery, (1, "telegram", "42", 0, "en", None)),
    ):
        with pytest.raises(TypeError, match="positional argument"):
            make(*args)
    assert Figure(metric="personnel", as_of=day, value=1_000_340).reported_delta is None
