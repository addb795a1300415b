"""The daemon as systemd runs it: notify socket, watchdog, SIGHUP reloads, health and metrics, deploy files."""

import datetime as dt
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from processes import offline, start_daemon, tallywatch_env, unit_environment
from test_telegram_daemon import feed_until
from waiting import wait

from tallywatch import sdnotify

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class NotifySocket:
    """A datagram socket standing in for systemd's: records every notification."""

    def __init__(self, path: str):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.sock.settimeout(0.2)
        self.messages: list[str] = []
        self.running = True
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        while self.running:
            try:
                self.messages.append(self.sock.recv(4096).decode())
            except TimeoutError:
                continue
            except OSError:
                return

    def lines(self) -> list[str]:
        return [line for m in list(self.messages) for line in m.split("\n")]

    def close(self):
        self.running = False
        self.sock.close()


def write_config(path: Path, db: Path, feed_url: str, health_port: int, interval: str = "1s", extra: str = ""):
    path.write_text(
        offline(db, feed_url, interval)
        + f"""
[web]
port = {health_port}

[health]
allowance = 3

[milestones.personnel]
step = 100_000
{extra}
"""
    )


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
    except (urllib.error.URLError, OSError):
        return 0, ""  # not listening yet


@pytest.fixture
def daemon_env(tmp_path):
    """The daemon as the unit runs it (PYTHONOPTIMIZE=2: no docstrings, no asserts), with a notify socket."""
    notify = NotifySocket(str(tmp_path / "notify.sock"))
    yield notify, tallywatch_env(**unit_environment(), NOTIFY_SOCKET=notify.path, WATCHDOG_USEC="1000000")
    notify.close()


def test_notify_watchdog_reload_and_a_broken_reload(tmp_path, feed_server, daemon_env):
    notify, env = daemon_env
    feed_server.routes["/mod.rss"] = (200, {}, feed_until(dt.date(2025, 6, 11)))
    cfg, port = tmp_path / "tw.toml", free_port()
    write_config(cfg, tmp_path / "tw.db", f"{feed_server.url}/mod.rss", port)
    proc = start_daemon(cfg, env)
    try:
        assert wait(lambda: "READY=1" in notify.lines()), notify.messages
        assert wait(lambda: any(line.startswith("STATUS=1 of 1 sources ok · last report ") for line in notify.lines()))
        assert wait(lambda: notify.lines().count("WATCHDOG=1") >= 2)  # every half of WATCHDOG_USEC

        # a valid new configuration: RELOADING=1, then READY=1 again, running on the new one
        write_config(cfg, tmp_path / "tw.db", f"{feed_server.url}/mod.rss", port, interval="2s")
        before = len(notify.messages)
        proc.send_signal(signal.SIGHUP)
        assert wait(lambda: any("RELOADING=1" in m for m in notify.messages[before:]))
        reloading = next(i for i, m in enumerate(notify.messages) if i >= before and "RELOADING=1" in m)
        assert "MONOTONIC_USEC=" in notify.messages[reloading]
        assert wait(lambda: any("READY=1" in m for m in notify.messages[reloading:]))

        # a broken one: logged, and the daemon goes on with the previous configuration
        cfg.write_text(cfg.read_text().replace('interval = "2s"', 'interval = "soon"'))
        polls = len(feed_server.hits("/mod.rss"))
        proc.send_signal(signal.SIGHUP)
        assert wait(lambda: len(feed_server.hits("/mod.rss")) >= polls + 2), "polling stopped after a broken reload"
        assert proc.poll() is None
        assert wait(lambda: any(line.startswith("STATUS=reload failed: ") for line in notify.lines()))
        pings = notify.lines().count("WATCHDOG=1")
        assert wait(lambda: notify.lines().count("WATCHDOG=1") > pings)
    finally:
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=10)
    assert proc.returncode == 0 and time.monotonic() - started < 10
    assert "configuration reload failed, still running on the previous configuration: " in err
    assert "sources[0].interval: expected a duration" in err
    assert "STOPPING=1" in notify.lines()


def test_a_reload_that_cannot_start_keeps_the_old_session_then_a_good_one_takes_effect(
    tmp_path, feed_server, daemon_env
):
    """A configuration that validates but can't start (its database can't be opened) leaves the
    running session polling; a good one's new interval and health port are observed taking effect."""
    notify, env = daemon_env
    feed_server.routes["/mod.rss"] = (200, {}, feed_until(dt.date(2025, 6, 11)))
    feed_server.routes["/slow.rss"] = (200, {}, feed_until(dt.date(2025, 6, 11)))
    cfg, port, new_port = tmp_path / "tw.toml", free_port(), free_port()
    url = f"{feed_server.url}/mod.rss"

    def slow(interval: str) -> str:  # a second source, polled at start, then every ``interval``
        return (
            f'[[sources]]\nname = "slow"\nkind = "rss"\nurl = "{feed_server.url}/slow.rss"\ninterval = "{interval}"\n'
        )

    write_config(cfg, tmp_path / "tw.db", url, port, extra=slow("1h"))
    proc = start_daemon(cfg, env)
    try:
        assert wait(lambda: len(feed_server.hits("/slow.rss")) == 1 and get(f"http://127.0.0.1:{port}/healthz")[0])
        (tmp_path / "a-file").write_text("not a folder")
        write_config(cfg, tmp_path / "a-file" / "tw.db", url, new_port, extra=slow("1s"))
        before = len(notify.messages)
        proc.send_signal(signal.SIGHUP)
        assert wait(lambda: any(line.startswith("STATUS=reload failed: ") for line in notify.lines()[before:]))
        assert any("READY=1" in m for m in notify.messages[before:])  # systemd is told the reload ended
        polls = len(feed_server.hits("/mod.rss"))
        assert wait(lambda: len(feed_server.hits("/mod.rss")) >= polls + 2)  # the old session goes on
        assert proc.poll() is None and get(f"http://127.0.0.1:{port}/healthz")[0] == 200
        assert get(f"http://127.0.0.1:{new_port}/healthz")[0] == 0  # nothing of the new session is left
        assert len(feed_server.hits("/slow.rss")) == 1  # still polled hourly

        write_config(cfg, tmp_path / "tw.db", url, new_port, extra=slow("1s"))
        proc.send_signal(signal.SIGHUP)
        assert wait(lambda: len(feed_server.hits("/slow.rss")) >= 4)  # the new interval: every second
        assert wait(lambda: get(f"http://127.0.0.1:{new_port}/healthz")[0] == 200)
        assert wait(lambda: get(f"http://127.0.0.1:{port}/healthz")[0] == 0)  # the old port let go
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    assert "configuration reload failed, still running on the previous configuration: StoreError: database " in err
    assert "a-file/tw.db can't be opened" in err
    assert "Traceback" not in err


def test_one_daemon_per_database(tmp_path, feed_server, daemon_env):
    """A second daemon on the same database exits at once naming the first one's pid; it never
    takes back the first one's deliveries in flight."""
    _, env = daemon_env
    feed_server.routes["/mod.rss"] = (200, {}, feed_until(dt.date(2025, 6, 11)))
    cfg = tmp_path / "tw.toml"
    write_config(cfg, tmp_path / "tw.db", f"{feed_server.url}/mod.rss", free_port())
    first = start_daemon(cfg, env)
    try:
        assert wait(lambda: len(feed_server.hits("/mod.rss")) >= 1)
        second = start_daemon(cfg, env)
        _, err = second.communicate(timeout=30)
        assert second.returncode == 1
        assert f"another tallywatch daemon (pid {first.pid}) is running on {tmp_path / 'tw.db'}" in err
        assert "Traceback" not in err
        assert first.poll() is None
    finally:
        first.send_signal(signal.SIGTERM)
        first.communicate(timeout=10)
    assert first.returncode == 0
    again = start_daemon(cfg, env)  # the lock went with the first daemon
    try:
        assert wait(lambda: len(feed_server.hits("/mod.rss")) >= 2)
        assert again.poll() is None
    finally:
        again.send_signal(signal.SIGTERM)
        again.communicate(timeout=10)


def test_a_database_deleted_under_the_daemon_stops_its_work_loudly_and_no_second_daemon_starts(
    tmp_path, feed_server, daemon_env
):
    """Issue 25, case 5: deleting the database while the daemon ran went unnoticed — it kept writing
    into the deleted file (no log line, /healthz ok) and lost everything at restart; with the lock
    file deleted too, a second daemon started on the same path and the report went out twice. Now
    the heartbeat sees the file gone: said once, /healthz 503, a storage-fault count, no more polls
    or sends; and the lock that survives the files keeps a second daemon out."""
    notify, env = daemon_env
    feed_server.routes["/mod.rss"] = (200, {}, feed_until(dt.date(2025, 6, 11)))
    cfg, port, db = tmp_path / "tw.toml", free_port(), tmp_path / "tw.db"
    write_config(cfg, db, f"{feed_server.url}/mod.rss", port)
    first = start_daemon(cfg, env)
    try:
        assert wait(lambda: len(feed_server.hits("/mod.rss")) >= 2)
        assert wait(lambda: get(f"http://127.0.0.1:{port}/healthz")[0] == 200)
        for name in ("tw.db", "tw.db-wal", "tw.db-shm", "tw.db.lock"):
            (tmp_path / name).unlink(missing_ok=True)
        assert wait(lambda: get(f"http://127.0.0.1:{port}/healthz")[0] == 503)
        body = get(f"http://127.0.0.1:{port}/healthz")[1]
        assert f"storage: the database file {db} was deleted while the daemon ran" in body
        assert 'tallywatch_storage_errors_total{kind="file gone"} 1.0' in get(f"http://127.0.0.1:{port}/metrics")[1]
        polls = len(feed_server.hits("/mod.rss"))
        pings = notify.lines().count("WATCHDOG=1")
        assert wait(lambda: notify.lines().count("WATCHDOG=1") >= pings + 6)  # three seconds of heartbeats
        assert len(feed_server.hits("/mod.rss")) <= polls + 1  # (one in flight) polled every second before

        second = start_daemon(cfg, env)  # on the same path, its files gone
        try:
            _, err = second.communicate(timeout=30)
        finally:
            second.kill()  # (should it have started after all)
            second.communicate()
        assert second.returncode == 1, err
        assert f"another tallywatch daemon (pid {first.pid}) is running on {db}" in err
        assert first.poll() is None
    finally:
        first.send_signal(signal.SIGTERM)
        _, err = first.communicate(timeout=10)
    assert first.returncode == 0 and "Traceback" not in err, err
    assert err.count(f"the database file {db} was deleted while the daemon ran: no more polls or sends") == 1


def test_healthz_follows_the_sources_and_metrics_count(tmp_path, feed_server, daemon_env):
    _, env = daemon_env
    state = {"up": True, "day": dt.date(2025, 6, 11)}
    feed_server.routes["/mod.rss"] = lambda headers: (
        (200, {}, feed_until(state["day"])) if state["up"] else (503, {}, b"down")
    )
    cfg, port = tmp_path / "tw.toml", free_port()
    write_config(
        cfg,
        tmp_path / "tw.db",
        f"{feed_server.url}/mod.rss",
        port,
        extra="[http]\nbackoff_base = 0.1\nbackoff_max = 0.2\n",
    )
    proc = start_daemon(cfg, env)
    health = f"http://127.0.0.1:{port}"
    try:
        # the loop's snapshot (read every few seconds) knows the first successful poll
        assert wait(lambda: 'last_success_age_seconds{source="mod"}' in get(f"{health}/metrics")[1])
        assert get(f"{health}/healthz") == (200, "ok\n")
        state["up"] = False  # the feed server goes away
        assert wait(lambda: get(f"{health}/healthz")[0] == 503, limit=20)
        code, body = get(f"{health}/healthz")
        assert re.fullmatch(r"source mod: last success \d+ s ago \(allowance 5 s\)\n", body), body
        state["up"], state["day"] = True, dt.date(2025, 6, 12)  # back, with a new report: the million
        assert wait(lambda: get(f"{health}/healthz") == (200, "ok\n"), limit=20)
        assert wait(lambda: re.search(r'channel="console",outcome="sent"\} [1-9]', get(f"{health}/metrics")[1]))
        code, metrics = get(f"{health}/metrics")
        assert code == 200
        ok_polls = float(re.search(r'tallywatch_polls_total\{outcome="ok",source="mod"\} (\S+)', metrics).group(1))
        failed = float(re.search(r'tallywatch_polls_total\{outcome="failed",source="mod"\} (\S+)', metrics).group(1))
        assert ok_polls >= 2 and failed >= 1
        assert (
            float(re.search(r"^tallywatch_figures_stored_total (\S+)$", metrics, re.M).group(1)) == 84
        )  # 6 days × 14 metrics
        assert re.search(r'tallywatch_events_total\{rule="milestone"\} \d', metrics)
        assert re.search(r'tallywatch_source_last_success_age_seconds\{source="mod"\} \d', metrics)
        assert re.search(r"^tallywatch_outbox_depth 0\.0$", metrics, re.M)
        assert re.search(r'tallywatch_deliveries_total\{channel="console",outcome="sent"\} [1-9]', metrics)
        assert get(f"{health}/nothing")[0] == 404
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=10)
    assert proc.returncode == 0


def test_sd_notify_abstract_socket_names(tmp_path, monkeypatch):
    name = f"tallywatch-test-{os.getpid()}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("\0" + name)
    sock.settimeout(2)
    try:
        monkeypatch.setenv("NOTIFY_SOCKET", "@" + name)
        assert sdnotify.ready("started")
        assert sock.recv(100) == b"READY=1\nSTATUS=started"
    finally:
        sock.close()
    monkeypatch.delenv("NOTIFY_SOCKET")
    assert sdnotify.notify("READY=1") is False  # not under systemd: nothing to do


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed here")
def test_the_unit_is_hardened():
    done = subprocess.run(
        ["systemd-analyze", "security", "--offline=true", str(ROOT / "deploy" / "tallywatch.service")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    found = re.search(r"Overall exposure level for tallywatch\.service: (\d+\.\d+)", done.stdout + done.stderr)
    assert found, done.stdout + done.stderr
    assert float(found.group(1)) <= 2.0
    verify = subprocess.run(
        ["systemd-analyze", "verify", str(ROOT / "deploy" / "tallywatch.service")], capture_output=True, text=True
    )
    assert "Unknown key" not in verify.stderr and "Unknown section" not in verify.stderr


def test_install_script_is_idempotent_and_uninstalls(tmp_path):
    env = {
        **os.environ,
        "ROOT": str(tmp_path / "root"),
        "PIP": "true",  # no download in the tests: the package is the one under test
        "TALLYWATCH": str(Path(sys.executable).parent / "tallywatch"),
    }
    script = str(ROOT / "deploy" / "install.sh")
    for _ in range(2):
        done = subprocess.run(["bash", script, "--no-systemd"], capture_output=True, text=True, env=env, timeout=120)
        assert done.returncode == 0, done.stderr
    root = tmp_path / "root"
    assert (root / "opt/tallywatch/.venv/bin/python").exists()
    assert (root / "opt/tallywatch/src/tallywatch/daemon.py").exists()
    assert (root / "opt/tallywatch/docs/admin.md").exists()  # the unit's Documentation= and the README's links
    assert (root / "etc/systemd/system/tallywatch.service").read_text() == (
        ROOT / "deploy/tallywatch.service"
    ).read_text()
    config = root / "etc/tallywatch/tallywatch.toml"
    assert oct(config.stat().st_mode & 0o777) == "0o644"  # the service's DynamicUser reads it; no secret in it
    assert oct((root / "etc/tallywatch").stat().st_mode & 0o777) == "0o755"
    assert oct((root / "etc/tallywatch/credentials").stat().st_mode & 0o777) == "0o700"
    # the admin's `tallywatch` acts on the service's own config and database, not on a second one
    from tallywatch.store import Store

    service_db = root / "var/lib/tallywatch/tallywatch.db"
    store = Store(service_db)
    store.save_subscriber("telegram", "424242")
    store.close()
    admin = root / "usr/local/bin/tallywatch"
    listed = subprocess.run([str(admin), "subscribers", "list"], capture_output=True, text=True, timeout=60)
    assert listed.returncode == 0 and "424242" in listed.stdout, listed.stderr
    checked = subprocess.run([str(admin), "config", "check"], capture_output=True, text=True, timeout=60)
    assert f'"path": "{service_db}"' in checked.stdout and f"# {config}: valid" in checked.stderr
    config.write_text(config.read_text() + "\n# edited by the admin\n")
    subprocess.run(["bash", script, "--no-systemd"], check=True, capture_output=True, env=env, timeout=120)
    assert config.read_text().endswith("# edited by the admin\n")  # an upgrade never overwrites the config
    subprocess.run(["bash", script, "--uninstall", "--no-systemd"], check=True, capture_output=True, env=env)
    assert not (root / "opt/tallywatch").exists() and config.exists() and not admin.exists()
    subprocess.run(["bash", script, "--uninstall", "--purge", "--no-systemd"], check=True, capture_output=True, env=env)
    assert not (root / "etc/tallywatch").exists()
    bad = subprocess.run(["bash", script, "--frobnicate"], capture_output=True, text=True, env=env)
    assert bad.returncode == 2 and "unknown option --frobnicate" in bad.stderr


def test_healthz_says_when_the_database_cannot_be_written():
    from tallywatch.health import Snapshot

    snapshot = Snapshot(heartbeat=100.0, started=0.0)
    assert snapshot.problems(101.0) == []
    snapshot.storage = "database or disk is full (full) at /var/lib/tallywatch/tallywatch.db"
    assert snapshot.problems(101.0) == ["storage: database or disk is full (full) at /var/lib/tallywatch/tallywatch.db"]


def test_with_its_database_file_gone_a_pipeline_neither_polls_nor_sends(tmp_path):
    """What the heartbeat's finding stops (``Pipeline.check_files``): a poll fails naming the file
    without fetching anything, a send is not made (it could not be marked sent: it would go again
    after the restart); a file put back in its place lets both go on."""
    import asyncio
    import io

    from tally import million_through

    from tallywatch.channels.console import ConsoleChannel
    from tallywatch.config import Config
    from tallywatch.pipeline import Pipeline

    db = tmp_path / "tw.db"
    cfg = Config.from_dict(
        {
            "storage": {"path": str(db)},
            "detect": {"baseline": False},
            "backfill": {"enabled": False},
            "milestones": {"personnel": {"step": 100_000}},
            "sources": [{"name": "mod", "kind": "rss", "url": "http://127.0.0.1:9/x.rss"}],
        }
    )
    out = io.StringIO()

    async def go():
        pipeline = Pipeline(cfg, channels=[ConsoleChannel(out)], recover=True)
        try:
            await million_through(pipeline)
            assert pipeline.check_files() is None
            db.rename(tmp_path / "moved.db")
            assert pipeline.check_files() == f"the database file {db} was deleted while the daemon ran"
            assert await pipeline.deliver() == 0 and out.getvalue() == ""
            polled = await pipeline.poll(cfg.sources[0])
            assert (polled.status, polled.error) == ("failed", pipeline.halted)
            (tmp_path / "moved.db").rename(db)  # put back: the same file
            assert pipeline.check_files() is None
            assert await pipeline.deliver() == 1 and "passed 1,000,000" in out.getvalue()
        finally:
            await pipeline.aclose()

    asyncio.run(go())
