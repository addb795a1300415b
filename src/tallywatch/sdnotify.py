"""systemd's notify protocol, spoken directly over ``$NOTIFY_SOCKET`` (no C library needed).

``READY=1`` once start-up is done, ``STATUS=…`` lines for ``systemctl status``, ``WATCHDOG=1``
from the working loop at half of ``$WATCHDOG_USEC`` (a stuck loop stops pinging and systemd
restarts the service), ``RELOADING=1`` … ``READY=1`` around a configuration reload. Outside
systemd (no ``$NOTIFY_SOCKET``) every call is a no-op.
"""

from __future__ import annotations

import logging
import os
import socket
import time

log = logging.getLogger("tallywatch.systemd")


def notify(*lines: str) -> bool:
    """Send ``KEY=value`` lines to systemd; False when not under systemd (or the socket is gone)."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):  # an abstract socket name
        address = "\0" + address[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(address)
            sock.sendall("\n".join(lines).encode())
        return True
    except OSError as exc:
        log.debug("sd_notify failed: %s", exc)
        return False


def ready(status: str) -> bool:
    return notify("READY=1", f"STATUS={status}")


def status(text: str) -> bool:
    return notify(f"STATUS={text}")


def reloading() -> bool:
    return notify("RELOADING=1", f"MONOTONIC_USEC={time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000}")


def stopping() -> bool:
    return notify("STOPPING=1", "STATUS=stopping")


def watchdog_interval() -> float | None:
    """Seconds between WATCHDOG=1 pings (half of $WATCHDOG_USEC), or None when no watchdog is set."""
    usec = os.environ.get("WATCHDOG_USEC")
    pid = os.environ.get("WATCHDOG_PID")
    if not usec or not usec.isdigit() or (pid and pid.isdigit() and int(pid) != os.getpid()):
        return None
    return int(usec) / 1_000_000 / 2
