"""The one retry policy: exponential backoff with full jitter, a server's wait as a floor."""

from __future__ import annotations

import random


def backoff_seconds(failures: int, base: float, cap: float, floor: float | None = None) -> float:
    """Uniform over [0, min(cap, base·2^(failures−1))], never below ``floor`` (e.g. Retry-After)."""
    delay = random.uniform(0, min(cap, base * 2 ** max(0, failures - 1)))
    return max(delay, floor or 0.0)
