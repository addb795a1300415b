"""The General Staff's daily "total combat losses of the enemy" report, English and Ukrainian.

Reads every published variant we have seen: mil.gov.ua posts (one ``<p>`` per line), the
Telegram reposts (emoji, bullets, hashtags), aggregator lists with a date line per day, and the
2025 one-line news form with thousands separators. See ``tests/fixtures/genstaff_posts``.

Metric names are stable across the years although the report's categories changed:

* ``vehicles`` — "vehicles and fuel tanks"; before 1 May 2022 the report listed "vehicles" and
  "fuel tanks" separately: their sum is kept under ``vehicles`` (the General Staff's own merge).
* ``warships`` — "warships / boats", earlier "boats / cutters".
* ``srbm_launchers`` — "mobile SRBM system", listed until April 2022 (frozen at 4); it was not
  merged into cruise missiles, so it keeps a name of its own.
* ``ground_robots`` — "ground robotic systems", new in May 2026.

A category we do not know yet is kept under a name derived from its label (``laser_weapons``).
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from dataclasses import dataclass

from ..models import Document, Figure
from .numbers import NUMBER_PATTERN, clean_text, parse_int

log = logging.getLogger("tallywatch.extract")

METRICS = (
    "personnel",
    "tanks",
    "armoured_vehicles",
    "artillery",
    "mlrs",
    "air_defense",
    "aircraft",
    "helicopters",
    "uav",
    "cruise_missiles",
    "warships",
    "submarines",
    "vehicles",
    "special_equipment",
    "ground_robots",
)
# Every daily report since 2022 names these (the first nine); one missing means the text was cut or changed.
CORE_METRICS = METRICS[:9]


@dataclass(frozen=True)
class _Label:
    pattern: re.Pattern[str]
    metric: str
    part: bool = False  # one of several lines that add up to the metric (the 2022 split categories)


def _label(pattern: str, metric: str, part: bool = False) -> _Label:
    return _Label(re.compile(pattern, re.I), metric, part)


# Labels after normalisation (lower case, single spaces, no spaces around "/"). First match wins,
# so compound labels ("vehicles and fuel tanks") come before their parts ("tanks").
LABELS = (
    _label(r"personnel|особов\w* склад\w*", "personnel"),
    _label(r"vehicles and fuel tanks|automotive (?:equipment|vehicles) and fuel tanks", "vehicles"),
    _label(r"автомоб\w*(?: техн\w*)? (?:та|і) автоцистерн\w*", "vehicles"),
    _label(r"vehicles|automotive (?:equipment|vehicles)|military auto|автомоб\w*(?: техн\w*)?", "vehicles", part=True),
    _label(r"fuel tanks?|цистерн\w* з пмм|автоцистерн\w*", "vehicles", part=True),
    _label(r"tanks?|танк\w*", "tanks"),
    _label(
        r"apv|apc|afv|armou?red (?:combat|fighting|personnel) vehicles?|armou?red vehicles"
        r"|бойов\w* броньован\w* машин\w*|ббм",
        "armoured_vehicles",
    ),
    _label(r"artillery(?: systems?)?|артилерійськ\w* систем\w*|артсистем\w*|гармат\w*", "artillery"),
    _label(r"mlrs|multiple launch rocket systems?|рсзв", "mlrs"),
    _label(
        r"anti-aircraft warfare(?: systems?)?|air defen[cs]e(?: systems?| means)?|засоб\w* ппо|ппо",
        "air_defense",
    ),
    _label(r"aircraft|(?:war)?planes?|літак\w*", "aircraft"),
    _label(r"helicopters?|гелікоптер\w*|вертол\w*", "helicopters"),
    _label(
        r"(?:uavs?|drones?)(?: of)?(?: operational[- ]tactical level)?|бпла(?: оперативно-тактичного рівня)?",
        "uav",
    ),
    _label(r"cruise missiles?|крилат\w* ракет\w*", "cruise_missiles"),
    _label(
        r"(?:war)?ships?(?:/| and | \()?(?:boats?|cutters?)?\)?|boats?/cutters?"
        r"|кораб\w*(?:/| \(| та )катер\w*\)?|кораб\w*",
        "warships",
    ),
    _label(r"submarines?|підводн\w* човн\w*", "submarines"),
    _label(r"special (?:military )?equipment|спеціальн\w* техн\w*", "special_equipment"),
    _label(r"mobile srbm systems?|пускові установки отрк/трк|пускових установок отрк/трк", "srbm_launchers"),
    _label(r"ground robotic (?:systems|complexes)|наземн\w* робот\w* комплекс\w*", "ground_robots"),
)

_HEADER = re.compile(
    r"(?:combat losses of the enemy|бойові\s+#?втрати\s+(?:противника|ворога))"
    r"[^\n:]*?\b(?:from|з)\s+24\.02(?:\.(?:20)?22)?\s+(?:to|по)\s+"
    r"(?P<d>\d{1,2})\.(?P<m>\d{1,2})(?:\.(?P<y>\d{4}|\d{2}))?"
    r"[^\n:]*:?",
    re.I,
)
_DATE_LINE = re.compile(r"(?P<d>\d{1,2})\.(?P<m>\d{1,2})\.(?P<y>\d{4})")
_SEPARATOR = r"\s*(?:[‒–—]|(?<=\s)-|-(?=\s))\s*"
_QUALIFIERS = (
    r"(?:(?:about|approximately|approx\.|more than|over|nearly|близько|понад|майже|приблизно|ліквідовано)\s*)*"
)
_ITEM = re.compile(
    r"[\W_]*?(?P<label>[^\W\d_][^\d:]*?)" + _SEPARATOR + _QUALIFIERS + r"(?P<num>" + NUMBER_PATTERN + r")(?P<tail>.*)",
    re.I,
)
_DELTA = re.compile(r"\(\s*(?P<delta>[+\-−–]?\s*" + NUMBER_PATTERN + r")\s*\)")
# A line shaped like a category ("vehicles and fuel tanks ‒ (+2).") whose number is missing.
_ITEM_LIKE = re.compile(r"[\W_]*?[^\W\d_][^\d:]{0,60}?" + _SEPARATOR + r".{0,30}")
# Items on one line ("personnel ‒ about 1,002,690 (+1,130) persons, tanks ‒ 10,937 (+3), …")
# are split after a comma, semicolon or full stop followed by a space and a letter.
_ITEM_SPLIT = re.compile(r"(?<=[,;.])\s+(?=[^\W\d_])")


@dataclass
class _Item:
    metric: str
    value: int
    delta: int | None
    part: bool


# Ukrainian → Latin by the official 2010 table (Cabinet of Ministers resolution 55), for derived names.
_TRANSLIT = str.maketrans(
    {
        **dict(zip("абвгґдезиійклмнопрстуф", "abvhgdezyiiklmnoprstuf", strict=True)),
        "є": "ie",
        "ж": "zh",
        "ї": "i",
        "х": "kh",
        "ц": "ts",
        "ч": "ch",
        "ш": "sh",
        "щ": "shch",
        "ю": "iu",
        "я": "ia",
        "ь": "",
        "'": "",
        "’": "",
        "ʼ": "",
    }
)


def _metric_for(label: str) -> tuple[str, bool]:
    norm = re.sub(r"\s*/\s*", "/", " ".join(label.lower().split())).strip(" .,:;*#•")
    for candidate in (norm, *norm.split("/")):  # "особового складу / personnel": either side
        for entry in LABELS:
            if entry.pattern.fullmatch(candidate):
                return entry.metric, entry.part
    derived = re.sub(r"[^a-z0-9]+", "_", norm.translate(_TRANSLIT)).strip("_")
    return derived, False


def _parse_item(text: str) -> _Item | None:
    m = _ITEM.fullmatch(text)
    if not m:
        return None
    label = m["label"].strip()
    if len(label) > 60 or len(label.split()) > 7:
        return None  # a sentence, not a category
    tail = m["tail"]
    delta = None
    d = _DELTA.search(tail)
    if d:
        delta = parse_int(d["delta"])
        tail = tail[: d.start()] + tail[d.end() :]
    if re.search(r"\d", tail) or len(tail) > 60:
        return None  # more numbers after the figure: not a report line
    metric, part = _metric_for(label)
    if not metric:
        return None
    return _Item(metric, parse_int(m["num"]), delta, part)


def _resolve_date(d: str, m: str, y: str | None, reference: dt.date) -> dt.date:
    day, month = int(d), int(m)
    if y:
        year = int(y) + (2000 if len(y) == 2 else 0)
        return dt.date(year, month, day)
    candidate = dt.date(reference.year, month, day)
    if candidate > reference + dt.timedelta(days=2):  # "to 31.12" published on 1 January
        candidate = dt.date(reference.year - 1, month, day)
    return candidate


class _Report:
    def __init__(self, as_of: dt.date) -> None:
        self.as_of = as_of
        self.items: dict[str, list[_Item]] = {}

    def add(self, item: _Item, where: str) -> None:
        seen = self.items.setdefault(item.metric, [])
        if seen and not (item.part and all(i.part for i in seen)):
            log.warning("%s: report of %s names %s twice; kept the first", where, self.as_of, item.metric)
            return
        seen.append(item)

    def figures(self, where: str) -> list[Figure]:
        missing = [m for m in CORE_METRICS if m not in self.items]
        if missing and self.items:
            log.warning(
                "%s: report of %s parsed only partly: missing %s",
                where,
                self.as_of,
                ", ".join(missing),
            )
        # Reports that print "(+N)" leave it out where N is 0 (the Telegram and aggregator form).
        printed = any(i.delta is not None for parts in self.items.values() for i in parts)
        figures = []
        for metric, parts in self.items.items():
            deltas = [0 if i.delta is None and printed else i.delta for i in parts]
            delta = None if None in deltas else sum(deltas)
            figures.append(Figure(metric, self.as_of, sum(i.value for i in parts), delta))
        return figures


def extract_text(text: str, published: dt.date | None = None, where: str = "text") -> list[Figure]:
    """All figures of every report in ``text``; [] when it is not a loss report."""
    reference = published or dt.datetime.now(dt.UTC).date()
    reports: list[_Report] = []
    current: _Report | None = None
    for line in clean_text(text).splitlines():
        body = line
        header = _HEADER.search(line)
        if header:
            try:
                current = _Report(_resolve_date(header["d"], header["m"], header["y"], reference))
            except ValueError:
                log.warning("%s: report header with an impossible date: %r", where, header.group(0))
                current = None
                continue
            reports.append(current)
            body = line[header.end() :]
        elif _DATE_LINE.fullmatch(line):
            dm = _DATE_LINE.fullmatch(line)
            try:
                current = _Report(_resolve_date(dm["d"], dm["m"], dm["y"], reference))
            except ValueError:
                current = None
                continue
            reports.append(current)
            continue
        if current is None or not body.strip():
            continue
        items = [_parse_item(part) for part in _ITEM_SPLIT.split(body.strip())]
        parsed = [i for i in items if i is not None]
        if not parsed:
            if header:
                continue
            if _ITEM_LIKE.fullmatch(body):
                log.warning("%s: report of %s has a line without a figure: %r", where, current.as_of, body)
                continue
            current = None  # the list has ended: trailer lines follow
            continue
        for item in parsed:
            current.add(item, where)
    figures: list[Figure] = []
    for report in reports:
        figures.extend(report.figures(where))
    return figures


def extract(document: Document) -> list[Figure]:
    """Figures of a General Staff report in a feed item; [] for any other post."""
    published = document.published.date() if document.published else None
    where = f"{document.source} item {document.guid}"
    text = document.text
    if not _HEADER.search(clean_text(text)) and _HEADER.search(clean_text(document.title)):
        text = document.title + "\n" + text  # the date is only in the title
    return extract_text(text, published, where)
