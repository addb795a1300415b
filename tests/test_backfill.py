"""Filling a gap from an API that offers history: a loopback russianwarship.rip v2 ``/statistics``.

The records the server pages out are the bundled series' own days, in the API's shape (the
envelope of tests/fixtures/russianwarship_api_v2, keys as extract/json_fields maps them).
"""

import datetime as dt
import json
from urllib.parse import parse_qs, urlsplit

from processes import run_tallywatch

from tallywatch import history
from tallywatch.extract.json_fields import RUSSIANWARSHIP_V2

D = dt.date
SERIES = history.daily()
KEYS = {metric: key for key, metric in RUSSIANWARSHIP_V2["metrics"].items() if isinstance(metric, str)}
KEYS["ground_robots"] = "atgm_srbm_systems"


def record(day: dt.date) -> dict:
    today = {f.metric: f.value for f in SERIES[day]}
    before = {f.metric: f.value for f in SERIES.get(day - dt.timedelta(days=1), ())}
    return {
        "date": day.isoformat(),
        "day": (day - D(2022, 2, 24)).days + 1,
        "resource": "https://www.facebook.com/GeneralStaff.ua/posts/1",
        "stats": {KEYS[m]: v for m, v in today.items() if m in KEYS},
        "increase": {KEYS[m]: v - before[m] for m, v in today.items() if m in KEYS and m in before},
    }


class PagedApi:
    """``/statistics?offset=&limit=&date_from=&date_to=``, newest first, ``paging.next_url`` while more."""

    def __init__(self, server, page_size=7, fail_after=None):
        self.page_size, self.fail_after, self.calls = page_size, fail_after, []
        server.prefixes["/api/v2/statistics"] = self

    def __call__(self, path, headers):
        if not path.startswith("/api/v2/statistics?"):
            return 404, {}, b"not found"
        self.calls.append(path)
        if self.fail_after is not None and len(self.calls) > self.fail_after:
            return 503, {"Retry-After": "1"}, b"busy"
        q = {k: v[0] for k, v in parse_qs(urlsplit(path).query).items()}
        first, last = D.fromisoformat(q["date_from"]), D.fromisoformat(q["date_to"])
        days = sorted((d for d in SERIES if first <= d <= last), reverse=True)
        offset, limit = int(q["offset"]), min(int(q["limit"]), self.page_size)
        page = days[offset : offset + limit]
        more = offset + limit < len(days)
        following = f"/api/v2/statistics?offset={offset + limit}&limit={limit}&date_from={first}&date_to={last}"
        body = {
            "message": "The data were fetched successfully.",
            "data": {"paging": {"next_url": following if more else None}, "records": [record(d) for d in page]},
        }
        return 200, {"Content-Type": "application/json"}, json.dumps(body).encode()


def write_config(tmp_path, server):
    path = tmp_path / "tw.toml"
    path.write_text(
        f"""
[detect]
baseline = false

[backfill]
url = "{server.url}/api/v2/statistics"
days_per_request = 20
pause = "0.01s"

[storage]
path = "{tmp_path / "tw.db"}"

[milestones.personnel]
step = 100_000
"""
    )
    return path


def test_backfill_fills_the_days_quietly_with_milestones_on_their_true_dates(tmp_path, feed_server):
    api = PagedApi(feed_server)
    cfg = write_config(tmp_path, feed_server)
    done = run_tallywatch("backfill", "--from", "2025-05-01", "--to", "2025-07-09", "--config", str(cfg))
    assert done.returncode == 0, done.stderr
    assert done.stdout == (
        "backfill 2025-05-01 … 2025-07-09: 70 days stored from 4 windows (11 requests); 6 events recorded quietly\n"
    )
    # windows of 20 days, oldest first; each paged by the server 7 records at a time
    assert [parse_qs(urlsplit(c).query)["date_from"][0] for c in api.calls if "offset=0&" in c] == [
        "2025-05-01",
        "2025-05-21",
        "2025-06-10",
        "2025-06-30",
    ]
    events = json.loads(run_tallywatch("events", "--json", "--config", str(cfg)).stdout)
    assert not any(e["notified"] for e in events)  # quietly: a spike of May 2025 is no news in November 2026
    assert [(e["key"], e["as_of"]) for e in events if e["rule"] == "milestone"] == [
        ("milestone:personnel:1000000", "2025-06-12")  # on its true date
    ]
    status = {r["metric"]: r for r in json.loads(run_tallywatch("status", "--json", "--config", str(cfg)).stdout)}
    assert (status["personnel"]["as_of"], status["personnel"]["value"], status["personnel"]["source"]) == (
        "2025-07-09",
        {f.metric: f.value for f in SERIES[D(2025, 7, 9)]}["personnel"],
        "russianwarship",
    )

    # resumable: the next run starts after the last stored day, and asks for nothing it has
    api.calls.clear()
    again = run_tallywatch("backfill", "--to", "2025-07-15", "--config", str(cfg))
    assert again.returncode == 0, again.stderr
    assert [parse_qs(urlsplit(c).query)["date_from"][0] for c in api.calls] == ["2025-07-10"]
    assert "6 days stored from 1 window (1 requests)" in again.stdout


def test_an_interrupted_backfill_keeps_what_it_stored_and_says_where_it_stopped(tmp_path, feed_server):
    api = PagedApi(feed_server, page_size=50, fail_after=2)
    cfg = write_config(tmp_path, feed_server)
    done = run_tallywatch("backfill", "--from", "2025-05-01", "--to", "2025-07-09", "--config", str(cfg))
    assert done.returncode == 1
    assert "backfill stopped at 2025-06-10" in done.stderr and "503" in done.stderr
    assert done.stdout.startswith("backfill 2025-05-01 … 2025-07-09: 40 days stored from 2 windows (3 requests);")
    api.fail_after = None
    resumed = run_tallywatch("backfill", "--to", "2025-07-09", "--config", str(cfg))
    assert resumed.returncode == 0, resumed.stderr
    assert "30 days stored" in resumed.stdout


def test_a_start_fills_the_days_missing_since_the_last_stored_one(tmp_path, feed_server):
    api = PagedApi(feed_server, page_size=50)
    cfg = write_config(tmp_path, feed_server)
    assert (
        run_tallywatch("backfill", "--from", "2026-07-01", "--to", "2026-07-31", "--config", str(cfg)).returncode == 0
    )
    api.calls.clear()
    done = run_tallywatch("poll", "--config", str(cfg))  # no source: the start's fill is all it does
    assert "the last stored day is 2026-07-31: filling the days since from" in done.stderr, done.stderr
    assert parse_qs(urlsplit(api.calls[0]).query)["date_from"] == ["2026-08-01"]
    status = {r["metric"]: r for r in json.loads(run_tallywatch("status", "--json", "--config", str(cfg)).stdout)}
    assert status["personnel"]["as_of"] == "2026-08-08"  # the API's newest day
    events = json.loads(run_tallywatch("events", "--json", "--config", str(cfg)).stdout)
    assert not any(e["notified"] for e in events)
