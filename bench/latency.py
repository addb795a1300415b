"""Benchmark: publication → detection delay, and requests per source per day, for three ways of
polling one source over 90 simulated days: every 30 minutes, every minute, and the learned window
(``tallywatch.sources.schedule.next_poll``, the very function the daemon's trigger calls).

The publication times follow the real pattern: the 82 times the Ministry of Defence's site printed
on its English loss reports from 12 April to 16 August 2022 (Kyiv time; the records in
``shared/data/formats/genstaff_posts/mil_gov_ua_en_2022.json``, copied below so the benchmark
runs anywhere). They hold the publisher's real habits: about 06:00–08:00 in April and May, then a
drift to about 09:00–10:45 from June on, and days later than usual. The 14 days of warm-up
publish at the first 14 records' times and the 90 days at the next ones (cycling: after August,
back to April's earlier hour — a second change of habit), on dates from 29 September 2025,
so the end of daylight-saving time (26 October) falls inside: the same Kyiv hour is an hour later
in UTC after it. Every 15th day is moreover 90 minutes late (a late report). The learner starts
with the 14 days before the simulation already seen, as a running install has them.

Targets (issue #14): learned window median ≤ 60 s, 95th percentile ≤ 3 min, requests ≤ 1/10 of
polling every minute. With ``--json`` the last line is one JSON object: for ``learned``,
``fixed_30m`` and ``fixed_1m``, the median, 95th percentile and worst delay in seconds and the
requests a day.
Run: .venv/bin/python bench/latency.py [--json]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import statistics

from tallywatch.sources.schedule import KYIV, next_poll

# published, as printed on mil.gov.ua (Kyiv time), in report order (one day, 2022-07-01, printed none)
REAL = """06:00 07:00 07:30 09:00 09:00 06:45 07:30 07:00 08:00 06:30 07:00 07:15 06:15 07:25 07:30 07:45
07:25 07:15 06:45 06:00 06:00 07:00 07:30 06:30 08:15 07:45 06:15 06:45 06:00 05:45 08:00 08:00
06:00 05:45 06:45 06:15 06:20 06:00 06:00 07:30 06:00 07:45 07:00 06:00 09:15 09:48 10:30 09:45
09:20 09:00 10:00 09:00 09:10 09:20 10:20 09:15 09:30 09:10 09:30 09:30 10:45 09:10 09:30 09:45
09:30 09:45 09:25 09:00 09:00 09:30 09:00 09:15 09:15 09:40 09:15 09:05 09:00 09:00 09:00 09:15
09:30 09:00""".split()  # noqa: SIM905 -- kept as the page printed them, easy to check

DAYS = 90
WARM = 14
FIRST = dt.date(2025, 9, 29)
NORMAL, FAST = 1800.0, 60.0


def publications(rng: random.Random) -> list[dt.datetime]:
    out = []
    for i in range(-WARM, DAYS):
        hour, minute = map(int, REAL[(i + WARM) % len(REAL)].split(":"))  # the warm-up: the first 14 records
        local = dt.datetime.combine(FIRST + dt.timedelta(days=i), dt.time(hour, minute), tzinfo=KYIV)
        if i > 0 and i % 15 == 0:
            local += dt.timedelta(minutes=90)
        local += dt.timedelta(seconds=rng.uniform(0, 60))  # the page prints minutes; a post has seconds
        out.append(local.astimezone(dt.UTC))
    return out


def fixed(times: list[dt.datetime], every: float, rng: random.Random) -> tuple[list[float], float]:
    """Polling every ``every`` seconds from a random phase: (delays, requests per day)."""
    start = dt.datetime.combine(FIRST, dt.time(0), tzinfo=KYIV).astimezone(dt.UTC)
    phase = rng.uniform(0, every)
    delays = []
    for published in times[WARM:]:
        since = (published - start).total_seconds() - phase
        polls_before = -(-since // every)  # the first poll at or after publication
        delays.append(phase + polls_before * every - (published - start).total_seconds())
    return delays, 86400 / every


def learned(times: list[dt.datetime], rng: random.Random) -> tuple[list[float], float]:
    start = dt.datetime.combine(FIRST, dt.time(0), tzinfo=KYIV).astimezone(dt.UTC)
    end = start + dt.timedelta(days=DAYS)
    seen = list(times[:WARM])  # the history a running install has
    waiting = list(times[WARM:])
    now = start + dt.timedelta(seconds=rng.uniform(0, NORMAL))
    polls, delays = 0, []
    while now < end:
        polls += 1
        while waiting and waiting[0] <= now:  # this poll finds what was published since the last
            published = waiting.pop(0)
            delays.append((now - published).total_seconds())
            seen.append(published)  # the item's own publication time, as a feed gives it
        now = next_poll(seen, now, NORMAL, FAST)
    return delays, polls / DAYS


def figures(delays: list[float], per_day: float) -> dict[str, float]:
    ordered = sorted(delays)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {"median_s": statistics.median(delays), "p95_s": p95, "worst_s": max(delays), "requests_per_day": per_day}


def summary(name: str, got: dict[str, float]) -> str:
    return (
        f"{name:<24} median {got['median_s']:>7.0f} s   p95 {got['p95_s']:>7.0f} s   "
        f"worst {got['worst_s']:>6.0f} s   requests/day {got['requests_per_day']:>7.1f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="one JSON line of the figures at the end")
    args = parser.parse_args()
    rng = random.Random(20251026)
    times = publications(rng)
    rows = [
        ("fixed_30m", "fixed every 30 minutes", *fixed(times, 1800, rng)),
        ("fixed_1m", "fixed every minute", *fixed(times, 60, rng)),
        ("learned", "learned window", *learned(times, rng)),
    ]
    print(f"{DAYS} days from {FIRST} (daylight saving ends 2025-10-26), {len(REAL)} real publication times")
    out = {}
    for key, name, delays, per_day in rows:
        out[key] = figures(delays, per_day)
        print(summary(name, out[key]))
    got = out["learned"]
    print(
        f"targets: median <= 60 s ({got['median_s']:.0f}), p95 <= 180 s ({got['p95_s']:.0f}), "
        f"requests <= {1440 / 10:.0f}/day ({got['requests_per_day']:.1f})"
    )
    if args.json:
        rounded = {key: {name: round(value, 1) for name, value in got.items()} for key, got in out.items()}
        print(json.dumps({key: rounded[key] for key in ("learned", "fixed_30m", "fixed_1m")}, allow_nan=False))


if __name__ == "__main__":
    main()
