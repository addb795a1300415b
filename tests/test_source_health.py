"""One answer to "is this source healthy?", read the same way by `sources`, `status`, /stats, the
systemd STATUS line and /healthz."""

import datetime as dt

from tallywatch.config import Config, Source
from tallywatch.daemon import _ages, status_line
from tallywatch.sources.health import read_all

NOW = dt.datetime(2026, 11, 26, 12, 0, tzinfo=dt.UTC)
CONFIG = Config(
    sources=[
        Source(name="fine", kind="rss", url="http://127.0.0.1/a", interval=600),
        Source(name="failing", kind="rss", url="http://127.0.0.1/b", interval=600),
        Source(name="slow", kind="rss", url="http://127.0.0.1/s", interval=600),
        Source(name="broken", kind="rss", url="http://127.0.0.1/c", interval=600),
        Source(name="new", kind="rss", url="http://127.0.0.1/d", interval=600),
        Source(name="off", kind="rss", url="http://127.0.0.1/e", enabled=False),
    ]
)
ROWS = [
    {"name": "fine", "consecutive_failures": 0, "last_success": "2026-11-26T11:55:00+00:00",
     "last_new_report": "2026-11-26T06:00:00+00:00"},
    {"name": "failing", "consecutive_failures": 2, "last_success": "2026-11-26T11:00:00+00:00",
     "last_error": "HTTP 503 at https://x/bot123456789:AAHfakeTokenForTestsOnly-xyz_0123456789/y"},
    {"name": "slow", "consecutive_failures": 3, "next_poll_after": "2026-11-26T13:00:00+00:00"},
    {"name": "broken", "consecutive_failures": 9, "broken_since": "2026-11-25T00:00:00+00:00"},
]  # fmt: skip


def test_every_reader_tells_the_same_health():
    health = {h.name: h for h in read_all(CONFIG, ROWS, now=NOW)}
    assert {n: h.state for n, h in health.items()} == {
        "fine": "ok",
        "failing": "failing",
        "slow": "slowed",  # slow_after = 3 failures in a row
        "broken": "broken",
        "new": "not polled yet",
        "off": "disabled",
    }
    assert health["failing"].summary == "failing: 2 in a row"
    assert health["failing"].last_error == "HTTP 503 at https://x/bot<redacted>/y"
    assert health["broken"].summary == "broken since 2026-11-25T00:00:00+00:00 (9 failures in a row)"
    assert health["slow"].summary == "slowed: 3 failures in a row"
    assert (
        health["slow"].next_poll == "not before 2026-11-26T13:00:00+00:00" and health["fine"].next_poll == "every 10m"
    )
    assert health["fine"].age == 300 and health["fine"].allowance == 1800
    # the systemd STATUS line and /healthz read the same model
    sources = list(health.values())
    assert status_line(sources, {"pending": 1, "retrying": 0, "sending": 0}) == (
        "1 of 5 sources ok · last report 2026-11-26 · 1 pending deliveries"
    )
    assert _ages(sources) == {"fine": (300.0, 1800.0), "failing": (3600.0, 1800.0), "slow": (None, 1800.0), "broken": (None, 1800.0),
                              "new": (None, 1800.0)}  # fmt: skip
    assert health["fine"].as_dict()["state"] == "ok" and "age" not in health["fine"].as_dict()
