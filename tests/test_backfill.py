"""Filling a gap from an API that offers history: a loopback russianwarship.rip v2 ``/statistics``.

The records the server pages out are the bundled series' own days, in the API's shape (the
envelope of tests/fixtures/russianwarship_api_v2, keys as extract/json_fields maps them).
"""

import datetime as dt
import itertools
import json
import signal
import threading
import time
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
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
sources = []  # none but the loopback API's history (left out: the built-in ones, on the internet)

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


# -- issue 25: no answer of the history API can hold the daemon -------------------------------------
# (these answers are our own: no real API was seen answering so; the records in them are real days)


class HostileApi(PagedApi):
    """The loopback API gone wrong, one way at a time (``mode``):

    * ``self``: ``next_url`` points at the page itself; ``endless``: at a next page, forever;
    * ``away``: at another site; ``elsewhen``: the records are of January 2024, not of the days asked for;
    * ``deep``: 100,000 nested arrays; ``hang``: never answers (until the test ends).
    """

    def __init__(self, server, mode):
        super().__init__(server, page_size=5)
        self.mode, self.times, self.released = mode, [], threading.Event()

    def __call__(self, path, headers):
        self.times.append(time.monotonic())
        if self.mode == "deep":
            self.calls.append(path)
            return 200, {"Content-Type": "application/json"}, b"[" * 100_000 + b"]" * 100_000
        if self.mode == "hang":
            self.calls.append(path)
            self.released.wait(60)
            return 503, {}, b"gone"
        q = {k: v[0] for k, v in parse_qs(urlsplit(path).query).items()}
        first = f"/api/v2/statistics?{urlencode({**q, 'offset': '0'})}"  # (endless: the same records again)
        status, headers, body = super().__call__(first if self.mode == "endless" else path, headers)
        data = json.loads(body)
        if self.mode == "self":
            data["data"]["paging"]["next_url"] = path
        elif self.mode == "endless":
            following = {**q, "offset": str(int(q["offset"]) + 5)}
            data["data"]["paging"]["next_url"] = f"/api/v2/statistics?{urlencode(following)}"
        elif self.mode == "away":
            data["data"]["paging"]["next_url"] = "http://evil.example/api/v2/statistics?offset=5"
        elif self.mode == "elsewhen":
            for n, r in enumerate(data["data"]["records"]):
                r["date"] = (D(2024, 1, 1) + dt.timedelta(days=n)).isoformat()
        return status, headers, json.dumps(data).encode()


def filled_until_july(tmp_path, feed_server, extra=""):
    """A store holding 2026-07-01 … 07-31 (from a well-behaved API), and the config to fill after it."""
    api = PagedApi(feed_server, page_size=50)
    cfg = write_config(tmp_path, feed_server)
    cfg.write_text(cfg.read_text().replace('pause = "0.01s"', f'pause = "0.01s"\n{extra}'))
    assert (
        run_tallywatch("backfill", "--from", "2026-07-01", "--to", "2026-07-31", "--config", str(cfg)).returncode == 0
    )
    api.calls.clear()
    return cfg


@pytest.mark.parametrize(
    ("mode", "says", "requests"),
    [
        ("self", "its next_url leads back to a page already read", 1),
        ("away", "its next_url leads off the API's own site, to http://evil.example/", 1),
        ("deep", "JSON nested deeper than 32 levels, not an API's answer", 1),
        ("endless", "stopped after 12 requests ([backfill] max_requests)", 12),
    ],
)
def test_a_history_api_going_round_in_circles_elsewhere_or_too_deep_is_a_clear_error(
    tmp_path, feed_server, mode, says, requests
):
    """Before: next_url pointing at itself was followed 21 times a second without end, to any host;
    100,000 nested arrays raised an uncaught RecursionError (the daemon exited before READY)."""
    cfg = filled_until_july(tmp_path, feed_server, "max_requests = 12")
    api = HostileApi(feed_server, mode)
    done = run_tallywatch("backfill", "--to", "2026-08-08", "--config", str(cfg))
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    assert "backfill stopped at 2026-08-01" in done.stderr and says in done.stderr, done.stderr
    assert len(api.calls) == requests
    status = {r["metric"]: r for r in json.loads(run_tallywatch("status", "--json", "--config", str(cfg)).stdout)}
    assert status["personnel"]["as_of"] == "2026-07-31"  # nothing stored of a window not read whole


def test_a_history_api_answering_other_days_than_those_asked_is_refused(tmp_path, feed_server):
    """Before: records of days not asked for were stored — dated 2030, they stood as the series'
    newest day, after which no start's fill ever ran again (a figure dated after tomorrow is
    refused by extraction itself: tests/test_extract_json.py)."""
    cfg = filled_until_july(tmp_path, feed_server)
    api = HostileApi(feed_server, "elsewhen")
    done = run_tallywatch("backfill", "--to", "2026-08-08", "--config", str(cfg))
    assert "answered 5 figures of days not asked for" not in done.stderr  # (counted per figure, not record)
    assert "of days not asked for (2024-01-01 … 2024-01-05, asked 2026-08-01 … 2026-08-08): refused" in done.stderr
    status = {r["metric"]: r for r in json.loads(run_tallywatch("status", "--json", "--config", str(cfg)).stdout)}
    assert max(r["as_of"] for r in status.values()) == "2026-07-31"
    api.mode = "fine"  # the API mends: the days are asked for again, and stored
    again = run_tallywatch("backfill", "--to", "2026-08-08", "--config", str(cfg))
    assert again.returncode == 0 and "8 days stored" in again.stdout, again.stderr


def test_a_fill_pauses_before_every_request_and_stops_at_its_budget(tmp_path, feed_server):
    """Before: the pause came only between windows, none between a window's pages; and a fill had no
    deadline of its own."""
    cfg = filled_until_july(tmp_path, feed_server)
    cfg.write_text(cfg.read_text().replace('pause = "0.01s"', 'pause = "0.3s"'))
    api = PagedApi(feed_server, page_size=3)
    api.times = []
    wrapped = api.__call__
    feed_server.prefixes["/api/v2/statistics"] = lambda path, headers: (
        api.times.append(time.monotonic()),
        wrapped(path, headers),
    )[1]
    assert run_tallywatch("backfill", "--to", "2026-08-08", "--config", str(cfg)).returncode == 0
    assert len(api.times) == 3  # one window of 8 days, 3 pages
    assert all(b - a >= 0.3 for a, b in itertools.pairwise(api.times)), api.times

    hang = HostileApi(feed_server, "hang")
    cfg.write_text(cfg.read_text().replace('pause = "0.3s"', 'pause = "0.01s"\nbudget = "1s"'))
    try:
        done = run_tallywatch("backfill", "--from", "2026-08-09", "--to", "2026-08-10", "--config", str(cfg))
    finally:
        hang.released.set()
    assert done.returncode == 1 and "stopped after 1s ([backfill] budget)" in done.stderr, done.stderr


def test_the_daemon_is_up_whatever_the_history_api_does_and_stops_when_told(tmp_path, feed_server):
    """Before: the start's fill ran before READY — an API that hangs or pages without end kept the
    daemon from ever being up (the unit allows 30 s), and SIGTERM went unheard; 100,000 nested
    arrays made it exit before READY (a crash loop under Restart=on-failure). Now the fill runs
    beside the daemon: READY at once, SIGTERM stops it, and the polls go on once it gives up."""
    from processes import start_daemon, tallywatch_env
    from test_daemon_lifecycle import NotifySocket
    from test_telegram_daemon import feed_until
    from waiting import wait

    polled = []  # when the feed was asked
    feed = feed_until(D(2025, 6, 11))
    feed_server.routes["/mod.rss"] = lambda headers: (polled.append(time.monotonic()), (200, {}, feed))[1]
    cfg = filled_until_july(tmp_path, feed_server)
    source = (
        f'[[sources]]\nname = "mod"\nkind = "rss"\nurl = "{feed_server.url}/mod.rss"\ninterval = "1s"\njitter = 0\n'
    )
    http = '[http]\ntimeout = "60s"\ndeadline = "60s"\n\n'  # (the client alone would not give up before 30 s)
    http += "[web]\nenabled = false\n\n"
    config = cfg.read_text().replace("sources = []", "") + source
    notify = NotifySocket(str(tmp_path / "notify.sock"))

    def start(budget):
        cfg.write_text(http + config.replace("[storage]", f'budget = "{budget}"\n\n[storage]'))
        notify.messages.clear()
        polled.clear()
        return start_daemon(cfg, tallywatch_env(NOTIFY_SOCKET=notify.path))

    def stop(proc):
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=15)
        assert proc.returncode == 0 and "Traceback" not in err, err
        return err

    hang = HostileApi(feed_server, "hang")
    proc = start("10m")
    try:
        assert wait(lambda: "READY=1" in notify.lines()), "not up while the history API hangs"
        assert wait(lambda: hang.calls), "the start's fill did not ask"
    finally:
        stop(proc)  # heard, though the fill still waits for its answer

    began = time.monotonic()
    proc = start("5s")
    try:
        assert wait(lambda: hang.calls and polled), "no poll after the fill gave up"
        assert polled[0] >= began + 5  # the polls waited for the fill (today's report follows the days before it)
    finally:
        err = stop(proc)
        hang.released.set()
    assert "stopped after 5s ([backfill] budget)" in err, err

    HostileApi(feed_server, "deep")
    proc = start("10m")
    try:
        assert wait(lambda: "READY=1" in notify.lines()), "not up after a history API answering 100,000 levels deep"
        assert wait(lambda: polled), "no poll after the fill failed"
    finally:
        err = stop(proc)
        notify.close()
    assert "backfill stopped at 2026-08-01" in err and "JSON nested deeper than 32 levels" in err, err
