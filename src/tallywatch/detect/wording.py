"""How rules put figures into words (English; channels translate from the event's data)."""

from __future__ import annotations

from ..format import format_delta, format_number
from ..models import Step

_LABELS = {
    "uav": "UAVs",
    "mlrs": "MLRS",
    "air_defense": "air defence systems",
    "srbm_launchers": "SRBM launchers",
    "artillery": "artillery systems",
}


def metric_label(metric: str) -> str:
    return _LABELS.get(metric, metric.replace("_", " "))


def change_phrase(step: Step) -> str:
    """`` (+1,140 in a day)`` or `` (+2,300 since 2025-06-10)``; empty when nothing came before."""
    delta = step.delta
    if delta is None or step.prior_as_of is None:
        return ""
    if step.gap == 1:
        return f" ({format_delta(delta)} in a day)"
    return f" ({format_delta(delta)} since {step.prior_as_of.isoformat()})"


def times(ratio: float) -> str:
    """2.2×, 20×, 310× — one decimal only where it says something."""
    return f"{ratio:.1f}×" if ratio < 10 else f"{ratio:,.0f}×"


def number(value: float) -> str:
    return format_number(round(value))
