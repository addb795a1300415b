"""The bundled General Staff daily series (2022-02-25 … 2026-08-08) as ``Figure``s.

Data: ``PetroIvaniuk/2022-Ukraine-Russia-War-Dataset`` (MIT, © 2022 Petro Ivaniuk), copied
unchanged into ``tallywatch/data`` — see ``data/SOURCE.md`` for the commit and the caveats.
Column → metric as in ``extract.genstaff``: "military auto" + "fuel tank" (until 2022-04-30) add
up to ``vehicles``; POW counts and the "greatest losses direction" text are not tallies we watch.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from functools import cache
from importlib import resources

from .models import Figure

COLUMNS = {
    "personnel": "personnel",
    "tank": "tanks",
    "APC": "armoured_vehicles",
    "field artillery": "artillery",
    "MRL": "mlrs",
    "anti-aircraft warfare": "air_defense",
    "aircraft": "aircraft",
    "helicopter": "helicopters",
    "drone": "uav",
    "cruise missiles": "cruise_missiles",
    "naval ship": "warships",
    "submarines": "submarines",
    "vehicles and fuel tanks": "vehicles",
    "military auto": "vehicles",
    "fuel tank": "vehicles",
    "special equipment": "special_equipment",
    "mobile SRBM system": "srbm_launchers",
    "ground robotic systems": "ground_robots",
}
SOURCE_NAME = "bundled-genstaff"


def _load(name: str) -> list[dict]:
    return json.loads(resources.files("tallywatch").joinpath("data", name).read_text(encoding="utf-8"))


@cache
def daily() -> dict[dt.date, tuple[Figure, ...]]:
    """Every day's figures, in date order."""
    totals: dict[dt.date, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for name in ("russia_losses_personnel.json", "russia_losses_equipment.json"):
        for record in _load(name):
            day = dt.date.fromisoformat(record["date"])
            for column, metric in COLUMNS.items():
                value = record.get(column)
                if isinstance(value, int):
                    totals[day][metric] += value
    return {
        day: tuple(Figure(metric=m, as_of=day, value=v) for m, v in sorted(totals[day].items()))
        for day in sorted(totals)
    }


def between(start: dt.date | None = None, end: dt.date | None = None) -> dict[dt.date, tuple[Figure, ...]]:
    return {d: figs for d, figs in daily().items() if (start is None or d >= start) and (end is None or d <= end)}
