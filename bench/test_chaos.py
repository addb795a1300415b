"""The chaos run as a test: slow (about half a minute), so it lives in bench/, outside CI's tests/.
Run: .venv/bin/python -m pytest -q -m slow bench/test_chaos.py"""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from chaos import chaos


@pytest.mark.slow
def test_ten_sigkills_in_one_fanout_lose_nothing_and_duplicate_at_most_one_a_kill():
    r = chaos(subscribers=300, kill_count=10)
    assert r["kills"] == 10, r
    assert r["lost"] == 0, r
    assert r["duplicates"] <= r["kills"], r
    assert r["most"] <= 2, r
