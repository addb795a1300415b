"""Benchmark: the whole bundled history (all metrics) through store + detect into a fresh SQLite file.

Two ways: the full replay, each day through ``ingest`` as news (its daily report built), and a first
start's, ``replay.feed_history``: the same days stored quietly (no reports), as the daemon's first
start stores them. Prints figures per second of each and peak memory of the full one. Target
(issue 28): >= 40,000 figures/s both ways, on one core. With ``--json`` the last line is one JSON
object: first_start_figures_per_s, full_figures_per_s.
``--days N`` replays only the history's first N days (a quick check of the bench itself).
Run: .venv/bin/python bench/replay.py [--rounds N] [--days N] [--json]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import resource
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

from tallywatch import config, history, replay
from tallywatch.detect import Detector
from tallywatch.ingest import Item, ingest
from tallywatch.store import Store


def one_round(days: dict, path: Path) -> tuple[float, int, int]:
    cfg = config.defaults()
    store = Store(path)
    detector = Detector(cfg, store)
    events = 0
    start = time.perf_counter()
    with store.roomy(), store.transaction():  # as replay.feed_history does it at a first start
        for day, figures in days.items():
            item = Item(f"bench:{day}", day.isoformat(), list(figures))
            events += len(ingest(store, detector, [], "bench", [item]).events)
    elapsed = time.perf_counter() - start
    store.close()
    return elapsed, sum(len(f) for f in days.values()), events


def first_start_round(path: Path, end: dt.date) -> float:
    """The seconds ``replay.feed_history`` takes to store the bundled history up to ``end``, as a first start does."""
    store = Store(path)
    detector = Detector(config.defaults(), store)
    start = time.perf_counter()
    replay.feed_history(store, detector, end)
    elapsed = time.perf_counter() - start
    store.close()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--days", type=int, default=None, help="only the history's first N days (default: all)")
    parser.add_argument("--json", action="store_true", help="one JSON line of the figures at the end")
    args = parser.parse_args()
    for option, value in (("--rounds", args.rounds), ("--days", args.days)):
        if value is not None and value < 1:
            sys.exit(f"replay: {option} {value}: it must be at least 1, or nothing would be measured")
    days = dict(list(history.daily().items())[: args.days])
    times, first_start = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for n in range(args.rounds):
            elapsed, figures, events = one_round(days, Path(tmp) / f"r{n}.db")
            times.append(elapsed)
            first_start.append(first_start_round(Path(tmp) / f"f{n}.db", max(days)))
        tracemalloc.start()
        one_round(days, Path(tmp) / "mem.db")
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    best, best_first = min(times), min(first_start)
    if not figures:
        sys.exit("replay: FAILED, nothing measured: the bundled history holds no figures")
    print(f"days                {len(days):>10,}")
    print(f"figures             {figures:>10,}")
    print(f"events              {events:>10,}")
    print(f"best of {args.rounds} rounds     {best:>10.3f} s")
    print(f"figures per second  {figures / best:>10,.0f}   (target >= 40,000, each day's report built)")
    print(
        f"first start         {figures / best_first:>10,.0f}   figures per second (target >= 40,000; best {best_first:.3f} s, quiet: no reports)"
    )
    print(f"peak traced memory  {peak / 2**20:>10.1f} MiB (Python allocations during one round)")
    print(f"max RSS             {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:>10.1f} MiB (whole process)")
    if args.json:
        rates = {"first_start_figures_per_s": figures / best_first, "full_figures_per_s": figures / best}
        print(json.dumps({key: round(rate) for key, rate in rates.items()}, allow_nan=False))


if __name__ == "__main__":
    main()
