"""Benchmark: the whole bundled history (all metrics) through store + detect into a fresh SQLite file.

Prints figures per second and peak memory. Target: >= 50,000 figures/s on one core.
Run: .venv/bin/python bench/replay.py [--rounds N]
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
import tracemalloc
from pathlib import Path

from tallywatch import config, history
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    days = history.daily()
    times = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in range(args.rounds):
            elapsed, figures, events = one_round(days, Path(tmp) / f"r{n}.db")
            times.append(elapsed)
        tracemalloc.start()
        one_round(days, Path(tmp) / "mem.db")
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    best = min(times)
    print(f"days                {len(days):>10,}")
    print(f"figures             {figures:>10,}")
    print(f"events              {events:>10,}")
    print(f"best of {args.rounds} rounds     {best:>10.3f} s")
    print(f"figures per second  {figures / best:>10,.0f}   (target >= 50,000)")
    print(f"peak traced memory  {peak / 2**20:>10.1f} MiB (Python allocations during one round)")
    print(f"max RSS             {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:>10.1f} MiB (whole process)")


if __name__ == "__main__":
    main()
