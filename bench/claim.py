"""Benchmark: how long ``Store.claim`` takes with 10,000 deliveries queued, in three shapes (one alert
to 10,000 readers; 100 alerts to 100; 10,000 alerts to one), draining 200 at a time.

Claim settles the queue (one definition of a live delivery) and keeps each reader's deliveries in
order, one at a time; it must walk the queue in order and stop at its limit, never sort it all.
Prints the median and worst milliseconds per claim; ``--json`` adds one JSON line.
Run: .venv/bin/python bench/claim.py [--pending N] [--rounds N] [--json]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from tallywatch.store import Store, utcnow


def queue(store: Store, events: int, recipients: int) -> None:
    now = utcnow().isoformat()
    with store.transaction():
        for n in range(events):
            store.conn.execute(
                "INSERT INTO events (key, rule, metric, as_of, value, severity, message, data, source, notify,"
                " created_at) VALUES (?, 'spike', 'tanks', '2025-06-12', ?, 'warning', 'x', '{}', 'mod', 1, ?)",
                [f"spike:tanks:{n}", n, now],
            )
        store.conn.executemany(
            "INSERT INTO deliveries (event_id, channel, recipient, idempotency_key, next_attempt_at, created_at,"
            " language) VALUES (?, 'telegram', ?, ?, ?, ?, 'en')",
            [(e + 1, str(1000 + r), f"k{e}|{r}", now, now) for e in range(events) for r in range(recipients)],
        )


def drain(store: Store, batch: int, rounds: int) -> list[float]:
    """Claim ``rounds`` times, marking what was claimed sent: the milliseconds of each claim."""
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        got = store.claim("telegram", batch)
        times.append((time.perf_counter() - start) * 1000)
        with store.transaction():
            store.conn.executemany("UPDATE deliveries SET status = 'sent' WHERE id = ?", [(d.id,) for d in got])
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pending", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--json", action="store_true", help="one JSON line of the figures at the end")
    args = parser.parse_args()
    side = int(args.pending**0.5)
    shapes = {"one_alert": (1, args.pending), "square": (side, side), "one_reader": (args.pending, 1)}
    out = {"pending": args.pending}
    for name, (events, recipients) in shapes.items():
        with tempfile.TemporaryDirectory() as folder:
            store = Store(Path(folder) / "claim.db")
            queue(store, events, recipients)
            times = sorted(drain(store, 200, args.rounds))
            store.close()
        median, worst = times[len(times) // 2], times[-1]
        out[name] = {"median_ms": round(median, 2), "worst_ms": round(worst, 2)}
        print(
            f"{events:>6,} alert(s) × {recipients:>6,} reader(s): claim(200) median {median:6.1f} ms, worst {worst:6.1f} ms"
        )
    if args.json:
        print(json.dumps(out))


if __name__ == "__main__":
    main()
