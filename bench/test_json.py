"""Each benchmark run with ``--json``: its figures for people first, then, as its last line, one JSON
object with exactly the keys a run is compared by; a run that measured nothing exits non-zero with
its reason and prints no JSON and no figure. Small sizes throughout: this checks the benches, not
the daemon's speed. The quick ones run with ``pytest bench/``; those taking more than a few seconds
are marked slow (``pytest -m slow bench/``). Neither is part of CI's tests/.
Run: .venv/bin/python -m pytest -q bench/test_json.py"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent
SRC = BENCH.parent / "src"
FIGURES = {"median_s", "p95_s", "worst_s", "requests_per_day"}


def bench(name: str, *args: str, pythonpath: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    """``bench/NAME.py ARGS --json`` in a process of its own, on this checkout's source."""
    path = os.pathsep.join([*pythonpath, str(SRC), os.environ.get("PYTHONPATH", "")])
    return subprocess.run(
        [sys.executable, str(BENCH / f"{name}.py"), *args, "--json"],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": path},
    )


def last_json(name: str, *args: str) -> dict:
    """The run's last line as JSON, after it printed its figures for people."""
    run = bench(name, *args)
    assert run.returncode == 0, run.stderr[-3000:]
    lines = run.stdout.strip().splitlines()
    assert len(lines) > 1, f"no figures for people before the JSON line:\n{run.stdout}"
    assert not lines[-2].lstrip().startswith("{"), f"more than one JSON line:\n{run.stdout}"
    return json.loads(lines[-1], parse_constant=lambda name: pytest.fail(f"{name} is not JSON"))


def refused(name: str, *args: str, pythonpath: tuple[str, ...] = ()) -> str:
    """A run that cannot measure: non-zero, nothing on standard output; its reason (stderr)."""
    run = bench(name, *args, pythonpath=pythonpath)
    assert run.returncode != 0, run.stdout
    assert run.stdout.strip() == "", f"a run that measured nothing printed:\n{run.stdout}"
    return run.stderr


def numbers(*values: object) -> bool:
    return all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)


def test_latency_prints_the_three_ways_of_polling():
    got = last_json("latency", "--seeds", "2")
    assert set(got) == {"learned", "fixed_30m", "fixed_1m"}
    for way in got.values():
        assert set(way) == FIGURES, way
        assert numbers(*way.values()), way
        assert 0 <= way["median_s"] <= way["p95_s"] <= way["worst_s"]
    assert got["fixed_1m"]["requests_per_day"] == 1440
    assert got["fixed_30m"]["requests_per_day"] == 48


def test_latency_without_seeds_names_the_option_and_prints_no_figure():
    assert "--seeds 0" in refused("latency", "--seeds", "0")


def test_replay_prints_the_first_start_and_the_full_rate():
    got = last_json("replay", "--rounds", "1", "--days", "30")
    assert set(got) == {"first_start_figures_per_s", "full_figures_per_s"}
    assert numbers(*got.values()) and all(v > 0 for v in got.values()), got


def test_replay_with_no_rounds_names_the_option_and_prints_no_figure():
    assert "--rounds 0" in refused("replay", "--rounds", "0")


def test_claim_prints_its_three_shapes():
    got = last_json("claim", "--pending", "400", "--rounds", "2")
    assert set(got) == {"pending", "one_alert", "square", "one_reader"}
    assert got["pending"] == 400
    for shape in ("one_alert", "square", "one_reader"):
        assert set(got[shape]) == {"median_ms", "worst_ms"} and numbers(*got[shape].values())


def test_bot_burst_prints_the_crowds_replies():
    got = last_json("bot_burst", "--users", "10")
    assert set(got) == {"users", "replies_per_s", "median_s", "worst_s", "429s"}
    assert got["users"] == 10
    assert numbers(got["replies_per_s"], got["median_s"], got["worst_s"], got["429s"]), got


def test_bot_burst_without_users_prints_no_figure():
    assert "--users 0" in refused("bot_burst", "--users", "0")


def test_fanout_that_reached_nobody_prints_no_figure():
    assert "nothing measured" in refused("fanout", "--subscribers", "0", "--text")


def test_paid_fanout_over_within_its_first_second_has_no_sustained_rate_to_print():
    assert "no sustained rate" in refused("fanout", "--subscribers", "20", "--text", "--paid")


def test_footprint_whose_daemon_does_not_start_prints_its_words_and_no_figure(tmp_path):
    # the daemon (the one process with a NOTIFY_SOCKET) stops at its start, as a broken install would
    (tmp_path / "sitecustomize.py").write_text(
        'import os, sys\nif os.environ.get("NOTIFY_SOCKET"):\n    sys.exit("a broken install")\n'
    )
    reason = refused("footprint", "--idle", "1", pythonpath=(str(tmp_path),))
    assert "before READY=1" in reason and "a broken install" in reason


@pytest.mark.slow
def test_fanout_prints_its_rate():
    got = last_json("fanout", "--subscribers", "60", "--text")
    assert set(got) == {"subscribers", "paid", "rate", "429s", "lost"}
    assert got["subscribers"] == 60 and got["paid"] is False
    assert numbers(got["rate"], got["429s"], got["lost"]) and got["rate"] > 0, got


@pytest.mark.slow
def test_footprint_prints_its_situation():
    got = last_json("footprint", "--idle", "1")
    assert set(got) == {"situation", "rss_mb", "ready_s"}
    assert got["situation"] == "default"
    assert numbers(got["rss_mb"], got["ready_s"]) and got["rss_mb"] > 0 and got["ready_s"] > 0, got


@pytest.mark.slow
def test_chaos_prints_its_kills():
    got = last_json("chaos", "--subscribers", "40", "--kills", "2", "--seed", "1")
    assert set(got) == {"subscribers", "kills", "lost", "duplicates_per_kill"}
    assert got["subscribers"] == 40 and got["kills"] >= 1
    assert numbers(got["lost"], got["duplicates_per_kill"]), got


def test_web_without_subscribers_names_the_option_and_prints_no_figure():
    assert "--subscribers 0" in refused("web", "--subscribers", "0")


@pytest.mark.slow
def test_web_prints_the_page_speed_and_the_fanout_with_and_without_load():
    got = last_json("web", "--subscribers", "90", "--requests", "300", "--load-seconds", "3", "--page-seconds", "1")
    assert set(got) == {"page_rps", "page_p99_ms", "fanout_rate", "fanout_rate_under_load"}
    assert numbers(*got.values()) and all(v > 0 for v in got.values()), got
