"""How rules put figures into words: ``say`` words an alert from its data in any language (the
rules keep its English as the event's message; channels say it in the reader's language)."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterable
from typing import Any

from ..format import format_date, format_delta, format_number
from ..i18n import N_, capitalized, gettext, in_words, ngettext, number

_LABELS = {
    "uav": "UAVs",
    "mlrs": "MLRS",
    "air_defense": "air defence systems",
    "srbm_launchers": "SRBM launchers",
    "artillery": "artillery systems",
}


def metric_label(metric: str) -> str:
    return _LABELS.get(metric, metric.replace("_", " "))


def times(ratio: float, language: str = "en") -> str:
    """2.2×, 20×, 310× — one decimal only where it says something."""
    return f"{number(ratio, language, decimals=1)}×" if ratio < 10 else f"{format_number(round(ratio), language)}×"


# -- the alerts in words, the same in every language ----------------------------------------------
# The rules write their English ``message`` with ``say``; a channel says the same in the reader's
# language from the event's data. The English text is the gettext msgid; each catalogue translates it.


# why a suspect figure was set aside, in whole sentences (a translator sees each one whole)
DISCARDED = {
    "contradicted": N_(
        "{name} {value} for {day} from {source} discarded as implausible: the next report ({other} for "
        "{other_day}) contradicts it"
    ),
    "replaced": N_(
        "{name} {value} for {day} from {source} discarded as implausible: a later report ({other}) replaced it"
    ),
    "second_source": N_(
        "{name} {value} for {day} from {source} discarded as implausible: {other_source} gives {other}, which "
        "agrees with the reports before it"
    ),
    "inconsistent": N_(
        "{name} {value} for {day} from {source} discarded as implausible: its own change for the day follows "
        "neither the last figure accepted nor the one still waiting for confirmation ({other} for {other_day})"
    ),
    "misfit": N_(
        "{name} {value} for {day} from {source} discarded as implausible: it does not fit between the reports "
        "around it ({other} for {other_day})"
    ),
}


# whose figures, as a sentence names them to readers (``Source.publisher``: a key here, or the admin's
# own words, said as they are); a source's id is never said to readers
WHOSE = {"genstaff": N_("the General Staff")}
SOMEONE = N_("the source")  # an event that does not know its publisher


def whose(data: dict[str, Any], language: str = "en") -> str:
    """Whose figures an event is about, in words for readers: ``the General Staff``."""
    publisher = data.get("publisher")
    if not publisher:
        return gettext(language, SOMEONE)
    known = WHOSE.get(publisher)
    return gettext(language, known) if known else publisher


def metric_name(metric: str, language: str = "en") -> str:
    """A category as people name it, in their language (``UAVs``, ``БПЛА``)."""
    return gettext(language, metric_label(metric))


def figures_said(figures: Iterable[tuple[str, int | None, int | None]], language: str = "en") -> list[str]:
    """(metric, total, change) as ``personnel 1,001,560 (+1,220)``: a report's summary, a preheader,
    an alt text (a total not confirmed yet, None, as ``tanks not yet confirmed``)."""
    return [
        f"{metric_name(metric, language)} "
        + (
            gettext(language, "not yet confirmed")
            if value is None
            else format_number(value, language) + ("" if change is None else f" ({format_delta(change, language)})")
        )
        for metric, value, change in figures
    ]


def crossing(metric: str, level: int, language: str = "en") -> tuple[str, str]:
    """A milestone as a headline: the level in figures, and in words (``1,000,000``, ``personnel
    passed 1 million`` / ``1 000 000``, ``особовий склад: перейдено рубіж 1 мільйон``)."""
    figures = format_number(level, language)
    words = gettext(language, "{name} passed {level}").format(
        name=metric_name(metric, language), level=in_words(level, language) or figures
    )
    return figures, words


def _span(window: int, language: str) -> str:
    if not window:
        return gettext(language, "the most ever")
    if window == 365:
        return gettext(language, "the most in a year")
    return ngettext(language, "the most in {n} day", "the most in {n} days", window).format(n=window)


def say(
    rule: str,
    metric: str,
    as_of: dt.date,
    value: int,
    data: dict[str, Any],
    language: str = "en",
    *,
    admin: bool = False,
) -> str | None:
    """An alert for people, from its data (None: the rule has no words of its own here).

    Readers' words by default: whose figures in words (``whose``), never a source's id. ``admin``:
    the admins' words (the rules' English ``message``, the console, webhooks, the Telegram admins),
    which name the sources by id and the guard's reasons. The notices only admins get
    (``models.ADMIN_ONLY``) have only those."""
    _ = functools.partial(gettext, language)
    num = functools.partial(format_number, lang=language)
    name = metric_name(metric, language)
    delta = data.get("delta")
    per_day = data.get("per_day", False)
    shown = None if delta is None else (num(delta) if per_day else format_delta(delta, language))
    if rule == "milestone" and data.get("late"):
        first, last = (dt.date.fromisoformat(data["late"][end]) for end in ("from", "to"))
        when = functools.partial(format_date, lang=language)
        if first == last:
            return _("{name} passed {level} on {day}, while this service had no figures").format(
                name=name, level=num(data["level"]), day=when(first)
            )
        return _("{name} passed {level} between {first} and {last}, while this service had no figures").format(
            name=name, level=num(data["level"]), first=when(first), last=when(last)
        )
    if rule == "milestone":
        text = _("{name} passed {level} — now {value}").format(name=name, level=num(data["level"]), value=num(value))
        since = data.get("prior_as_of")
        if delta is not None and since:
            gap = (as_of - dt.date.fromisoformat(since)).days
            text += " " + (
                _("({delta} in a day)").format(delta=shown)
                if gap == 1
                else _("({delta} since {day})").format(
                    delta=shown, day=format_date(dt.date.fromisoformat(since), language)
                )
            )
        return text
    if rule == "approaching":
        expected = dt.date.fromisoformat(data["expected"])
        days = max(1, (expected - as_of).days)
        about = ngettext(language, "in about {n} day", "in about {n} days", days).format(n=days)
        return _("{name} will pass {level} {about} (≈ {day})").format(
            name=name, level=num(data["level"]), about=about, day=format_date(expected, language)
        )
    if rule == "spike" and shown is not None:
        baseline = data.get("baseline") or 0
        record = data.get("record")
        most = _span(record.get("window", 365), language) if record else None
        if data.get("direction") == "drop":
            return _("{name} only {delta} in a day — usually about {usual}").format(
                name=name, delta=shown, usual=_usual(baseline, language)
            )
        if data.get("score") is None:  # a bursty category: zero on most days, a few on others
            usual = _("usually 0–{high} a day").format(high=_usual(baseline, language))
            lead = f"{most} ({usual})" if most else usual
            return _("{name} {delta} in a day — {why}").format(name=name, delta=shown, why=lead)
        times_usual = _("about {times} the usual {usual} a day").format(
            times=times(delta / baseline, language) if baseline else "", usual=_usual(baseline, language)
        )
        why = f"{most}, {times_usual}" if most else times_usual
        return _("{name} {delta} in a day — {why}").format(name=name, delta=shown, why=why)
    if rule == "record" and shown is not None:
        why = _span(data.get("window", 365), language)
        previous, on = data.get("previous"), data.get("previous_on")
        if previous is not None and on:
            was = num(previous) if per_day else format_delta(previous, language)
            why += " " + _("(the previous most: {delta} on {day})").format(
                delta=was, day=format_date(dt.date.fromisoformat(on), language)
            )
        return _("{name} {delta} in a day — {why}").format(name=name, delta=shown, why=why)
    revision = rule == "correction" and data.get("kind") in ("revised", "decrease") and data.get("old") is not None
    if revision and not admin:  # readers: whose figures were corrected, in words
        said = (
            _("{whose} corrected {name} for {day}: {old} → {new} ({delta})")
            if data["kind"] == "revised"
            else _("{whose} corrected its count of {name} down: {old} → {new} ({delta})")
        )
        return said.format(
            whose=capitalized(whose(data, language)),
            name=name,
            day=format_date(as_of, language),
            old=num(data["old"]),
            new=num(data["new"]),
            delta=format_delta(data["new"] - data["old"], language),
        )
    if rule == "correction" and data.get("kind") == "revised" and data.get("old") is not None:
        return _("{name} for {day} revised: {old} → {new} ({delta})").format(
            name=name,
            day=format_date(as_of, language),
            old=num(data["old"]),
            new=num(data["new"]),
            delta=format_delta(data["new"] - data["old"], language),
        )
    if rule == "correction" and data.get("kind") == "decrease" and data.get("old") is not None:
        return _("{name} went down: {old} → {new} ({delta}) — the source corrected its count").format(
            name=name,
            old=num(data["old"]),
            new=num(data["new"]),
            delta=format_delta(data["new"] - data["old"], language),
        )
    if rule == "guard" and data.get("discarded") and data.get("why") in DISCARDED:
        other_day = data.get("other_day")
        return _(DISCARDED[data["why"]]).format(
            name=name,
            value=num(value),
            day=format_date(as_of, language),
            source=data.get("source", ""),
            other=num(data["other"]),
            other_day=format_date(dt.date.fromisoformat(other_day), language) if other_day else "",
            other_source=data.get("other_source", ""),
        )
    if rule == "reported_delta" and data.get("reported") is not None and data.get("computed") is not None:
        return _(
            "{name}: the report says {reported} in a day, but its total changed by {computed} ({old} → {new})"
        ).format(
            name=name,
            reported=format_delta(data["reported"], language),
            computed=format_delta(data["computed"], language),
            old=num(value - data["computed"]),
            new=num(value),
        )
    if rule == "disagreement" and len(said_by := disagreeing(data)) >= 2:
        (a, a_value), (b, b_value) = said_by[:2]
        return _("{name} for {day}: {a} says {a_value}, {b} says {b_value}").format(
            name=name, day=format_date(as_of, language), a=a, a_value=num(a_value), b=b, b_value=num(b_value)
        )
    if rule == "guard" and data.get("retracted") and data.get("later") and not admin:
        (a, a_day), (b, b_day) = data["later"]  # one plain sentence: what was wrong, what is right
        return _(
            "{name} {value} for {day} was wrong: the next reports from {whose} give {a} for {a_day} and {b} for {b_day}"
        ).format(
            name=name,
            value=num(value),
            day=format_date(as_of, language),
            whose=whose(data, language),
            a=num(a),
            a_day=format_date(dt.date.fromisoformat(a_day), language),
            b=num(b),
            b_day=format_date(dt.date.fromisoformat(b_day), language),
        )
    if rule == "guard" and data.get("retracted") and data.get("later"):
        (a, a_day), (b, b_day) = data["later"]
        return _(
            "{name} {value} for {day} from {source} taken back: the next two reports ({a} for {a_day}, "
            "{b} for {b_day}) agree with each other and contradict it"
        ).format(
            name=name,
            value=num(value),
            day=format_date(as_of, language),
            source=data.get("source", ""),
            a=num(a),
            a_day=format_date(dt.date.fromisoformat(a_day), language),
            b=num(b),
            b_day=format_date(dt.date.fromisoformat(b_day), language),
        )
    return None


def disagreeing(data: dict[str, Any]) -> list[tuple[str, int]]:
    """A disagreement's (source, value) pairs: ``sources`` — or, as older versions stored them, the
    data's own keys (beside the ``publisher`` and ``link`` every alert carries)."""
    if "sources" in data:
        return [(source, value) for source, value in data["sources"]]
    return [(k, v) for k, v in data.items() if isinstance(v, int) and not isinstance(v, bool)]


def _usual(value: float, language: str) -> str:
    """A usual daily count: whole from 10 up, one decimal below it (0.3, 1.5)."""
    if value >= 10 or value == int(value):
        return format_number(round(value), language)
    return number(value, language, decimals=1)
