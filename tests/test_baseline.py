"""A first start: the bundled history is stored quietly before the first poll (issue 12, part 1).

Real processes (`tallywatch poll`), a loopback feed, a real SQLite file.
"""

import json
from datetime import UTC

from feeds import rss
from processes import run_tallywatch

from tallywatch import history

LAST = max(history.daily())  # 2026-08-08, the bundled series' last day
NEXT = LAST.fromordinal(LAST.toordinal() + 1)
TRUE = {f.metric: f.value for f in history.daily()[LAST]}


def report(personnel: int, printed: int) -> str:
    """The next day's report in the 2025 one-line form, personnel as given, the rest a quiet day."""
    return (
        f"The total combat losses of the enemy from 24.02.2022 to {NEXT:%d.%m.%Y} were approximately: "
        f"personnel ‒ about {personnel:,} (+{printed:,}) persons, tanks ‒ {TRUE['tanks']:,}, "
        f"armoured combat vehicles ‒ {TRUE['armoured_vehicles']:,}, artillery systems ‒ {TRUE['artillery']:,}, "
        f"MLRS ‒ {TRUE['mlrs']:,}, air defense systems ‒ {TRUE['air_defense']:,}, aircraft ‒ {TRUE['aircraft']:,}, "
        f"helicopters ‒ {TRUE['helicopters']:,}, UAVs operational-tactical level ‒ {TRUE['uav']:,} (+0)."
    )


def write_config(tmp_path, server, baseline=True):
    path = tmp_path / "tw.toml"
    path.write_text(
        f"""
[detect]
baseline = {"true" if baseline else "false"}

[backfill]
enabled = false  # test_backfill.py fills the gap after the bundled history

[storage]
path = "{tmp_path / "tw.db"}"

[milestones.personnel]
step = 100_000

[[sources]]
name = "mod"
kind = "rss"
url = "{server.url}/mod.rss"
"""
    )
    return path


def serve(server, personnel, printed):
    from datetime import datetime, time

    published = datetime.combine(NEXT, time(6, 0), tzinfo=UTC)
    server.routes["/mod.rss"] = (200, {}, rss([(f"gs-{NEXT}", "losses", report(personnel, printed), published)]))


def events(cfg):
    return json.loads(run_tallywatch("events", "--json", "--config", str(cfg)).stdout)


def test_a_first_start_stores_the_bundled_history_quietly_and_judges_the_first_report_against_it(tmp_path, feed_server):
    true_next = TRUE["personnel"] + 1_130
    serve(feed_server, true_next * 10, 1_130)  # a typo on the first live day: an extra digit
    cfg = write_config(tmp_path, feed_server)
    first = run_tallywatch("poll", "--config", str(cfg))
    assert first.returncode == 0, first.stderr
    assert "first start: the bundled history 2022-02-25 … 2026-08-08 (1626 days) stored quietly" in first.stderr
    assert first.stdout == ""  # no alert: not the history, not the typo
    stored = events(cfg)
    assert not any(e["notified"] for e in stored)
    million = [e for e in stored if e["key"] == "milestone:personnel:1000000"]
    assert [(e["as_of"], e["value"]) for e in million] == [("2025-06-12", 1_000_340)]  # its true date
    nine = [e for e in stored if e["key"] == "milestone:personnel:900000"]
    assert [e["as_of"] for e in nine] == ["2025-03-21"]  # not the day of the install
    status = {r["metric"]: r for r in json.loads(run_tallywatch("status", "--json", "--config", str(cfg)).stdout)}
    assert (status["personnel"]["as_of"], status["personnel"]["value"]) == (str(LAST), TRUE["personnel"])

    serve(feed_server, true_next, 1_130)  # the publisher mends its post
    again = run_tallywatch("poll", "--config", str(cfg))
    assert "first start" not in again.stderr  # once: the store is not empty any more
    status = {r["metric"]: r for r in json.loads(run_tallywatch("status", "--json", "--config", str(cfg)).stdout)}
    assert (status["personnel"]["as_of"], status["personnel"]["value"]) == (str(NEXT), true_next)


def test_without_a_baseline_the_first_report_is_all_there_is(tmp_path, feed_server):
    serve(feed_server, TRUE["personnel"] + 1_130, 1_130)
    cfg = write_config(tmp_path, feed_server, baseline=False)
    done = run_tallywatch("poll", "--config", str(cfg))
    assert "first start" not in done.stderr
    assert events(cfg) == []
    status = json.loads(run_tallywatch("status", "--json", "--config", str(cfg)).stdout)
    assert {r["as_of"] for r in status} == {str(NEXT)}


def test_the_daemon_s_first_start_stores_the_history_before_its_first_poll(tmp_path, feed_server):
    import signal

    from processes import start_daemon
    from waiting import wait

    from tallywatch.store import Store

    serve(feed_server, TRUE["personnel"] + 1_130, 1_130)
    cfg = write_config(tmp_path, feed_server)
    daemon = start_daemon(cfg)
    try:
        assert wait(lambda: feed_server.hits("/mod.rss"), 60)  # it polled: the history was stored before

        def stored_next_day():
            store = Store(tmp_path / "tw.db")
            try:
                return store.conn.execute(
                    "SELECT count(*) FROM figures WHERE source = 'mod' AND as_of = ?", [str(NEXT)]
                ).fetchone()[0]
            finally:
                store.close()

        assert wait(stored_next_day, 30)
    finally:
        daemon.send_signal(signal.SIGTERM)
        _, err = daemon.communicate(timeout=30)
    assert "first start: the bundled history 2022-02-25 … 2026-08-08 (1626 days) stored quietly" in err
    assert err.index("first start:") < err.index("source mod:")  # before the first poll's news
    status = {r["metric"]: r for r in json.loads(run_tallywatch("status", "--json", "--config", str(cfg)).stdout)}
    assert status["personnel"]["value"] == TRUE["personnel"] + 1_130
    stored = events(cfg)
    # the history is not news; the first live report after it is (the day's report goes out)
    assert [e["key"] for e in stored if e["notified"]] == [f"report:{NEXT}"]
    assert [e["as_of"] for e in stored if e["key"] == "milestone:personnel:1400000"] == ["2026-06-28"]
