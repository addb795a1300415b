"""The real ``tallywatch`` as a subprocess: one command to completion, or the daemon left running."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

UNIT = Path(__file__).resolve().parents[1] / "deploy" / "tallywatch.service"


def unit_environment() -> dict[str, str]:
    """The systemd unit's Environment= settings for Python itself (PYTHONOPTIMIZE=2, …)."""
    out = {}
    for line in UNIT.read_text().splitlines():
        if line.startswith("Environment=PYTHON"):
            name, _, value = line.removeprefix("Environment=").partition("=")
            out[name] = value
    return out


def tallywatch_env(**extra: str) -> dict[str, str]:
    """This environment without the caller's tallywatch settings, plus ``extra`` (a token, a socket)."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    for name in ("TALLYWATCH_CONFIG", "TALLYWATCH_TELEGRAM_TOKEN"):
        env.pop(name, None)
    return {**env, **extra}


def run_tallywatch(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tallywatch", *args],
        capture_output=True,
        text=True,
        env=env or tallywatch_env(),
        timeout=timeout,
    )


def start_daemon(cfg: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
    """``tallywatch run --config cfg``; stop it with a signal and ``communicate()`` for its output."""
    return subprocess.Popen(
        [sys.executable, "-m", "tallywatch", "run", "--config", str(cfg)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env or tallywatch_env(),
    )


def stop(process: subprocess.Popen, timeout: float = 15) -> None:
    """SIGTERM, then SIGKILL if it has not ended within ``timeout`` seconds; nothing if it has ended."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def offline(db: Path, source_url: str | None = None, interval: str = "1s") -> str:
    """The start of a test's config: a daemon that never leaves this machine, on the database ``db``,
    and an RSS source "mod" at ``source_url`` polled every ``interval``. TOML: add tables after it."""
    source = (
        f"""
[[sources]]
name = "mod"
kind = "rss"
url = "{source_url}"
interval = "{interval}"
jitter = 0
"""
        if source_url
        else ""
    )
    return f"""
[detect]
baseline = false  # these tests feed their own days (test_baseline.py: a first start)

[backfill]
enabled = false  # never the real API from a test (test_backfill.py: a loopback one)

[storage]
path = "{db}"
{source}"""
