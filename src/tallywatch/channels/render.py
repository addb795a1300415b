"""Events as text for people: a console line, and Telegram HTML in English or Ukrainian.

Rules write their message in English; for Ukrainian readers the common alerts are put in
Ukrainian from the event's data, and numbers are grouped the Ukrainian way (1 002 690). Every
piece of text that came from a feed or a user is HTML-escaped; a message never exceeds the
channel's length (``split``).
"""

from __future__ import annotations

import datetime as dt
import functools
import html
import re
from collections.abc import Iterable, Mapping
from typing import Any

from ..detect import report as reports
from ..detect.wording import crossing, metric_name, say, say_to_admins
from ..format import format_date, format_delta, format_number
from ..i18n import N_, capitalized, gettext, languages
from ..models import Event

# the categories short enough for a phone's line of 30 characters, beside a total and a change
SHORT_NAMES = {  # msgids, as the names below
    "personnel": N_("Personnel"),
    "tanks": N_("Tanks"),
    "armoured_vehicles": N_("Armoured veh."),
    "artillery": N_("Artillery"),
    "mlrs": N_("MLRS"),
    "air_defense": N_("Air defence"),
    "aircraft": N_("Aircraft"),
    "helicopters": N_("Helicopters"),
    "uav": N_("UAVs"),
    "cruise_missiles": N_("Missiles"),
    "warships": N_("Warships"),
    "submarines": N_("Submarines"),
    "vehicles": N_("Vehicles"),
    "special_equipment": N_("Special eqp."),
    "ground_robots": N_("Ground robots"),
    "srbm_launchers": N_("SRBM launch."),
}
SHORT_LIMIT = 13  # characters of a short name
# what people call the categories, beyond their names in either language (lower case)
ALIASES = {
    "drone": "uav",
    "drones": "uav",
    "uav": "uav",
    "дрони": "uav",
    "безпілотники": "uav",
    "air defense": "air_defense",
    "air defence": "air_defense",
    "troops": "personnel",
    "soldiers": "personnel",
    "особовий": "personnel",
    "apv": "armoured_vehicles",
    "apvs": "armoured_vehicles",
    "armoured vehicles": "armoured_vehicles",
    "armored vehicles": "armoured_vehicles",
    "artillery": "artillery",
    "артилерія": "artillery",
    "missiles": "cruise_missiles",
    "ships": "warships",
    "кораблі": "warships",
    "cars": "vehicles",
    "trucks": "vehicles",
    "автомобілі": "vehicles",
}

ICONS = {
    "milestone": "🏁",
    "approaching": "⏳",
    "spike": "📈",
    "record": "🏆",
    "correction": "✏️",
    "guard": "⚠️",
    "reported_delta": "ℹ️",
    "stale": "🔕",
    "stopped": "📭",
    "recovered": "🔔",
    "broken": "⛔",
    "repaired": "🔧",
    "disagreement": "⚖️",
    "broadcast": "📣",
    "report": "📋",
}

# whose figures these are, in the reader's language (``Source.publisher``: a key here, or words of
# the admin's own, said as they are)
PUBLISHERS = {"genstaff": N_("Russia's losses as reported by the General Staff of the Armed Forces of Ukraine")}
CREDITS = {"genstaff": N_("Figures: General Staff of the Armed Forces of Ukraine")}  # short: the card's foot
WORDS = {  # msgids
    "source": N_("Source: {publisher}"),
    "original": N_("original"),
    "report": N_("Russia's losses on {day}"),
    "day_of_war": N_("day {n} of the full-scale war"),
    "rank_first": N_("Personnel: the most in a day in a year."),
    "rank": N_("Personnel: the {rank} highest day in a year."),
    "revised": N_("✏️ Revised since it was first sent."),
}


def words(language: str) -> dict[str, str]:
    return {key: gettext(language, text) for key, text in WORDS.items()}


def line(event: Event) -> str:
    """``2025-06-12  personnel passed 1,000,000 — now 1,000,340 (+1,140 in a day)``"""
    return f"{event.as_of.isoformat()}  {event.message}"


PHONE = 30  # characters of a line a phone shows whole in Telegram's monospace
BRIEF = {"genstaff": N_("Per Ukraine's General Staff")}


def brief_credit(publisher: str, language: str = "en") -> str:
    """Whose figures, in a phone's line: ``Per Ukraine's General Staff``."""
    known = BRIEF.get(publisher)
    return gettext(language, known) if known else publisher


def change(delta: int | None, language: str = "en") -> str:
    return "" if delta is None else format_delta(delta, language)


def percent(fraction: float | None) -> str:
    """+4% / −12% / ±0% (the period against the one before); empty when there is none to compare."""
    if fraction is None:
        return ""
    rounded = round(fraction * 100)
    return "±0%" if rounded == 0 else f"{'+' if rounded > 0 else '−'}{abs(rounded)}%"


def average(per_day: float, language: str = "en") -> str:
    """1,160 / 7.4 / 0.3 — whole numbers from 10 up, one decimal below (a decimal comma in Ukrainian)."""
    if per_day >= 10:
        return format_number(round(per_day), language)
    text = f"{per_day:.1f}"
    return text.replace(".", ",") if language == "uk" else text


def phone_table(rows: Iterable[tuple[str, str, str]]) -> str:
    """Rows of (name, number, change) as aligned columns, none wider than ``PHONE`` characters
    (names clipped first)."""
    rows = list(rows)
    value_width = max((len(v) for _, v, _ in rows), default=0)
    change_width = max((len(c) for _, _, c in rows), default=0)
    name_width = min(max((len(n) for n, _, _ in rows), default=0), PHONE - value_width - change_width - 2)
    lines = []
    for name, value, delta in rows:
        name = name if len(name) <= name_width else name[: name_width - 1] + "."
        lines.append(f"{name.ljust(name_width)} {value.rjust(value_width)} {delta.rjust(change_width)}".rstrip())
    return "\n".join(lines)


def short_name(metric: str, language: str) -> str:
    """A category's name short enough for a phone's table (``SHORT_NAMES``, else clipped)."""
    short = SHORT_NAMES.get(metric)
    name = gettext(language, short) if short else metric_name(metric, language)
    name = capitalized(name)
    return name if len(name) <= SHORT_LIMIT else name[: SHORT_LIMIT - 1] + "."


def metric_named(words: str, metrics: Iterable[str]) -> str | None:
    """The category people mean by ``words`` — its key, its name in English or Ukrainian, its short
    name, or a common alias (``drones``, ``air defence``, ``особовий склад``) — among ``metrics``."""
    wanted = " ".join(words.lower().replace("_", " ").split()).rstrip(".")
    known = set(metrics)
    names: dict[str, str] = {}
    for metric in known:
        names[metric.replace("_", " ")] = metric
        for language in languages():
            names[metric_name(metric, language).lower()] = metric
            names[short_name(metric, language).lower().rstrip(".")] = metric
    for alias, metric in ALIASES.items():
        if metric in known:
            names.setdefault(alias, metric)
    # one tank, two UAVs: the singular and the plural of a name are the same category
    return names.get(wanted) or names.get(wanted + "s") or names.get(wanted.removesuffix("s"))


def localize_numbers(text: str, language: str) -> str:
    """1,002,690 → 1 002 690 (no-break spaces) for Ukrainian readers (only digit groups, not other commas)."""
    if language != "uk":
        return text
    return re.sub(r"(?<=\d),(?=\d{3}(?!\d))", "\u00a0", text)


def event_said(event: Event, language: str = "en", *, admin: bool = False) -> str:
    """An alert's sentence in the reader's language: worded from its data (``wording.say``; in the
    admins' words — the sources' ids — for ``admin``) or, for the kinds with no words of their own
    (the daemon's notices, a broadcast), its message with the numbers grouped as the language groups
    them. It opens with a capital letter, as a sentence does (the words start with a category's
    name, lower case mid-sentence: ``personnel``); a broadcast is the admin's words, as written."""
    words = say_to_admins if admin else say
    said = words(event.rule, event.metric, event.as_of, event.value, event.data, language)
    said = said or localize_numbers(event.message, language)
    return said if event.rule == "broadcast" else capitalized(said)


def alert_text(kept: Mapping[str, Any], as_of: dt.date, language: str = "en") -> str:
    """An alert kept as a dict of its fields (a daily report's standout, a digest's alert) in the
    reader's language, as ``event_said`` says an event (a value left out: 0)."""
    event = Event(
        key="",
        rule=kept["rule"],
        metric=kept["metric"],
        as_of=as_of,
        value=kept.get("value", 0),
        message=kept["message"],
        data=kept["data"],
    )
    return event_said(event, language)


def telegram_html(event: Event, language: str = "en", *, source: bool = True, admin: bool = False) -> str:
    """The alert as Telegram HTML: an icon and the date in bold, then the sentence (escaped; in the
    admins' words for ``admin``), then (``source``) whose figures they are and a link to the original
    (when the source gave one)."""
    if event.rule == "report":
        return report_html(event, language)
    body = event_said(event, language, admin=admin)
    when = format_date(event.as_of, language)
    icon = ICONS.get(event.rule, "•")
    text = f"{icon} <b>{when}</b>\n{html.escape(body, quote=False)}"
    said = source_line(event, language) if source else ""
    return f"{text}\n\n{said}" if said else text


def source_line(event: Event, language: str = "en") -> str:
    """``Russia's losses as reported by the General Staff … · original`` (HTML; the link only when
    the source gave an http(s) address); empty for events about the daemon itself."""
    publisher = event.data.get("publisher")
    if not publisher:
        return ""
    known = PUBLISHERS.get(publisher)
    said = gettext(language, known) if known else gettext(language, WORDS["source"]).format(publisher=publisher)
    text = html.escape(said, quote=False)
    link = event.data.get("link") or ""
    if re.match(r"https?://\S+$", link):
        text += f' · <a href="{html.escape(link, quote=True)}">{gettext(language, WORDS["original"])}</a>'
    return f"<i>{text}</i>"


def credit(publisher: str, language: str = "en") -> str:
    """Who counts the figures, short (plain text): ``Figures: General Staff of …``."""
    known = CREDITS.get(publisher)
    return gettext(language, known) if known else gettext(language, WORDS["source"]).format(publisher=publisher)


def _ordinal(n: int, language: str) -> str:
    if language == "uk":
        return str(n)
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def report_lines(event: Event, language: str = "en") -> list[tuple[str, str, str]]:
    """The report's table: (category, total, the day's change), personnel first, in the report's order."""
    return [
        (
            metric_name(f["metric"], language),
            gettext(language, "not yet confirmed") if f["value"] is None else format_number(f["value"], language),
            "" if f["delta"] is None else format_delta(f["delta"], language),
        )
        for f in event.data["figures"]
    ]


def report_title(event: Event, language: str = "en") -> str:
    """ "Russia's losses on 13 Jun 2025" """
    return words(language)["report"].format(day=format_date(event.as_of, language))


def war_day(event: Event, language: str = "en") -> str:
    """ "day 1,206 of the full-scale war" """
    n = event.data["day_of_war"]
    return words(language)["day_of_war"].format(n=format_number(n) if language == "en" else n)


def rank_line(event: Event, language: str = "en") -> str | None:
    """Personnel's rank among the last 365 days, when it is news (``report.notable_rank``)."""
    rank = reports.notable_rank(event.data)
    if not rank:
        return None
    key = "rank_first" if rank["rank"] == 1 else "rank"
    return words(language)[key].format(rank=_ordinal(rank["rank"], language), of=rank["of"])


def headline_lines(event: Event, language: str = "en") -> list[str]:
    """The milestones the report's day crossed, its first lines: ``1,000,000 — personnel passed 1 million``."""
    return [" — ".join(crossing(s["metric"], s["data"]["level"], language)) for s in reports.headlines(event.data)]


def report_html(event: Event, language: str = "en", limit: int = 1024) -> str:
    """The daily report as Telegram HTML (a caption: under 1,024 characters for the core report).

    The milestones crossed that day first, a bold line each; a title with the date and the day of
    the war; one line per category, the total and the day's change; the day's records, spikes and
    corrections, a line each, then personnel's rank when it is news; whose figures they are, and
    the link to the original. Within ``limit`` characters (a photo's caption): those lines are
    left out from the last, the rank after them, if need be — never the headline."""
    d, said = event.data, words(language)
    war = war_day(event, language)
    lines = [f"{ICONS['milestone']} <b>{html.escape(h, quote=False)}</b>" for h in headline_lines(event, language)]
    lines += [f"📋 <b>{html.escape(report_title(event, language), quote=False)}</b>", html.escape(war), ""]
    for name, value, change in report_lines(event, language):
        lines.append(f"{html.escape(capitalized(name))}: <b>{value}</b>" + (f" ({change})" if change else ""))
    standouts = [
        f"{ICONS.get(s['rule'], '•')} "
        + html.escape(
            alert_text(s, event.as_of, language),
            quote=False,
        )
        for s in reports.lines(d)
    ]
    rank = rank_line(event, language)
    ranked = [html.escape(rank)] if rank else []
    ending = [html.escape(said["revised"])] if d.get("version", 1) > 1 else []
    source = source_line(event, language)
    ending += [source] if source else []
    while True:
        parts = ["\n".join(lines)]
        parts += ["\n".join(standouts + ranked)] if standouts or ranked else []
        parts += ending
        text = "\n\n".join(parts)
        if len(text) <= limit or not (standouts or ranked):
            return text
        if standouts:
            standouts = standouts[:-1]
        else:
            ranked = []


_ATOM = re.compile(r"<[^<>]*>|&#?\w+;|.", re.S)  # a tag, an entity, or one character: never cut inside
_TAG = re.compile(r"<(/?)([a-zA-Z][\w-]*)")


def _after(stack: tuple[tuple[str, str], ...], atom: str) -> tuple[tuple[str, str], ...]:
    """The open tags (name, opening tag) once ``atom`` is passed."""
    tag = _TAG.match(atom) if atom.startswith("<") else None
    if tag is None:
        return stack
    closing, name = tag.groups()
    if not closing:
        return (*stack, (name.lower(), atom))
    names = [n for n, _ in stack]
    if name.lower() in names:
        cut = len(names) - 1 - names[::-1].index(name.lower())
        return stack[:cut] + stack[cut + 1 :]
    return stack


def _closing(stack: tuple[tuple[str, str], ...]) -> str:
    return "".join(f"</{name}>" for name, _ in reversed(stack))


def split(text: str, limit: int) -> list[str]:
    """Cut Telegram HTML into pieces of at most ``limit`` characters, at line breaks where possible.

    Never inside a tag or an entity (``&amp;``); a tag open at a cut is closed at the end of its
    piece and opened again at the start of the next, so every piece is HTML Telegram accepts.
    Cut at a line break, the break itself is left out (joined with ``\n`` the pieces give back
    the text when no tag spans the cut). A fan-out cuts the same text for every reader of a
    language: the last few cuts are remembered.
    """
    return list(_split(text, limit))


@functools.lru_cache(maxsize=32)
def _split(text: str, limit: int) -> tuple[str, ...]:
    atoms = _ATOM.findall(text)
    pieces: list[str] = []
    i, stack = 0, ()
    while True:
        body = "".join(opening for _, opening in stack)
        state, j, newline = stack, i, None  # newline: (atom index after it, open tags, length before it)
        while j < len(atoms):
            after = _after(state, atoms[j])
            if len(body) + len(atoms[j]) + len(_closing(after)) > limit and j > i:
                break
            if atoms[j] == "\n":
                newline = (j + 1, state, len(body))
            body += atoms[j]
            state, j = after, j + 1
        if j == len(atoms):
            pieces.append(body + _closing(state))
            return tuple(pieces)
        if newline is not None and newline[0] > i + 1:  # cut at the last line break
            j, state, length = newline
            body = body[:length]
        pieces.append(body + _closing(state))
        i, stack = j, state
