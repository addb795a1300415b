"""How rules put figures into words: ``say`` words an alert from its data in any language (the
rules keep its English as the event's message; channels say it in the reader's language)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from ..format import format_date, format_delta, format_number
from ..i18n import N_, capitalized, catalogue, gettext, in_words, ngettext, number

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
    an alt text (a total not confirmed yet, None, as ``tanks not yet confirmed``). (``metric_name``
    and ``gettext`` with the language's catalogue looked up once: every daily report is summed up so.)"""
    translated = catalogue(language).gettext
    said = []
    for metric, value, change in figures:
        if value is None:
            figure = translated("not yet confirmed")
        elif change is None:
            figure = format_number(value, language)
        else:
            figure = f"{format_number(value, language)} ({format_delta(change, language)})"
        said.append(f"{translated(metric_label(metric))} {figure}")
    return said


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


@dataclass(frozen=True)
class _Alert:
    """One alert about to be said: its figures, its data, the language and whether admins read it."""

    metric: str
    as_of: dt.date
    value: int
    data: dict[str, Any]
    language: str
    admin: bool

    def _(self, text: str) -> str:
        return gettext(self.language, text)

    def num(self, value: int) -> str:
        return format_number(value, lang=self.language)

    def day(self, day: dt.date | str) -> str:
        """A day, from a date or as the data keeps it (ISO)."""
        return format_date(dt.date.fromisoformat(day) if isinstance(day, str) else day, self.language)

    def delta(self, delta: int) -> str:
        return format_delta(delta, self.language)

    @property
    def name(self) -> str:
        return metric_name(self.metric, self.language)

    @property
    def shown(self) -> str | None:
        """The day's change as said: a plain count for a per-day metric, signed for a running total."""
        delta = self.data.get("delta")
        if delta is None:
            return None
        return self.num(delta) if self.data.get("per_day", False) else self.delta(delta)


def _milestone_late(a: _Alert) -> str | None:
    if not a.data.get("late"):
        return None
    _ = a._
    first, last = (dt.date.fromisoformat(a.data["late"][end]) for end in ("from", "to"))
    if first == last:
        return _("{name} passed {level} on {day}, while this service had no figures").format(
            name=a.name, level=a.num(a.data["level"]), day=a.day(first)
        )
    return _("{name} passed {level} between {first} and {last}, while this service had no figures").format(
        name=a.name, level=a.num(a.data["level"]), first=a.day(first), last=a.day(last)
    )


def _milestone(a: _Alert) -> str:
    _ = a._
    text = _("{name} passed {level} — now {value}").format(
        name=a.name, level=a.num(a.data["level"]), value=a.num(a.value)
    )
    since = a.data.get("prior_as_of")
    if a.data.get("delta") is not None and since:
        gap = (a.as_of - dt.date.fromisoformat(since)).days
        text += " " + (
            _("({delta} in a day)").format(delta=a.shown)
            if gap == 1
            else _("({delta} since {day})").format(delta=a.shown, day=a.day(since))
        )
    return text


def _approaching(a: _Alert) -> str:
    expected = dt.date.fromisoformat(a.data["expected"])
    days = max(1, (expected - a.as_of).days)
    about = ngettext(a.language, "in about {n} day", "in about {n} days", days).format(n=days)
    return a._("{name} will pass {level} {about} (≈ {day})").format(
        name=a.name, level=a.num(a.data["level"]), about=about, day=a.day(expected)
    )


def _spike(a: _Alert) -> str | None:
    if a.shown is None:
        return None
    _ = a._
    baseline = a.data.get("baseline") or 0
    record = a.data.get("record")
    most = _span(record.get("window", 365), a.language) if record else None
    if a.data.get("direction") == "drop":
        return _("{name} only {delta} in a day — usually about {usual}").format(
            name=a.name, delta=a.shown, usual=_usual(baseline, a.language)
        )
    if a.data.get("score") is None:  # a bursty category: zero on most days, a few on others
        usual = _("usually 0–{high} a day").format(high=_usual(baseline, a.language))
        lead = f"{most} ({usual})" if most else usual
        return _("{name} {delta} in a day — {why}").format(name=a.name, delta=a.shown, why=lead)
    times_usual = _("about {times} the usual {usual} a day").format(
        times=times(a.data["delta"] / baseline, a.language) if baseline else "", usual=_usual(baseline, a.language)
    )
    why = f"{most}, {times_usual}" if most else times_usual
    return _("{name} {delta} in a day — {why}").format(name=a.name, delta=a.shown, why=why)


def _record(a: _Alert) -> str | None:
    if a.shown is None:
        return None
    _ = a._
    why = _span(a.data.get("window", 365), a.language)
    previous, on = a.data.get("previous"), a.data.get("previous_on")
    if previous is not None and on:
        was = a.num(previous) if a.data.get("per_day", False) else a.delta(previous)
        why += " " + _("(the previous most: {delta} on {day})").format(delta=was, day=a.day(on))
    return _("{name} {delta} in a day — {why}").format(name=a.name, delta=a.shown, why=why)


def _correction(a: _Alert) -> str | None:
    kind = a.data.get("kind")
    if kind not in ("revised", "decrease") or a.data.get("old") is None:
        return None
    _ = a._
    old, new = a.data["old"], a.data["new"]
    if not a.admin:  # readers: whose figures were corrected, in words
        said = (
            _("{whose} corrected {name} for {day}: {old} → {new} ({delta})")
            if kind == "revised"
            else _("{whose} corrected its count of {name} down: {old} → {new} ({delta})")
        )
        return said.format(
            whose=capitalized(whose(a.data, a.language)),
            name=a.name,
            day=a.day(a.as_of),
            old=a.num(old),
            new=a.num(new),
            delta=a.delta(new - old),
        )
    if kind == "revised":
        return _("{name} for {day} revised: {old} → {new} ({delta})").format(
            name=a.name, day=a.day(a.as_of), old=a.num(old), new=a.num(new), delta=a.delta(new - old)
        )
    return _("{name} went down: {old} → {new} ({delta}) — the source corrected its count").format(
        name=a.name, old=a.num(old), new=a.num(new), delta=a.delta(new - old)
    )


def _discarded(a: _Alert) -> str | None:
    if not (a.data.get("discarded") and a.data.get("why") in DISCARDED):
        return None
    other_day = a.data.get("other_day")
    return a._(DISCARDED[a.data["why"]]).format(
        name=a.name,
        value=a.num(a.value),
        day=a.day(a.as_of),
        source=a.data.get("source", ""),
        other=a.num(a.data["other"]),
        other_day=a.day(other_day) if other_day else "",
        other_source=a.data.get("other_source", ""),
    )


def _retracted(a: _Alert) -> str | None:
    if not (a.data.get("retracted") and a.data.get("later")):
        return None
    _ = a._
    (first, first_day), (second, second_day) = a.data["later"]
    later = {"a": a.num(first), "a_day": a.day(first_day), "b": a.num(second), "b_day": a.day(second_day)}
    if not a.admin:  # one plain sentence: what was wrong, what is right
        return _(
            "{name} {value} for {day} was wrong: the next reports from {whose} give {a} for {a_day} and {b} for {b_day}"
        ).format(name=a.name, value=a.num(a.value), day=a.day(a.as_of), whose=whose(a.data, a.language), **later)
    return _(
        "{name} {value} for {day} from {source} taken back: the next two reports ({a} for {a_day}, "
        "{b} for {b_day}) agree with each other and contradict it"
    ).format(name=a.name, value=a.num(a.value), day=a.day(a.as_of), source=a.data.get("source", ""), **later)


def _reported_delta(a: _Alert) -> str | None:
    reported, computed = a.data.get("reported"), a.data.get("computed")
    if reported is None or computed is None:
        return None
    return a._(
        "{name}: the report says {reported} in a day, but its total changed by {computed} ({old} → {new})"
    ).format(
        name=a.name,
        reported=a.delta(reported),
        computed=a.delta(computed),
        old=a.num(a.value - computed),
        new=a.num(a.value),
    )


def _disagreement(a: _Alert) -> str | None:
    said_by = disagreeing(a.data)
    if len(said_by) < 2:
        return None
    (first, first_value), (second, second_value) = said_by[:2]
    return a._("{name} for {day}: {a} says {a_value}, {b} says {b_value}").format(
        name=a.name, day=a.day(a.as_of), a=first, a_value=a.num(first_value), b=second, b_value=a.num(second_value)
    )


# each rule's ways of saying an alert, the first that has words for its data wins
_SAYINGS: dict[str, tuple[Callable[[_Alert], str | None], ...]] = {
    "milestone": (_milestone_late, _milestone),
    "approaching": (_approaching,),
    "spike": (_spike,),
    "record": (_record,),
    "correction": (_correction,),
    "guard": (_discarded, _retracted),
    "reported_delta": (_reported_delta,),
    "disagreement": (_disagreement,),
}


def say(rule: str, metric: str, as_of: dt.date, value: int, data: dict[str, Any], language: str = "en") -> str | None:
    """An alert for readers, from its data (None: the rule has no words of its own here): whose
    figures in words (``whose``), never a source's id."""
    return _said(rule, _Alert(metric, as_of, value, data, language, admin=False))


def say_to_admins(
    rule: str, metric: str, as_of: dt.date, value: int, data: dict[str, Any], language: str = "en"
) -> str | None:
    """An alert in the admins' words (the rules' English ``message``, the console, webhooks, the
    Telegram admins), which name the sources by id and the guard's reasons. The notices only admins
    get (``models.ADMIN_ONLY``) have only those."""
    return _said(rule, _Alert(metric, as_of, value, data, language, admin=True))


def _said(rule: str, alert: _Alert) -> str | None:
    for saying in _SAYINGS.get(rule, ()):
        if (text := saying(alert)) is not None:
            return text
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
