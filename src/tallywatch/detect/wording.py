"""How rules put figures into words (English; channels translate from the event's data)."""

from __future__ import annotations

import datetime as dt

from ..extract.numbers import format_delta
from ..models import Change

_LABELS = {
    "uav": "UAVs",
    "mlrs": "MLRS",
    "air_defense": "air defence systems",
    "srbm_launchers": "SRBM launchers",
    "artillery": "artillery systems",
}


def metric_label(metric: str) -> str:
    return _LABELS.get(metric, metric.replace("_", " "))


def change_phrase(change: Change) -> str:
    """`` (+1,140 in a day)`` or `` (+2,300 since 2025-06-10)``; empty when nothing came before."""
    delta = change.delta
    if delta is None or change.prior_as_of is None:
        return ""
    if change.figure.as_of - change.prior_as_of == dt.timedelta(days=1):
        return f" ({format_delta(delta)} in a day)"
    return f" ({format_delta(delta)} since {change.prior_as_of.isoformat()})"
