"""The rule engine: decides which figure enters a metric's series, and asks the rules about it.

Each stored ``Change`` goes through here (inside the ingest transaction):

* another source's figure for a day already in the series → the disagreement rule, and, if it
  agrees with a suspect value, that value is confirmed;
* a source revising its own figure → the old point is taken out and the new value placed as a
  new one (a correction event once it is accepted);
* a new day at the head of the series → the guard (``guard.verdict``): a figure whose printed
  change does not continue the last total, or an impossible change (a total going down, a rise
  far beyond anything recent), is held as *suspect*; so is, under ``[detect] confirm``, a figure
  no check could vouch for that would cross a milestone. The next report confirms it (it
  continues from it) or contradicts it (it continues from the last accepted value, and the
  suspect is discarded with one warning event); when the confirming reports agree with each
  other and contradict the last accepted value, that value is retracted. Only accepted points
  reach the step rules (milestone, spike, record, approaching, reported delta), so a typo never
  fires a milestone — the suspect state is stored, so not after a restart either;
* a day filled in behind newer ones → accepted if it fits between its neighbours, else
  discarded; only the milestone rule looks at it.

Windows are kept in memory per metric (``Window``) and rebuilt from the store after a revision
or a fill; ``forget()`` drops them all, e.g. when a transaction was rolled back.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable

from ..config import DEFAULT_PRIORITY, Config
from ..models import Change, Event, Step
from ..store import Store
from . import approaching, corrections, disagreement, milestones, records, spikes
from .guard import consistent, objection, plausible, verdict
from .window import Point, Window
from .wording import say

log = logging.getLogger("tallywatch.detect")

StepRule = Callable[[Step, Window], list[Event]]

# Rules that look at each accepted point, by name; adding one is adding one module and a line.
STEP_RULES: dict[str, StepRule] = {
    "reported_delta": corrections.reported_delta,
    "correction": corrections.went_down,
    "milestone": milestones.evaluate,
    "spike": spikes.evaluate,
    "record": records.evaluate,
    "approaching": approaching.evaluate,
}

# A count per day (a pattern metric of kind "daily") has no milestones, corrections or approaching
# levels of its own: only these rules look at it.
PER_DAY_RULES = ("spike", "record")


class Detector:
    def __init__(self, config: Config, store: Store) -> None:
        self.config = config
        self.store = store
        self._windows: dict[str, Window] = {}
        # per metric, the alerts of each day taken back (their keys): that day is unstable (``_unstable``)
        self._taken_back: dict[str, dict[dt.date, set[str]]] = {}
        # the days whose series changed since ``settled()`` was last asked (a figure accepted, held or
        # set aside): a held day's report is made when its figure is settled by a later batch
        self._touched: set[dt.date] = set()
        self.settled_quietly: set[dt.date] = set()  # ``settled()`` days of quiet batches, for the next live one
        self._rules = list(STEP_RULES.values())
        self._per_day_rules = [STEP_RULES[name] for name in PER_DAY_RULES]
        self._priorities = {source.name: source.priority for source in config.sources}

    def forget(self) -> None:
        self._windows.clear()
        self._taken_back.clear()
        self._touched.clear()

    def settled(self) -> set[dt.date]:
        """The days whose series changed since the last call (a figure accepted, held or set aside)."""
        days, self._touched = self._touched, set()
        return days

    def _retract(self, metric: str, day: dt.date, taken: list[tuple[int, str]]) -> None:
        """Take back stored events of ``metric`` and ``day`` (``Store.retract_events``): the day is unstable now."""
        if taken:
            self.store.retract_events([event_id for event_id, _ in taken])
            self._retracted(metric).setdefault(day, set()).update(key for _, key in taken)

    def _retracted(self, metric: str) -> dict[dt.date, set[str]]:
        found = self._taken_back.get(metric)
        if found is None:
            found = self._taken_back[metric] = self.store.retracted_keys(metric)
        return found

    def _put(self, metric: str, point: Point, status: str | None) -> None:
        self.store.set_status(metric, point.as_of, point.source, status)
        self._touched.add(point.as_of)

    def window(self, metric: str) -> Window:
        window = self._windows.get(metric)
        if window is None:
            window = Window(metric, self.config)
            for as_of, value, source, status, reported in self.store.series(metric):
                point = Point(as_of, value, source, reported)
                if status == "accepted":
                    window.push(point)
                else:
                    window.suspect = point
            self._windows[metric] = window
        return window

    def known(self, metric: str) -> bool:
        """Whether anything of the metric is stored yet (else this is its first import)."""
        window = self.window(metric)
        return bool(window.days) or window.suspect is not None

    def _rebuild(self, metric: str) -> Window:
        self._windows.pop(metric, None)
        return self.window(metric)

    # -- entry point ------------------------------------------------------------------------------

    def observe(self, change: Change) -> list[Event]:
        if change.kind == "unchanged":
            return []
        fig = change.figure
        window = self._windows.get(fig.metric) or self.window(fig.metric)
        point = Point(fig.as_of, fig.value, change.source, fig.reported_delta)
        last, suspect = window.last, window.suspect
        # a day after the series' head (each new report) has no point of its own in it yet
        held = None if last is not None and fig.as_of > last.as_of else window.points.get(fig.as_of)
        if held is None and suspect is not None and suspect.as_of == fig.as_of:
            held = suspect
        if held is not None and held.source != change.source:
            return self._second_source(window, held, point)
        if held is not None:  # the same source revised its figure for the day
            return self._revision(window, held, point)
        return self._place(window, point)

    # -- the cases --------------------------------------------------------------------------------

    def _second_source(self, window: Window, held: Point, point: Point) -> list[Event]:
        metric = window.metric
        events = disagreement.evaluate(
            metric, point.as_of, (held.source, held.value), (point.source, point.value), window.rules.disagreement
        )
        if window.suspect is held:
            guard = window.rules.guard
            # a suspect its own report vouched for (held only as far above the usual, not a digit away:
            # ``cold_ratio``) is not replaced by a source of no higher priority: the next report decides
            last = window.last
            vouched = (
                last is not None
                and consistent(last, held, window, guard)
                and abs(held.value - last.value) <= guard.cold_ratio * last.value
                and self._rank(held.source) <= self._rank(point.source)
            )
            if held.value != point.value and not vouched and verdict(window.last, point, window, guard) is not False:
                # the second source's figure checks out where the suspect did not: it takes the day
                log.info(
                    "%s %s: %s from %s replaces the suspect %s",
                    metric,
                    point.as_of,
                    f"{point.value:,}",
                    point.source,
                    f"{held.value:,}",
                )
                window.suspect = None
                self._put(metric, held, "discarded")
                discarded = corrections.discarded(metric, held, "second_source", point)
                return [*events, discarded, *self._place(window, point)]
            if disagreement.agree(held.value, point.value, window.rules.disagreement):
                log.info("%s %s: %s confirmed by %s", metric, held.as_of, f"{held.value:,}", point.source)
                window.suspect = None
                return events + self._accept_held(window, held)
        if point.value != held.value and self._rank(point.source) < self._rank(held.source):
            log.info(
                "%s %s: %s from %s replaces %s from %s (a source of higher priority)",
                metric,
                point.as_of,
                f"{point.value:,}",
                point.source,
                f"{held.value:,}",
                held.source,
            )
            self._put(metric, held, None)  # kept beside the series, as a second source's figure
            return events + self._replace(window, held, point)
        return events

    def _rank(self, source: str) -> int:
        """A source's priority: the lower, the more its figure is the one the rules see."""
        return self._priorities.get(source, DEFAULT_PRIORITY)

    def _revision(self, window: Window, held: Point, point: Point) -> list[Event]:
        """The source's figure for the day is now ``point`` (the store keeps the old one as a revision).

        Once the new figure is accepted, the alerts the old one caused are answered by the
        correction (their messages edited to show it); those the new figure no longer bears out
        — a milestone it does not pass — are taken back, their keys freed."""
        accepted = window.points.get(held.as_of) is held
        caused = self.store.events_caused(window.metric, held.as_of) if accepted else []
        events = self._replace(window, held, point)
        revised = next((e for e in events if e.rule == "correction" and e.data.get("kind") == "revised"), None)
        if caused and revised is not None:
            produced = {e.key for e in events}
            self._retract(window.metric, held.as_of, [(i, key) for i, key in caused if key not in produced])
            revised.data["answers"] = [event_id for event_id, _ in caused]
        return events

    def _replace(self, window: Window, held: Point, point: Point) -> list[Event]:
        """The day's figure in the series is ``point`` now, no longer ``held``."""
        metric = window.metric
        if window.suspect is held:
            window.suspect = None
            events = self._place(window, point)
            accepted = self._windows[metric].points.get(point.as_of)
            if accepted is not None and accepted.value == point.value:  # the held value revised into one that fits
                return self._answer_told(metric, point, events)
            return events
        window = self._rebuild(metric)  # the old figure has left the series until the new one is placed
        events = self._place(window, point)
        placed = self._windows[metric]
        accepted = placed.points.get(point.as_of)
        if accepted is not None and accepted.value == point.value:
            events = corrections.revised(placed.step_for(accepted), held.value, placed) + events
        return events

    def _place(self, window: Window, point: Point) -> list[Event]:
        metric = window.metric
        guard = window.rules.guard
        last = window.last
        if last is not None and point.as_of < last.as_of:
            return self._fill(window, point)
        events: list[Event] = []
        suspect = window.suspect
        if suspect is not None and suspect.as_of < point.as_of:
            follows = consistent(suspect, point, window, guard)
            # the next report continues from it (its printed change says so): confirmed, however
            # big that next rise is (it is judged on its own below); else the guard's verdict on both
            if follows or verdict(suspect, point, window, guard) is not False:
                window.suspect = None
                log.debug("%s %s: %s confirmed by the next report", metric, suspect.as_of, f"{suspect.value:,}")
                events += self._confirmed(window, suspect, point)
                window = self._windows[metric]
            elif follows is False and consistent(last, point, window, guard) is False:
                # its printed change continues neither the held value nor the last accepted one: its own
                # total is wrong (a typo after a big day) — it judges nothing; the held value waits on
                self._put(metric, point, "discarded")
                return [corrections.discarded(metric, point, "inconsistent", suspect)]
            else:
                window.suspect = None
                self._put(metric, suspect, "discarded")
                events.append(corrections.discarded(metric, suspect, "contradicted", point))
        judged = verdict(window.last, point, window, guard)
        if judged is False:
            log.info(
                "%s %s: %s from %s held as suspect (last accepted %s on %s%s)",
                metric,
                point.as_of,
                f"{point.value:,}",
                point.source,
                f"{window.last.value:,}",
                window.last.as_of,
                f"; the report says {point.reported_delta:+,}" if point.reported_delta is not None else "",
            )
            return events + self._hold(window, point)
        if self._awaits_confirmation(window, point, judged):
            log.info(
                "%s %s: %s from %s crosses a milestone; held until a second source or the next report confirms it",
                metric,
                point.as_of,
                f"{point.value:,}",
                point.source,
            )
            return events + self._hold(window, point)
        if self._unstable(window, point):
            log.info(
                "%s %s: %s from %s would raise again an alert taken back for that day; held until a second "
                "source or the next report agrees with it",
                metric,
                point.as_of,
                f"{point.value:,}",
                point.source,
            )
            return events + self._hold(window, point)
        return events + self._accept(window, point)

    def _unstable(self, window: Window, point: Point) -> bool:
        """Would ``point`` raise again an alert of its day that was taken back (a source going back and
        forth)? Then it waits, whatever ``[detect] confirm`` says, until two sources or two reports
        agree on it: each reader gets at most one retraction and one re-alert of it."""
        taken = self._retracted(window.metric).get(point.as_of)
        if not taken:
            return False
        step = window.step_for(point)
        rules = self._per_day_rules if window.per_day else self._rules
        return any(event.key in taken for rule in rules for event in rule(step, window))

    def _hold(self, window: Window, point: Point) -> list[Event]:
        """Hold ``point`` as the metric's suspect; an older suspect is superseded by it."""
        events = []
        if window.suspect is not None:
            old = window.suspect
            self._put(window.metric, old, "discarded")
            events.append(corrections.discarded(window.metric, old, "replaced", point))
        window.suspect = point
        self._put(window.metric, point, "suspect")
        return events

    def why_held(self, metric: str) -> str | None:
        """Why the metric's held figure waits, in words, asked in the order ``_place`` asks (None:
        none is held): the guard's objection, a milestone it would cross unconfirmed, an alert
        taken back for its day it would raise again."""
        window = self.window(metric)
        point = window.suspect
        if point is None:
            return None
        found = objection(window.last, point, window, window.rules.guard)
        if found:
            return found
        if self._awaits_confirmation(window, point, verdict(window.last, point, window, window.rules.guard)):
            return "it would cross a milestone; [detect] confirm asks a second source or the next report to agree"
        if self._unstable(window, point):
            return "it would raise again an alert taken back for its day; a second source or the next report must agree"
        return "it waits for the next report or a second source"

    def _awaits_confirmation(self, window: Window, point: Point, vouched: bool | None) -> bool:
        """A figure that would fire a milestone: must it wait for a second source or the next report
        (``[detect] confirm``: unless the report agreed with itself; always; never)?"""
        policy = self.config.detect.confirm
        rule = window.rules.milestone
        if policy == "none" or (policy == "consistent" and vouched):
            return False
        if rule is None or window.per_day or window.last is None:
            return False
        if (milestones.next_level(rule, window.last.value) or point.value + 1) > point.value:
            return False  # the usual day: no level between the last accepted value and this one
        levels = milestones.levels_between(rule, window.last.value, point.value)
        return any(not self.store.has_event(milestones.key(window.metric, level)) for level in levels)

    def _confirmed(self, window: Window, suspect: Point, confirmer: Point) -> list[Event]:
        """A suspect the next report continues is accepted — after the last accepted value, if the
        two reports contradict it (``_contradicted``), is taken back."""
        last = window.last
        if last is not None and self._contradicted(window, last, suspect, confirmer):
            metric = window.metric
            caused = self.store.events_caused(metric, last.as_of)
            self._retract(metric, last.as_of, caused)  # marked, their milestone keys freed
            taken = [event_id for event_id, _ in caused]
            self._put(metric, last, "discarded")
            window = self._rebuild(metric)
            window.suspect = None  # (the store still holds it as suspect until it is accepted now)
            notice = corrections.retracted(metric, last, suspect, confirmer, taken)
            return [notice, *self._accept_held(window, suspect)]
        return self._accept_held(window, suspect)

    def _accept_held(self, window: Window, point: Point) -> list[Event]:
        """A held value confirmed enters the series (``_answer_told``)."""
        return self._answer_told(window.metric, point, self._accept(window, point))

    def _answer_told(self, metric: str, point: Point, events: list[Event]) -> list[Event]:
        """``point`` entered the series after it was held (confirmed, or a held value revised into one
        that fits). If readers were told another value of its day — the alerts of a value accepted
        before it, the last correction (a source going back and forth) — a correction from that value
        to this one answers them (their messages edited), and the alerts it no longer bears out are
        taken back, as a revision does."""
        told = self.store.told_of(metric, point.as_of)
        if not told:
            return events
        corrected = [new for _, _, rule, _, new in told if rule == "correction"]
        said = corrected[-1] if corrected else told[-1][3]
        window = self._windows[metric]
        accepted = window.points.get(point.as_of)
        if said == point.value or accepted is None:
            return events
        revised = corrections.revised(window.step_for(accepted), said, window)
        if not revised:
            return events
        produced = {e.key for e in events}
        taken = [(i, key) for i, key, rule, _, _ in told if rule != "correction" and key not in produced]
        self._retract(metric, point.as_of, taken)  # what this value does not bear out (a milestone it misses)
        revised[0].data["answers"] = [i for i, *_ in told]
        return [*revised, *events]

    @staticmethod
    def _contradicted(window: Window, last: Point, suspect: Point, confirmer: Point) -> bool:
        """Is the last accepted value the wrong one, rather than the suspect that followed it?

        Only if its own report did not vouch for it (its printed change continued the value before
        it) and, unless it is a first figure with nothing before it, the suspect could not follow
        from it (a fall, or a jump: a suspect that only disagrees with its own printed change
        follows a correction day, not a wrong value); then
        either the suspect's printed change, which the next report's confirms, says the total
        before it was another, or the two values are further apart than any correction
        (``cold_ratio`` of the smaller: an extra or a lost digit).
        """
        guard = window.rules.guard
        before = window.before(last.as_of)
        if not guard.enabled or consistent(before, last, window, guard):
            return False  # its report agreed with the day before it
        if before is not None and plausible(last, suspect, window, guard):
            return False  # the suspect follows it: only its printed change disagrees (a correction day)
        days = (suspect.as_of - last.as_of).days
        if suspect.reported_delta is not None and days == 1 and consistent(suspect, confirmer, window, guard):
            return suspect.value - suspect.reported_delta != last.value
        smaller = min(last.value, suspect.value)
        return abs(last.value - suspect.value) > max(guard.floor, guard.cold_ratio * smaller) * max(1, days)

    def _fill(self, window: Window, point: Point) -> list[Event]:
        """A day behind the head of the series: accepted only if it fits between its neighbours."""
        metric = window.metric
        guard = window.rules.guard
        before, after = window.before(point.as_of), window.after(point.as_of)
        if not (plausible(before, point, window, guard) and plausible(point, after, window, guard)):
            self._put(metric, point, "discarded")
            return [corrections.discarded(metric, point, "misfit", after)]
        step = window.step_for(point)
        self._put(metric, point, "accepted")
        self._rebuild(metric)
        return [] if window.per_day else milestones.evaluate(step, window)

    def _accept(self, window: Window, point: Point) -> list[Event]:
        step = window.step_for(point)
        events: list[Event] = []
        for rule in self._per_day_rules if window.per_day else self._rules:
            found = rule(step, window)
            if found:
                events += found
        self._put(window.metric, point, "accepted")
        window.push(point)
        return _merge_spike_and_record(events) if len(events) > 1 else events


def _merge_spike_and_record(events: list[Event]) -> list[Event]:
    """A day that is both a spike and a record is one alert: the spike, saying it is a record."""
    if len(events) < 2:
        return events
    spike = next((e for e in events if e.rule == "spike" and e.data.get("direction") == "spike"), None)
    record = next((e for e in events if e.rule == "record"), None)
    if spike is None or record is None:
        return events
    data = {**spike.data, "record": record.data}
    message = say("spike", spike.metric, spike.as_of, spike.value, data)
    merged = Event(
        key=spike.key,
        rule=spike.rule,
        metric=spike.metric,
        as_of=spike.as_of,
        value=spike.value,
        message=message,
        severity=spike.severity,
        data=data,
    )
    return [merged if e is spike else e for e in events if e is not record]
