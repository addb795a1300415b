"""Figures from a JSON record through a field mapping (the russianwarship.rip v2 API built in).

A mapping names where a record keeps its date, its totals and its stated daily changes, and which
key is which metric. A key's metric may change over time: the API's ``atgm_srbm_systems`` held the
"mobile SRBM system" launchers (frozen at 4 since 2022) and, from 2026-05-03, when the General Staff
added "ground robotic systems", it carries that new category (2,866 on 2026-10-06).
Keys the mapping does not name are kept under their own name, not dropped.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from typing import Any

from ..models import Document, Figure

log = logging.getLogger("tallywatch.extract")

RUSSIANWARSHIP_V2: dict[str, Any] = {
    "records": ["data.records", "data"],
    "date": "date",
    "values": "stats",
    "deltas": "increase",
    "metrics": {
        "personnel_units": "personnel",
        "tanks": "tanks",
        "armoured_fighting_vehicles": "armoured_vehicles",
        "artillery_systems": "artillery",
        "mlrs": "mlrs",
        "aa_warfare_systems": "air_defense",
        "planes": "aircraft",
        "helicopters": "helicopters",
        "vehicles_fuel_tanks": "vehicles",
        "warships_cutters": "warships",
        "cruise_missiles": "cruise_missiles",
        "uav_systems": "uav",
        "special_military_equip": "special_equipment",
        "submarines": "submarines",
        "atgm_srbm_systems": [["2022-02-24", "srbm_launchers"], ["2026-05-03", "ground_robots"]],
    },
}


def lookup(data: Any, path: str) -> Any:
    """``lookup(doc, "data.records")``; None where any step is missing."""
    for step in path.split("."):
        if not isinstance(data, Mapping) or step not in data:
            return None
        data = data[step]
    return data


def _metric(spec: str | list, as_of: dt.date) -> str:
    if isinstance(spec, str):
        return spec
    current = None
    for since, metric in spec:  # [[since, metric], ...] in date order
        if as_of >= dt.date.fromisoformat(str(since)):
            current = metric
    return current or ""


def extract_record(record: Any, mapping: Mapping[str, Any], where: str) -> list[Figure]:
    if not isinstance(record, Mapping):
        log.warning("%s: record is not an object", where)
        return []
    try:
        as_of = dt.date.fromisoformat(str(lookup(record, mapping["date"]))[:10])
    except ValueError:
        log.warning("%s: record has no valid date at %r", where, mapping["date"])
        return []
    values = lookup(record, mapping["values"])
    if not isinstance(values, Mapping):
        log.warning("%s: record of %s has no object at %r", where, as_of, mapping["values"])
        return []
    deltas = lookup(record, mapping["deltas"]) if mapping.get("deltas") else None
    deltas = deltas if isinstance(deltas, Mapping) else {}
    names = mapping.get("metrics", {})
    figures = []
    for key, raw in values.items():
        if isinstance(raw, bool) or not isinstance(raw, int):
            log.warning("%s: %s on %s is not a whole number: %r", where, key, as_of, raw)
            continue
        metric = _metric(names.get(key, key), as_of)
        if not metric:
            continue
        delta = deltas.get(key)
        delta = delta if isinstance(delta, int) and not isinstance(delta, bool) else None
        figures.append(Figure(metric=metric, as_of=as_of, value=raw, reported_delta=delta))
    return figures


def extract(document: Document, mapping: Mapping[str, Any] | None = None) -> list[Figure]:
    return extract_record(document.payload, mapping or RUSSIANWARSHIP_V2, f"{document.source} item {document.guid}")
