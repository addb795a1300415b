"""The General Staff's daily "total combat losses of the enemy" report, English and Ukrainian.

Reads every form the report has taken (``tests/genstaff_cases.py`` holds one case of each, most
of them as the publishers served them):

* 2022 mil.gov.ua posts, one ``<p>`` per line, "from 24.02 to DD.MM" (no year);
* 2023 kmu.gov.ua pages, a ``<li>`` per category, "from 24.02.2022 to DD.MM.YYYY";
* the early-2024 bilingual form: ``особового складу / personnel ‒ близько/ about 403720(+1290) осіб / persons,``;
* Telegram reposts (emoji, bullets, hashtags, zero deltas left out) and aggregator lists with a
  date line per day;
* the 2025 one-line news form with thousands separators (``1,002,690``, ``1 002 690``);
* the 2025–26 mod.gov.ua forms: "… as of April 12, 2026", "Бойові втрати ворога на 5 лютого
  2026 року", "станом на 12.04.2026"; ``personnel: about 1 226 420 (+830) persons;`` with a
  colon, or the label on its own line (``Personnel:``) and the figure on the next;
* mod.gov.ua's 2026 pages: "Combat losses of the enemy as of …", "Total russian combat losses in
  Ukraine as of …", a ``<li>label ‒ total (+change);</li>`` bullet per category with the 2026
  English labels ("air defense assets", "UAVs (operational-tactical level)", "unmanned ground
  vehicles"), and a title "… over the last day: 880 persons, …" with no date (the page is then
  dated by its publication).

A line of the day's numbers — "Total russian military losses on April 11, 2026: 1,070 personnel,
2,081 UAVs.", "Загальні втрати росіян за минулу добу: …" — is never read as totals and never starts
a report, wherever it stands (``_DAY_SUMMARY``).

A line that cannot be read is skipped and logged; it never ends the report. Each document gets
a verdict (``models.Reading``): a report, not a report, or a broken report — one that looks like
a loss report but gives fewer than the core metrics.

Metric names are stable across the years although the report's categories changed:

* ``vehicles`` — "vehicles and fuel tanks"; before 1 May 2022 the report listed "vehicles" and
  "fuel tanks" separately: their sum is kept under ``vehicles`` (the General Staff's own merge).
* ``warships`` — "warships / boats", earlier "boats / cutters".
* ``srbm_launchers`` — "mobile SRBM system", listed until April 2022 (frozen at 4); it was not
  merged into cruise missiles, so it keeps a name of its own.
* ``ground_robots`` — "ground robotic systems" ("unmanned ground vehicles" on mod.gov.ua's English
  pages), new in May 2026.

A label is matched against each metric's synonyms (``LABELS``), then by a close match for small
slips ("artilery systems"); only a label like none of them is a new category, kept under a
name derived from it (``laser_weapons``).
"""

from __future__ import annotations

import datetime as dt
import difflib
import logging
import re
from dataclasses import dataclass, field

from ..format import format_delta, format_number
from ..markup import clean_text
from ..models import REPORT_ZONE, Document, Figure, Reading
from . import dates
from .numbers import NUMBER_PATTERN, parse_int

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
    words: tuple[str, ...] = ()  # the plain spellings, for the close-match rule


def _label(pattern: str, metric: str, *words: str, part: bool = False) -> _Label:
    return _Label(re.compile(pattern, re.I), metric, part, words)


# Each metric's labels, after normalisation (lower case, single spaces, no spaces around "/"),
# English and Ukrainian. First match wins, so compound labels ("vehicles and fuel tanks") come
# before their parts ("tanks"). ``words`` are what a slip is measured against.
LABELS = (
    _label(
        r"personnel|особов\w* склад\w*|військовослужбовц\w*|особовий склад",
        "personnel",
        "personnel",
        "особового складу",
        "особовий склад",
        "військовослужбовців",
    ),
    _label(
        r"vehicles and fuel tanks|automotive (?:equipment|vehicles) and fuel tanks|cars and (?:fuel )?(?:tanks|cisterns)",
        "vehicles",
        "vehicles and fuel tanks",
    ),
    _label(
        r"автомоб\w*(?: техн\w*)? (?:та|і) автоцистерн\w*",
        "vehicles",
        "автомобільної техніки та автоцистерн",
        "автомобілі та автоцистерни",
    ),
    _label(
        r"vehicles|automotive (?:equipment|vehicles)|military auto|автомоб\w*(?: техн\w*)?",
        "vehicles",
        "vehicles",
        "автомобільної техніки",
        part=True,
    ),
    _label(r"fuel tanks?|цистерн\w* з пмм|автоцистерн\w*", "vehicles", "fuel tanks", "цистерн з ПММ", part=True),
    _label(r"tanks?|танк\w*", "tanks", "tanks", "танків"),
    _label(
        r"apv|apc|afv|armou?red (?:combat|fighting|personnel) vehicles?|armou?red vehicles"
        r"|бойов\w* броньован\w* машин\w*|ббм",
        "armoured_vehicles",
        "armoured combat vehicles",
        "armored combat vehicles",
        "бойових броньованих машин",
    ),
    _label(
        r"artillery(?: systems?)?|артилерійськ\w* систем\w*|артсистем\w*|гармат\w*",
        "artillery",
        "artillery systems",
        "артилерійських систем",
    ),
    _label(
        r"mlrs|multiple launch rocket systems?|рсзв",
        "mlrs",
        "multiple launch rocket systems",
    ),
    _label(
        r"(?:anti-?)?aircraft warfare(?: systems?)?|air defen[cs]e(?: systems?| means| assets?)?|засоб\w* ппо|ппо",
        "air_defense",
        "anti-aircraft warfare systems",
        "air defense systems",
        "air defence systems",
        "air defense assets",
        "засоби ППО",
    ),
    _label(r"aircraft|(?:war)?planes?|літак\w*", "aircraft", "aircraft", "літаків"),
    _label(r"helicopters?|гелікоптер\w*|вертол\w*", "helicopters", "helicopters", "гелікоптерів"),
    _label(
        r"(?:uavs?|drones?|unmanned aerial vehicles?)(?: of)?(?: \(?operational[- ]tactical level\)?)?"
        r"|бпла(?: оперативно-тактичного рівня)?",
        "uav",
        "uav operational-tactical level",
        "uavs (operational-tactical level)",
        "uavs",
        "бпла оперативно-тактичного рівня",
    ),
    _label(r"cruise missiles?|крилат\w* ракет\w*", "cruise_missiles", "cruise missiles", "крилаті ракети"),
    _label(
        r"(?:war)?ships?(?:/| and | \()?(?:boats?|cutters?)?\)?|boats?(?:/cutters?)?"
        r"|кораб\w*(?:/| \(| та )катер\w*\)?|кораб\w*",
        "warships",
        "warships",
        "кораблі",
    ),
    _label(r"submarines?|підводн\w* човн\w*", "submarines", "submarines", "підводні човни"),
    _label(
        r"special (?:military )?equipment|спеціальн\w* техн\w*",
        "special_equipment",
        "special equipment",
        "спеціальна техніка",
    ),
    _label(
        r"mobile srbm systems?|пускові установки отрк/трк|пускових установок отрк/трк",
        "srbm_launchers",
        "mobile srbm system",
    ),
    _label(
        r"ground robotic (?:systems|complexes)|ground robots?|unmanned ground vehicles?|наземн\w* робот\w* комплекс\w*",
        "ground_robots",
        "ground robotic systems",
        "unmanned ground vehicles",
        "наземні робототехнічні комплекси",
    ),
)
_SPELLINGS = {word: entry for entry in LABELS for word in entry.words}
CLOSE_MATCH = 0.85  # how alike a slip must be to a known label (difflib's ratio)

# "combat losses" / "бойові втрати" and the date they run to: "from 24.02[.22] to DD.MM[.YY]",
# "as of April 12, 2026", "на 5 лютого 2026 року", "станом на 12.04.2026".
_LOSSES = r"(?:combat\s+losses|losses\s+of\s+the\s+enemy|бойов\w*\s+#?втрат\w*|втрат\w*\s+(?:ворога|противника))"
_HEADER = re.compile(
    _LOSSES + r"[^\n]*?(?:"
    r"\b(?:from|з)\s+24\.02(?:\.(?:20)?22)?\s+(?:to|по)\s+(?P<span>" + dates.DATE + r")"
    r"|(?:\bas\s+of|\bстаном\s+на|\bна)\s+(?P<asof>" + dates.DATE + r"))"
    r"(?:[^\n:]{0,40}:)?",  # "… were approximately:"
    re.I,
)
# A line of the DAY's numbers, not totals: mod.gov.ua's "Total russian military losses on April 11,
# 2026: 1,070 personnel, 2,081 UAVs." before the list, "The estimated combat losses of russians over
# the last day: …", "Загальні втрати росіян за 11 квітня 2026 року: …", "… за минулу добу: …". What
# marks it is in its lead-in (the text before its first colon or dash): losses "on <date>" /
# "за <date>" or a span of one day ("over the last day", "за добу", "протягом доби"), where a
# header of totals says "as of" / "на" / "станом на" / "from … to" / "з … по". Such a line is
# nobody's totals and starts no report, even when it reads like a header ("Бойові втрати ворога за
# минулу добу на 11 квітня …").
_DAY_SUMMARY = re.compile(
    r"\b(?:over|in|during|for)\s+the\s+(?:last|past|previous)\s+(?:day|24\s+hours)\b|\bper\s+day\b"
    r"|\blosses\b.*?\b(?:on|for)\s+" + dates.DATE + r"|\bза\s+(?:минулу\s+|останню\s+|попередню\s+)?добу\b"
    r"|\b(?:протягом|упродовж|впродовж)\s+(?:минулої\s+|останньої\s+)?доби\b|\bминулої\s+доби\b"
    r"|\bвтрат\w*\b.*?\bза\s+" + dates.DATE,
    re.I,
)
_LEAD_IN = re.compile(r"[^:‒–—]*")


def _day_summary(line: str) -> bool:
    """A line of the day's numbers (see ``_DAY_SUMMARY``): its lead-in names one day's losses."""
    return _DAY_SUMMARY.search(_LEAD_IN.match(line).group(0)) is not None


_DATE_LINE = re.compile(r"(?P<d>\d{1,2})\.(?P<m>\d{1,2})\.(?P<y>\d{4})")
_SEPARATOR = r"\s*(?:[‒–—:]|(?<=\s)-|-(?=\s))\s*"
_QUALIFIER = r"(?:about|approximately|approx\.|more than|over|nearly|близько|понад|майже|приблизно|ліквідовано)"
_QUALIFIERS = rf"(?:{_QUALIFIER}\s*(?:/\s*)?)*"
_LABEL = r"[\W_]*?(?P<label>[^\W\d_][^\d:‒–—]*?)"
_FIGURE = _QUALIFIERS + r"(?P<num>" + NUMBER_PATTERN + r")(?P<tail>.*)"
_ITEM = re.compile(_LABEL + _SEPARATOR + _FIGURE, re.I)
_VALUE_LINE = re.compile(r"[\W_]*?" + _FIGURE, re.I)  # the figure alone, under a label line
_LABEL_LINE = re.compile(_LABEL + r"\s*(?P<colon>:)?", re.I)  # "Personnel:" alone on its line
# "(+1,130)", "(-2)", and "(+)": a delta printed without its number is unknown, not 0.
_DELTA = re.compile(r"\(\s*(?:(?P<delta>[+\-−–]?\s*" + NUMBER_PATTERN + r")|(?P<blank>[+\-−–]?))\s*\)")
# A line shaped like a category ("vehicles and fuel tanks ‒ (+2).") whose number is missing.
_ITEM_LIKE = re.compile(_LABEL + _SEPARATOR + r".{0,30}", re.I)
# Items on one line ("personnel ‒ about 1,002,690 (+1,130) persons, tanks ‒ 10,937 (+3), …") are
# split after a comma, semicolon or full stop followed by a space and a letter, and after a
# closing bracket followed by another category ("warships / boats ‒ 15 (+0) vehicles … – 3681").
_ITEM_SPLIT = re.compile(
    r"(?<=[,;.])\s+(?=[^\W\d_])|(?<=\))\s+(?=[^\W\d_][^\d,;:‒–—]{0,60}?" + _SEPARATOR + _QUALIFIERS + r"\d)", re.I
)


@dataclass
class _Item:
    metric: str
    value: int
    delta: int | None
    part: bool
    known: bool  # a category of LABELS, not a name derived from a new label
    delta_blank: bool = False  # printed "(+)": the day's change is unknown


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


def _normalise(label: str) -> str:
    return re.sub(r"\s*/\s*", "/", " ".join(label.lower().split())).strip(" .,:;*#•-")


def known_label(label: str) -> _Label | None:
    """The category a label names: by its synonyms, either side of a bilingual "uk / en" label, or a close match."""
    norm = _normalise(label)
    candidates = [norm, *(part.strip() for part in norm.split("/"))]
    for candidate in candidates:
        for entry in LABELS:
            if entry.pattern.fullmatch(candidate):
                return entry
    for candidate in candidates:
        if len(candidate) < 5:
            continue
        close = difflib.get_close_matches(candidate, _SPELLINGS, n=1, cutoff=CLOSE_MATCH)
        if close:
            return _SPELLINGS[close[0]]
    return None


def _metric_for(label: str) -> tuple[str, bool, bool]:
    """(metric, part of a sum, known category) for a label."""
    entry = known_label(label)
    if entry is not None:
        return entry.metric, entry.part, True
    derived = re.sub(r"[^a-z0-9]+", "_", _normalise(label).translate(_TRANSLIT)).strip("_")
    return derived, False, False


def _label_shaped(label: str) -> bool:
    """Short enough to be a category, not a sentence: each side of a bilingual label at most 7 words."""
    sides = label.split("/")
    return len(label) <= 140 and all(len(side) <= 60 and len(side.split()) <= 7 for side in sides)


def _parse_item(text: str) -> _Item | None:
    m = _ITEM.fullmatch(text)
    if not m:
        return None
    label = m["label"].strip()
    if not _label_shaped(label):
        return None
    tail = m["tail"]
    delta, blank = None, False
    d = _DELTA.search(tail)
    if d:
        if d["delta"] is not None:
            delta = parse_int(d["delta"])
        else:
            blank = True
        tail = tail[: d.start()] + tail[d.end() :]
    metric, part, known = _metric_for(label)
    if not metric:
        return None
    # What follows the figure: a unit ("осіб", "од", "persons were liquidated"), and for a known
    # category perhaps a clause after a comma ("близько 18000 осіб, 460 полонених").
    head = re.split(r"[,;]", tail, maxsplit=1)[0] if known else tail
    if re.search(r"\d", head) or len(head) > 60:
        return None  # more numbers right after the figure: not a report line
    return _Item(metric, parse_int(m["num"]), delta, part, known, blank)


@dataclass
class _Report:
    as_of: dt.date | None  # None: no header; dated by the publication if it proves to be a full report
    headed: bool = True
    items: dict[str, list[_Item]] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)  # lines that look like categories but could not be read
    categories: int = 0  # category lines seen, read or not

    @property
    def name(self) -> str:
        return f"report of {self.as_of}" if self.as_of else "a list without a report header"

    def add(self, item: _Item, where: str) -> None:
        seen = self.items.setdefault(item.metric, [])
        if seen and not (item.part and all(i.part for i in seen)):
            before = sum(i.value for i in seen)
            if item.delta == before:
                # What came first was the day's number (a summary line in a wording _DAY_SUMMARY
                # does not know yet): this line prints it as its change, beside the total.
                log.warning(
                    "%s: %s gives %s %s and then %s (%s): kept the total",
                    where,
                    self.name,
                    item.metric,
                    format_number(before),
                    format_number(item.value),
                    format_delta(item.delta),
                )
                seen[:] = [item]
                return
            log.warning("%s: %s names %s twice; kept the first", where, self.name, item.metric)
            return
        seen.append(item)

    @property
    def missing(self) -> list[str]:
        return [m for m in CORE_METRICS if m not in self.items]

    def looks_like_report(self) -> bool:
        return (self.headed and self.categories >= 1) or self.categories >= 3

    def figures(self) -> list[Figure]:
        assert self.as_of is not None
        # Reports that print "(+N)" leave it out where N is 0 (the Telegram and aggregator form).
        printed = any(i.delta is not None for parts in self.items.values() for i in parts)
        figures = []
        for metric, parts in self.items.items():
            deltas = [0 if i.delta is None and printed and not i.delta_blank else i.delta for i in parts]
            delta = None if None in deltas else sum(deltas)
            figures.append(
                Figure(metric=metric, as_of=self.as_of, value=sum(i.value for i in parts), reported_delta=delta)
            )
        return figures


def _header_date(line: str, reference: dt.date, where: str) -> tuple[re.Match | None, dt.date | None]:
    header = _HEADER.search(line)
    if not header:
        return None, None
    try:
        return header, dates.parse(header["span"] or header["asof"], reference)
    except ValueError:
        log.warning("%s: report header with an impossible date: %r", where, header.group(0))
        return header, None


def _reports(text: str, reference: dt.date, where: str, titled: dt.date | None = None) -> list[_Report]:
    """The report blocks of a text: each header or date line starts one; lines before any, a headerless one.

    ``titled``: the day the document's title names. Until its report has a category, a header
    line of another day (a link to another day's report: a sidebar, "read also") starts none.
    """
    blocks = _Blocks(reference, where, titled)
    for line in clean_text(text).splitlines():
        blocks.read(line)
    return blocks.reports


class _Blocks:
    """A text read line by line into report blocks (``_reports``)."""

    def __init__(self, reference: dt.date, where: str, titled: dt.date | None) -> None:
        self.reference, self.where, self.titled = reference, where, titled
        self.current: _Report | None = _Report(None, headed=False)  # None: lines of an impossible date
        self.reports: list[_Report] = [self.current]
        self.ended = False  # trailer text follows the list: only known categories count from here on
        self.pending: str | None = None  # a label alone on its line ("Personnel:"); its figure is on the next

    def read(self, line: str) -> None:
        if _day_summary(line):
            self.pending = None  # the day's numbers, not totals: neither figures nor a report of their own
            return
        body = line
        header, day = _header_date(line, self.reference, self.where)
        date_line = None if header else _DATE_LINE.fullmatch(line)
        if header or date_line:
            if not self._start(day if header else _date_line_day(date_line, self.reference)):
                return
            body = line[header.end() :] if header else ""
        if self.current is None or not body.strip():
            return
        if self.pending is not None and _VALUE_LINE.fullmatch(body):
            body = f"{self.pending} ‒ {body}"
        self.pending = None
        if not self._items(body, self.current) and not header:
            self._other(body, self.current)

    def _start(self, day: dt.date | None) -> bool:
        """A header or date line: a new block begins, unless it is a link to another day's report
        (False: the rest of the line is not read)."""
        if day is None:
            self.current = None  # an impossible date: its lines are nobody's
            return False
        current = self.current
        if self.titled and current is not None and current.as_of == self.titled != day and not current.categories:
            return False  # another day's title between the page's header and its list: a link
        self.current = _Report(day)
        self.reports.append(self.current)
        self.ended, self.pending = False, None
        return True

    def _items(self, body: str, current: _Report) -> bool:
        """The categories the line gives, added to the block (False: none)."""
        parts = _ITEM_SPLIT.split(body.strip())
        parsed = [i for i in (_parse_item(part) for part in parts) if i is not None]
        if self.ended:
            parsed = [i for i in parsed if i.known and i.metric not in current.items]
        for item in parsed:
            current.categories += 1
            current.add(item, self.where)
        return bool(parsed)

    def _other(self, body: str, current: _Report) -> None:
        """A line with no category read: a label whose figure follows, a line that could not be
        read, or the trailer text after the list."""
        label_line = _LABEL_LINE.fullmatch(body)
        if label_line and (label_line["colon"] or known_label(label_line["label"])):
            label = label_line["label"].strip()
            if _label_shaped(label) and (not self.ended or known_label(label)):
                self.pending = label
                return
        like = _ITEM_LIKE.fullmatch(body)
        known = like is not None and known_label(like["label"]) is not None
        if like and (known or not (self.ended or not current.items)):
            current.categories += 1 if known else 0
            current.skipped.append(body)
            log.warning("%s: %s has a line that could not be read: %r", self.where, current.name, body)
            return
        if current.items:
            self.ended = True  # trailer text: what follows is not the list, unless it names a known category


def _date_line_day(date_line: re.Match, reference: dt.date) -> dt.date | None:
    try:
        return dates.resolve(int(date_line["d"]), int(date_line["m"]), date_line["y"], reference)
    except ValueError:
        return None


def read_text(
    text: str, published: dt.date | None = None, where: str = "text", titled: dt.date | None = None
) -> Reading:
    """The figures of every report in ``text``, and the verdict on it (see ``models.Reading``);
    ``titled``, the day the document's title names (``_reports``)."""
    reference = published or dt.datetime.now(REPORT_ZONE).date()
    verdict = _Verdict()
    for report in _reports(text, reference, where, titled):
        if report.looks_like_report() and (report.headed or verdict.dated(report, published)):
            verdict.add(report, where)
    return verdict.reading()


@dataclass
class _Verdict:
    """What the report blocks of a text add up to (``read_text``)."""

    figures: list[Figure] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    coverage: str = "complete"
    found: bool = False
    broken: bool = False

    def dated(self, report: _Report, published: dt.date | None) -> bool:
        """A list without a report header: dated by the publication, if it is a whole report (False: not one)."""
        if report.missing:
            return False  # a few category-like lines in an ordinary text: not a report
        if published is None:
            self.problems.append("a list of losses without a date")
            self.broken = True
            return False
        report.as_of = published  # the header is elsewhere (an image, a title in another form)
        return True

    def add(self, report: _Report, where: str) -> None:
        self.found = True
        missing = report.missing
        if missing:
            self.broken = True
            self.problems.append(f"report of {report.as_of}: missing {', '.join(missing)}")
            log.warning("%s: report of %s parsed only partly: missing %s", where, report.as_of, ", ".join(missing))
        if report.skipped:
            self.problems.append(f"report of {report.as_of}: {len(report.skipped)} line(s) not read")
        if not report.items:
            self.coverage = "unread"
        elif (missing or report.skipped) and self.coverage == "complete":
            self.coverage = "partial"
        self.figures.extend(report.figures())

    def reading(self) -> Reading:
        if self.broken:
            return Reading(self.figures, "broken", self.coverage if self.found else "unread", tuple(self.problems))
        if not self.found:
            return Reading([], "not_report", "")
        return Reading(self.figures, "report", self.coverage, tuple(self.problems))


def extract_text(text: str, published: dt.date | None = None, where: str = "text") -> list[Figure]:
    """All figures of every report in ``text``; [] when it is not a loss report."""
    return read_text(text, published, where).figures


def _header_day(text: str, reference: dt.date, where: str) -> dt.date | None:
    """The day the first report header of ``text`` names (a day summary shaped like one is none)."""
    for line in clean_text(text).splitlines():
        if not _day_summary(line):
            header, day = _header_date(line, reference, where)
            if header:
                return day
    return None


def read(document: Document) -> Reading:
    """A feed item, page or post: its report, if it is one. The date may be only in its title."""
    where = f"{document.source} item {document.guid}"
    reference = document.day or dt.datetime.now(REPORT_ZONE).date()
    text = document.text
    titled = _header_day(document.title, reference, where)
    if titled and not _header_day(text, reference, where):
        text = document.title + "\n" + text  # the date is only in the title
    return read_text(text, document.day, where, titled)


def extract(document: Document) -> list[Figure]:
    """Figures of a General Staff report in a feed item; [] for any other post."""
    return read(document).figures
