"""Corrections and doubts: revised figures, totals that go down, discarded values, wrong "(+N)"."""

from __future__ import annotations

from ..format import format_number
from ..models import Event, Step
from .window import Point, Window
from .wording import DISCARDED, metric_label, say_to_admins


def revised(step: Step, old: int, window: Window) -> list[Event]:
    """A source changed a figure it had already given for that day."""
    if not window.rules.correction.enabled:
        return []
    data = {"old": old, "new": step.value, "kind": "revised"}
    message = say_to_admins("correction", step.metric, step.as_of, step.value, data)
    key = f"correction:{step.metric}:{step.as_of}:{old}:{step.value}"
    return [Event.about(step, key, "correction", "warning", message, **data)]


def went_down(step: Step, window: Window) -> list[Event]:
    """A running total lower than the day before: the source corrected its count."""
    if step.delta is None or step.delta >= 0 or not window.rules.correction.enabled:
        return []
    data = {"old": step.prior_value, "new": step.value, "kind": "decrease"}
    message = say_to_admins("correction", step.metric, step.as_of, step.value, data)
    key = f"correction:{step.metric}:{step.as_of}:{step.prior_value}:{step.value}"
    return [Event.about(step, key, "correction", "warning", message, **data)]


def _out_of_series(kind: str, verb: str, metric: str, point: Point, reason: str) -> Event:
    return Event(
        key=f"{kind}:{metric}:{point.as_of}:{point.value}",
        rule="guard",
        metric=metric,
        as_of=point.as_of,
        value=point.value,
        severity="warning",
        message=f"{metric_label(metric)} {format_number(point.value)} for {point.as_of} from {point.source} "
        f"{verb}: {reason}",
        data={"source": point.source, kind: True},
    )


DISCARDED_WHY = tuple(DISCARDED)  # the reasons a suspect figure is set aside (each worded in wording.DISCARDED)


def discarded(metric: str, point: Point, why: str, other: Point) -> Event:
    """A suspect value never enters the series: ``why`` — ``contradicted`` (the next report, ``other``,
    does not continue from it), ``replaced`` (a later report of the same source), ``inconsistent`` (its
    printed change follows neither the last accepted value nor ``other``, the one held), ``second_source``
    (another source's figure for the day agrees with the reports before), ``misfit`` (a day filled
    in behind newer ones that does not fit between them; ``other``: the report after it)."""
    data = {"source": point.source, "discarded": True, "why": why}
    data.update(other=other.value, other_day=str(other.as_of), other_source=other.source)
    message = say_to_admins("guard", metric, point.as_of, point.value, data)
    return Event(
        key=f"discarded:{metric}:{point.as_of}:{point.value}",
        rule="guard",
        metric=metric,
        as_of=point.as_of,
        value=point.value,
        message=message,
        severity="warning",
        data=data,
    )


def retracted(metric: str, point: Point, first: Point, second: Point, events: list[int]) -> Event:
    """An accepted value two later reports contradict is taken out of the series; ``events`` are the
    stored events it had caused (taken back with it: their readers are told, their messages edited)."""
    reason = (
        f"the next two reports ({format_number(first.value)} for {first.as_of}, {format_number(second.value)} "
        f"for {second.as_of}) agree with each other and contradict it"
    )
    event = _out_of_series("retracted", "taken back", metric, point, reason)
    event.data.update(retracts=events, later=[[first.value, str(first.as_of)], [second.value, str(second.as_of)]])
    return event


def reported_delta(step: Step, window: Window) -> list[Event]:
    """The report's printed "(+N)" is not the difference of the totals (it happens on correction days)."""
    if not window.rules.reported_delta.enabled:
        return []
    if step.reported_delta is None or step.delta is None or step.gap != 1 or step.reported_delta == step.delta:
        return []
    data = {"reported": step.reported_delta, "computed": step.delta}
    message = say_to_admins("reported_delta", step.metric, step.as_of, step.value, data)
    return [Event.about(step, f"reported_delta:{step.metric}:{step.as_of}", "reported_delta", "info", message, **data)]
