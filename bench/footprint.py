"""Benchmark: the daemon's footprint with Telegram, email and the web app enabled, on its own.

Starts ``tallywatch run`` as a subprocess (a loopback feed, the fake Bot API from the tests, an
SMTP host that is never needed while idle) the way ``deploy/tallywatch.service`` runs it: with the
unit's ``PYTHON*`` environment (``PYTHONOPTIMIZE=2``) and the bytecode compiled for it, as
``deploy/install.sh`` does (``--as-is``: plain ``python -m tallywatch run``). Then prints: the time from process start to READY=1
on the notify socket, resident memory when idle, and CPU used while idle over a minute.
Targets: READY <= 1.5 s, RSS <= 60 MB, idle CPU <= 0.5 % of one core.
With ``--json`` the last line is one JSON object: situation (default, restart, report or
first-start), rss_mb (idle resident memory), ready_s. A daemon that does not reach READY=1 (it
exits, or stays silent for a minute) is an error: exit status 1, its last words, no figure.
Run: .venv/bin/python bench/footprint.py [--idle SECONDS] [--restart | --report | --first-start] [--json]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from fake_telegram import TOKEN, FakeTelegram
from processes import unit_environment

from tallywatch import history
from tallywatch.demo import LoopbackServer, rss
from tallywatch.models import Figure


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def proc_stat(pid: int) -> tuple[float, int, int]:
    """(CPU seconds used, resident kB, peak resident kB)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])  # utime + stime
    status = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return ticks / os.sysconf("SC_CLK_TCK"), int(status["VmRSS"].split()[0]), int(status["VmHWM"].split()[0])


def children_kb(pid: int) -> tuple[int, int]:
    """Resident kB and peak resident kB of the process's children (the drawing worker, while it lives)."""
    now = peak = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            _, resident, high = proc_stat(int(child))
            now, peak = now + resident, peak + high
    return now, peak


def compile_like_install(env: dict[str, str]) -> None:
    """What install.sh does after pip: bytecode at the unit's optimisation level (incl. an editable source)."""
    import tallywatch

    level = {"1": "-O", "2": "-OO"}.get(env.get("PYTHONOPTIMIZE", ""))
    if level:
        paths = [str(Path(sys.prefix) / "lib"), *tallywatch.__path__]
        subprocess.run([sys.executable, level, "-m", "compileall", "-q", *paths], check=True, stdout=subprocess.DEVNULL)


def wait_ready(proc: subprocess.Popen, notify: socket.socket, said: Path, timeout: float = 60) -> None:
    """Until the daemon says READY=1 on ``notify``; it exiting or a silent minute is an error."""
    notify.settimeout(0.2)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            words = said.read_text(errors="replace")[-3000:]
            raise SystemExit(f"footprint: FAILED, the daemon exited ({proc.returncode}) before READY=1:\n{words}")
        try:
            if b"READY=1" in notify.recv(4096):
                return
        except TimeoutError:
            pass
    raise SystemExit(f"footprint: FAILED, the daemon sent no READY=1 within {timeout:.0f} s")


def measure(
    cfg: Path, env: dict[str, str], idle: float, settled: Callable[[], bool] = lambda: True
) -> tuple[float, int, float, int, int, tuple[int, int]]:
    """Runs the daemon on ``cfg`` until ``idle`` seconds after its start-up (and after ``settled``
    holds): (seconds to READY=1, resident kB at READY, CPU seconds used while idle, resident kB and
    peak kB at the end, resident and peak kB of its drawing process if one is up)."""
    notify_path = f"{cfg.parent}/notify.sock"
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(notify_path)
    said = cfg.parent / "daemon.log"
    started = time.monotonic()
    with said.open("w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tallywatch", "run", "--config", str(cfg)],
            env={**env, "NOTIFY_SOCKET": notify_path},
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
    try:
        wait_ready(proc, notify, said)
        ready = time.monotonic() - started
        _, at_ready, _ = proc_stat(proc.pid)
        deadline = time.monotonic() + 120
        while not settled() and time.monotonic() < deadline:
            time.sleep(0.2)
        if not settled():
            raise SystemExit("the daemon never sent the report it was given")
        time.sleep(5)  # the first poll and the bot's start-up are over: idle from here
        cpu0, _, _ = proc_stat(proc.pid)
        time.sleep(idle)
        cpu1, resident, peak = proc_stat(proc.pid)
        drawing = children_kb(proc.pid)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=15)
        notify.close()
        os.unlink(notify_path)
    return ready, at_ready, cpu1 - cpu0, resident, peak, drawing


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--idle", type=float, default=60.0, help="seconds of idle to measure (default 60)")
    parser.add_argument("--as-is", action="store_true", help="without the unit's PYTHON* environment")
    parser.add_argument(
        "--first-start", action="store_true", help="a first start: the bundled history stored before the first poll"
    )
    parser.add_argument(
        "--restart",
        action="store_true",
        help="a start on a database holding the bundled history (a first start, stopped, then measured again)",
    )
    parser.add_argument(
        "--report",
        action="store_true",
        help="as --restart, and the second start finds a new report: its card and text go to a channel, then idle",
    )
    parser.add_argument("--json", action="store_true", help="one JSON line of the figures at the end")
    args = parser.parse_args()
    situation = next(
        (name for name in ("first-start", "report", "restart") if getattr(args, name.replace("-", "_"))), "default"
    )
    unit = {} if args.as_is else unit_environment()
    compile_like_install(unit)
    series = history.daily()
    days = [dt.date(2025, 6, 14) - dt.timedelta(days=i) for i in range(6, -1, -1)]
    if args.report:  # the history's last week; the measured start finds the day after it too
        args.restart = True
        last = max(series)
        days = [last - dt.timedelta(days=i) for i in range(6, -1, -1)]
        rise = {f.metric: f.value for f in series[last - dt.timedelta(days=1)]}
        new = last + dt.timedelta(days=1)
        series[new] = tuple(
            Figure(metric=f.metric, as_of=new, value=2 * f.value - rise.get(f.metric, f.value)) for f in series[last]
        )
    served = [rss(days, series)]
    with (
        FakeTelegram() as fake,
        LoopbackServer(lambda path, headers: (200, {}, served[0])) as feed,
        tempfile.TemporaryDirectory() as tmp,
    ):
        cfg = Path(tmp) / "tw.toml"
        web_port = free_port()
        cfg.write_text(
            f"""
[storage]
path = "{tmp}/tw.db"

[detect]
baseline = {"true" if args.first_start or args.restart else "false"}  # the bundled history, stored at a first start

[backfill]
enabled = false  # a benchmark never leaves this machine

[console]
enabled = false

[telegram]
base_url = "{fake.base_url}"
channels = [{'"@tallywatch_bench"' if args.report else ""}]  # --report: the daily report goes here

[email]
enabled = true
host = "127.0.0.1"
port = {free_port()}
security = "none"

[web]
port = {web_port}
public_url = "http://127.0.0.1:{web_port}"  # the subscribe form and the unsubscribe page on

[[sources]]
name = "mod"
kind = "rss"
url = "{feed.url}/mod.rss"
interval = "30m"
"""
        )
        env = {**os.environ, **unit, "TALLYWATCH_TELEGRAM_TOKEN": TOKEN}
        env.pop("TALLYWATCH_CONFIG", None)
        if args.restart:  # the first start stores the history; the one measured finds it there
            measure(cfg, env, 0)
        settled = lambda: True  # noqa: E731
        if args.report:
            served[0] = rss([*days, new], series)
            settled = lambda: any(c.method == "sendPhoto" for c in fake.calls(status=200))  # noqa: E731
        ready, at_ready, cpu, resident, peak, drawing = measure(cfg, env, args.idle, settled)
    print(f"environment             {' '.join(f'{k}={v}' for k, v in unit.items()) or 'as is'}")
    print(f"start to READY=1        {ready:>8.2f} s    (target <= 1.5)")
    print(
        f"idle resident memory    {resident / 1024:>8.1f} MB   (target <= 60; at READY {at_ready / 1024:.1f}, peak {peak / 1024:.1f} MB)"
    )
    print(f"idle CPU over {args.idle:.0f} s     {100 * cpu / args.idle:>8.2f} %    (target <= 0.5 % of one core)")
    if drawing[0]:
        print(
            f"drawing process         {drawing[0] / 1024:>8.1f} MB   (peak {drawing[1] / 1024:.1f} MB; a child, it ends a minute after its last picture)"
        )
        print(f"daemon + drawing, peaks {(peak + drawing[1]) / 1024:>8.1f} MB   (what the unit's MemoryMax must hold)")
    if args.json:
        figures = {"situation": situation, "rss_mb": round(resident / 1024, 1), "ready_s": round(ready, 2)}
        print(json.dumps(figures, allow_nan=False))


if __name__ == "__main__":
    main()
