"""Waiting for something a subprocess or a server thread does, without sleeping longer than needed."""

import time


def wait(predicate, limit: float = 30.0) -> bool:
    """Poll ``predicate`` every 50 ms until it is true (True) or ``limit`` seconds pass (False)."""
    end = time.monotonic() + limit
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.05)
    return False
