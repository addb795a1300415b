"""The layered defences, each tested directly (issue 24, "Must work" item 8): the plausibility
guard's bounds, absurd figures refused where they are made, retractions and their edits, the daily
report's versions, the subscribe form's expiring token, the start-up fill, the config's refusals,
secrets kept out of logs and stored errors, and the detector's windows after a rollback.

Real parts throughout: a SQLite file in ``tmp_path``, the store and rules engine as the ingest
feeds them, the fake Telegram Bot API, a loopback HTTP server, the web app under uvicorn.
"""

import asyncio
import datetime as dt
import io
import itertools
import json
import sqlite3
import time
from urllib.parse import parse_qs, urlsplit

import pytest
from fake_telegram import TOKEN
from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from processes import offline, run_tallywatch, tallywatch_env
from tally import Tally
from test_email import free_port
from test_outbox import BrokenChannel
from test_retraction import send_all
from test_web_email import serve, web_config

from tallywatch import outbox
from tallywatch.backfill import at_start
from tallywatch.channels.console import ConsoleChannel
from tallywatch.channels.limits import FloodGate
from tallywatch.channels.telegram import TelegramChannel
from tallywatch.config import Config, ConfigError, Source
from tallywatch.extract.genstaff import CORE_METRICS
from tallywatch.ingest import Item, extract_items
from tallywatch.models import MAX_FIGURE, REPORT_ZONE, Document, Figure
from tallywatch.pipeline import Pipeline
from tallywatch.web.app import FORM_COOKIE

D = dt.date
START = D(2025, 1, 1)


def day(n: int) -> dt.date:
    return START + dt.timedelta(days=n)


# -- the plausibility guard (detect/guard.py) ------------------------------------------------------

DATABASES = itertools.count()  # a file of its own for each series judged


def judged(tmp_path, guard: dict, history: list[int], value: int, gap: int = 1, delta: int | None = None, **cfg):
    """The status the engine gives ``value`` reported ``gap`` days after ``history`` (consecutive
    days from START), with ``[rules.guard]`` set to ``guard``: accepted or suspect."""
    tally = Tally(tmp_path / f"guard-{next(DATABASES)}.db", Config.from_dict({"rules": {"guard": guard}, **cfg}))
    try:
        metric = next(iter(cfg.get("metrics", {})), "personnel")
        for i, v in enumerate(history):
            tally.report("mod", day(i), v, metric)
        then = day(len(history) - 1 + gap)
        tally.report("mod", then, value, metric, delta=delta)
        return tally.point(metric, then)[2]
    finally:
        tally.close()


COLD = {"min_history": 7, "cold_ratio": 0.01, "floor": 0}


def test_the_cold_start_bound_is_cold_ratio_of_the_total_inclusive(tmp_path):
    # nothing known but one total: a rise of up to 1 % of 100,000 a day is plausible, not one more
    assert judged(tmp_path, COLD, [100_000], 101_000) == "accepted"
    assert judged(tmp_path, COLD, [100_000], 101_001) == "suspect"


RATIO = {"min_history": 3, "cold_ratio": 0.01, "factor": 2.0, "floor": 0, "window": 3}


def test_min_history_daily_rises_switch_from_the_cold_bound_to_the_ratio(tmp_path):
    # two daily rises known (fewer than 3): the cold bound judges, 1 % of 100,200 allows +500
    assert judged(tmp_path, RATIO, [100_000, 100_100, 100_200], 100_700) == "accepted"
    # exactly three: the ratio judges, 2 × the largest rise (100) allows +200, not +500
    assert judged(tmp_path, RATIO, [100_000, 100_100, 100_200, 100_300], 100_800) == "suspect"


def test_the_ratio_is_factor_times_the_largest_rise_of_the_window(tmp_path):
    # +500 (4 days back by then: out of the 3-day window), +100, +150, +100
    rises = [100_000, 100_500, 100_600, 100_750, 100_850]
    assert judged(tmp_path, RATIO, rises, 100_850 + 300) == "accepted"  # 2 × 150, exactly
    assert judged(tmp_path, RATIO, rises, 100_850 + 301) == "suspect"


STEADY = [100_000, 100_100, 100_200, 100_300]  # three rises of 100: the one-day limit is 2 × 100


def test_a_rise_over_missed_days_is_allowed_their_number_times_the_one_day_limit(tmp_path):
    assert judged(tmp_path, RATIO, STEADY, 100_300 + 200) == "accepted"
    assert judged(tmp_path, RATIO, STEADY, 100_300 + 201) == "suspect"
    assert judged(tmp_path, RATIO, STEADY, 100_300 + 600, gap=3) == "accepted"  # 3 days: 3 × 200
    assert judged(tmp_path, RATIO, STEADY, 100_300 + 601, gap=3) == "suspect"


def test_the_printed_change_across_missed_days_bounds_the_rise_both_ways(tmp_path):
    guard = {**RATIO, "floor": 10}
    # one day: the rise is the printed change, nothing else (the history would allow up to 200)
    assert judged(tmp_path, guard, STEADY, 100_300 + 100, delta=100) == "accepted"
    assert judged(tmp_path, guard, STEADY, 100_300 + 101, delta=100) == "suspect"
    # 3 days, "(+60)" printed: at least the day's 60, at most 60 × 3 days × factor 2 = 360 (the history alone: 600)
    assert judged(tmp_path, guard, STEADY, 100_300 + 60, gap=3, delta=60) == "accepted"
    assert judged(tmp_path, guard, STEADY, 100_300 + 59, gap=3, delta=60) == "suspect"
    assert judged(tmp_path, guard, STEADY, 100_300 + 360, gap=3, delta=60) == "accepted"
    assert judged(tmp_path, guard, STEADY, 100_300 + 361, gap=3, delta=60) == "suspect"


def test_a_total_falling_by_one_is_held_a_count_per_day_may_fall(tmp_path):
    assert judged(tmp_path, RATIO, STEADY, 100_300) == "accepted"  # no change at all is fine
    assert judged(tmp_path, RATIO, STEADY, 100_299) == "suspect"
    clashes = {"metrics": {"clashes": {"pattern": r"(?P<value>\d+) combat clashes", "kind": "daily"}}}
    assert judged(tmp_path, RATIO, [220, 180, 200, 190], 150, **clashes) == "accepted"


# -- absurd figures are refused where they are made (models.Figure.out_of_range, ingest.extract_items) -


def test_a_negative_total_or_an_absurd_printed_change_never_reaches_the_store(tmp_path):
    source = Source(name="api", kind="json", url="https://api.example.org/statistics")  # the russianwarship reader
    record = {
        "date": "2025-06-01",
        "stats": {
            "personnel_units": 1_000_000,
            "planes": MAX_FIGURE,  # the limit itself is a number (if an unlikely one)
            "mlrs": 1_500,
            "tanks": -1,
            "uav_systems": MAX_FIGURE + 1,
            "helicopters": 340,
            "cruise_missiles": 3_900,
        },
        "increase": {
            "personnel_units": 1_000,
            "mlrs": -MAX_FIGURE,
            "helicopters": MAX_FIGURE + 1,
            "cruise_missiles": -MAX_FIGURE - 1,
        },
    }
    (item,) = extract_items([Document("api", "record-1", payload=record)], source)
    assert item.verdict == "broken"
    assert [(f.metric, f.value, f.reported_delta) for f in item.figures] == [
        ("personnel", 1_000_000, 1_000),
        ("aircraft", MAX_FIGURE, None),
        ("mlrs", 1_500, -MAX_FIGURE),
    ]
    assert [p.split(" is not")[0] for p in item.problems] == [
        "tanks -1 on 2025-06-01",
        "uav 1,000,000,001 on 2025-06-01",
        "helicopters 1,000,000,001 on 2025-06-01",
        "cruise_missiles -1,000,000,001 on 2025-06-01",
    ]
    tally = Tally(tmp_path / "absurd.db", Config.from_dict({}))
    result = tally.feed("api", item)
    assert [p.split(":")[0] for p in result.problems] == ["broken report in record-1"]
    stored = tally.store.conn.execute("SELECT DISTINCT metric FROM figures ORDER BY metric").fetchall()
    assert [m for (m,) in stored] == ["aircraft", "mlrs", "personnel"]
    tally.close()


# -- the daily report (detect/report.py): which day, and its versions ---------------------------------


def core_item(n: int, bump: dict[str, int] | None = None, digest: str = "") -> Item:
    """Day ``n``'s report of the nine core categories (each +10 a day, its "(+N)" printed), as one
    post; ``bump`` adds to some of its totals (the post edited: give it a new ``digest``)."""
    figures = []
    for i, metric in enumerate(CORE_METRICS):
        before, value = 1_000 * (i + 1) + 10 * (n - 1), 1_000 * (i + 1) + 10 * n + (bump or {}).get(metric, 0)
        figures.append(Figure(metric=metric, as_of=day(n), value=value, reported_delta=value - before))
    return Item(f"post:{day(n)}", digest or f"post:{day(n)}", figures)


def reports(result) -> list[tuple[str, dict]]:
    return [(s.event.key, s.event.data) for s in result.events if s.event.rule == "report"]


def reported_tally(tmp_path) -> Tally:
    """Days 0-3 stored quietly (history: no report for them)."""
    tally = Tally(tmp_path / "report.db", Config.from_dict({}))
    for n in range(4):
        assert reports(tally.feed("mod", core_item(n), quiet=True)) == []
    return tally


def test_a_report_is_made_only_for_a_day_the_batch_changed(tmp_path):
    tally = reported_tally(tmp_path)
    # day 3 is complete, but this batch only brings a second source's figures for day 2
    assert reports(tally.feed("other", core_item(2))) == []
    # day 4 without its last core category is not complete; the post that brings it completes it
    figures = core_item(4).figures
    assert reports(tally.feed("mod", Item("most", "most", figures[:-1]))) == []
    assert [key for key, _ in reports(tally.feed("mod", Item("rest", "rest", figures[-1:])))] == [f"report:{day(4)}"]
    tally.close()


def test_a_changed_figure_makes_a_new_version_replacing_the_last_and_the_same_figures_nothing(tmp_path):
    tally = reported_tally(tmp_path)
    (first,) = [s for s in tally.feed("mod", core_item(4)).events if s.event.rule == "report"]
    assert first.event.key == f"report:{day(4)}"
    chain = [first.id]
    for n, personnel in enumerate((5, 7), start=2):  # the post edited twice
        revised = tally.feed("mod", core_item(4, {"personnel": personnel}, digest=f"edit {n}"))
        (version,) = [s for s in revised.events if s.event.rule == "report"]
        assert version.event.key == f"report:{day(4)}/{n}"
        assert version.event.data["version"] == n and version.event.data["replaces"] == [chain[-1]]
        assert version.event.data["figures"][0] == {
            "metric": "personnel",
            "value": 1_040 + personnel,
            "delta": 10 + personnel,
        }
        chain.append(version.id)
    # another source repeating the day's figures as they stand now: the day changed, its report did not
    assert reports(tally.feed("other", core_item(4, {"personnel": 7}))) == []
    tally.close()


# -- the detector after a rollback (ingest.ingest: detector.forget()) ---------------------------------


def test_after_a_failed_batch_the_next_is_judged_against_the_stored_series(tmp_path):
    cfg = Config.from_dict({"milestones": {"personnel": {"step": 100_000}}})
    tally = Tally(tmp_path / "rollback.db", cfg, [BrokenChannel()])
    for n in range(5):  # 995,000 … 999,000, a quiet first import
        tally.report("mod", day(n), 995_000 + 1_000 * n, delta=1_000)
    # day 5 crosses 1,000,000: its alert cannot be queued, and the whole batch is rolled back
    with pytest.raises(RuntimeError, match="recipient list unavailable"):
        tally.report("mod", day(5), 1_000_100, delta=1_100, item="post-5")
    assert tally.point("personnel", day(5)) is None
    # the post is edited before the next poll reads it: new to the store, and to the rules
    tally.channels = [ConsoleChannel(io.StringIO())]
    again = tally.report("mod", day(5), 1_000_200, delta=1_200, item="post-5")
    assert [s.event.key for s in again.events] == ["milestone:personnel:1000000"]  # no "revised" of a value never kept
    assert tally.point("personnel", day(5)) == (1_000_200, "mod", "accepted")
    tally.close()


# -- the config refuses what cannot work ------------------------------------------------------------


def test_follow_with_a_dated_url_is_refused_by_the_config():
    dated = {"name": "kmu", "kind": "html", "url": "https://www.kmu.gov.ua/news/{date:%d%m%Y}", "selector": "article"}
    with pytest.raises(ConfigError) as refused:
        Config.from_dict({"sources": [{**dated, "follow": r"/news/\d+"}]})
    assert str(refused.value) == (
        "settings: sources[0]: follow (a listing page) and a dated url (one page per day) exclude each other"
    )
    # each alone is fine: a page per day, or a listing whose links are followed
    assert Config.from_dict({"sources": [dated]}).sources[0].follow is None
    listing = {**dated, "url": "https://www.kmu.gov.ua/news", "follow": r"/news/\d+"}
    assert Config.from_dict({"sources": [listing]}).sources[0].follow == r"/news/\d+"


# -- secrets (secrets.redact) -----------------------------------------------------------------------

SMTP_PASSWORD = "Correct-Horse-7-Battery"  # shaped like no token, URL password or query parameter
ECHO = (302, {"Location": f"gopher://relay.invalid/{SMTP_PASSWORD}"}, b"")  # a server echoing it back


@pytest.mark.parametrize(
    "command", [("poll",), ("sources", "test", "mod"), ("backfill", "--from", "2025-06-01", "--to", "2025-06-02")]
)
def test_a_secret_set_in_the_environment_is_never_logged_printed_or_stored(tmp_path, feed_server, command):
    """A server answers with the SMTP password in its words: through the real command (its logging,
    what it prints) and into the source's stored error, it is redacted."""
    db, cfg = tmp_path / "tw.db", tmp_path / "tw.toml"
    feed_server.routes["/mod.rss"] = ECHO
    feed_server.prefixes["/api/v2/statistics"] = lambda path, headers: ECHO
    api = f'url = "{feed_server.url}/api/v2/statistics"\nenabled = false'  # in [backfill]: the backfill command's
    cfg.write_text(offline(db, f"{feed_server.url}/mod.rss").replace("enabled = false", api))
    done = run_tallywatch(*command, "--config", str(cfg), env=tallywatch_env(TALLYWATCH_SMTP_PASSWORD=SMTP_PASSWORD))
    assert done.returncode == 1
    assert "refused a redirect to 'gopher://relay.invalid/<redacted>'" in done.stderr
    assert SMTP_PASSWORD not in done.stdout + done.stderr
    if command == ("poll",):
        assert (
            "source mod failed (1 in a row): refused a redirect to 'gopher://relay.invalid/<redacted>'" in done.stderr
        )
        with sqlite3.connect(db) as conn:
            (stored,) = conn.execute("SELECT last_error FROM sources WHERE name = 'mod'").fetchone()
        assert stored == "refused a redirect to 'gopher://relay.invalid/<redacted>': not an http(s) address"


# -- the start-up fill (backfill.at_start) ----------------------------------------------------------


class HistoryApi:
    """russianwarship.rip v2's ``/statistics`` on the loopback server: personnel for any day asked
    (1,000,000 on ``base``, +1,000 a day), one page; the ``date_from`` of each request is kept."""

    def __init__(self, server, base: dt.date) -> None:
        self.base, self.asked = base, []
        server.prefixes["/api/v2/statistics"] = self

    def value(self, day: dt.date) -> int:
        return 1_000_000 + 1_000 * (day - self.base).days

    def __call__(self, path: str, headers: dict):
        query = {k: v[0] for k, v in parse_qs(urlsplit(path).query).items()}
        first, last = D.fromisoformat(query["date_from"]), D.fromisoformat(query["date_to"])
        self.asked.append(first)
        days = [first + dt.timedelta(days=n) for n in range((last - first).days + 1)]
        records = [
            {"date": d.isoformat(), "stats": {"personnel_units": self.value(d)}, "increase": {"personnel_units": 1_000}}
            for d in reversed(days)
        ]
        body = {"message": "ok", "data": {"paging": {"next_url": None}, "records": records}}
        return 200, {"Content-Type": "application/json"}, json.dumps(body).encode()


def start_after(tmp_path, feed_server, last: dt.date) -> tuple[HistoryApi, list]:
    """A start whose store's last day is ``last``: what the API was asked, and personnel's series after."""
    api = HistoryApi(feed_server, last)
    cfg = Config.from_dict(
        {
            "storage": {"path": str(tmp_path / "start.db")},
            "detect": {"baseline": False},
            "backfill": {"url": f"{feed_server.url}/api/v2/statistics", "pause": 0.01},
        }
    )
    tally = Tally(cfg.storage.resolved(), cfg)
    tally.report("mod", last, api.value(last))
    tally.close()

    async def start():
        pipeline = Pipeline(cfg)
        try:
            await at_start(pipeline)
            return await pipeline.in_store(pipeline.store.series, "personnel")
        finally:
            await pipeline.aclose()

    return api, asyncio.run(start())


def test_a_start_fills_a_two_day_gap_before_today(tmp_path, feed_server):
    today = dt.datetime.now(REPORT_ZONE).date()
    api, series = start_after(tmp_path, feed_server, today - dt.timedelta(days=3))
    assert api.asked == [today - dt.timedelta(days=2)]
    before_today = [(d, v, source, status) for d, v, source, status, _ in series if d < today]
    assert before_today == [
        (today - dt.timedelta(days=3), 1_000_000, "mod", "accepted"),
        (today - dt.timedelta(days=2), 1_001_000, "russianwarship", "accepted"),
        (today - dt.timedelta(days=1), 1_002_000, "russianwarship", "accepted"),
    ]


def test_a_start_after_yesterday_asks_for_nothing(tmp_path, feed_server):
    today = dt.datetime.now(REPORT_ZONE).date()
    api, series = start_after(tmp_path, feed_server, today - dt.timedelta(days=1))
    assert api.asked == [] and len(series) == 1


# -- the subscribe form's token expires (web/app.py) --------------------------------------------------


def signed_ago(signer: URLSafeTimedSerializer, nonce: str, seconds: int) -> str:
    """The token the form would have carried had it been shown ``seconds`` ago (the site's own key)."""

    class Then(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(time.time()) - seconds

    return URLSafeTimedSerializer(signer.secret_keys[-1], salt=signer.salt, signer=Then).dumps(nonce)


def test_the_subscribe_forms_token_is_good_for_two_hours(tmp_path, smtp):
    controller, sink = smtp
    cfg = web_config(tmp_path, controller.port, free_port())

    async def steps(pipeline, client, site):
        await client.get("/subscribe")  # the browser's cookie
        nonce, signer = client.cookies[FORM_COOKIE], await site.signing()
        answers = []
        for age, address in ((2 * 3600 + 60, "late@example.org"), (2 * 3600 - 60, "in-time@example.org")):
            fields = {"address": address, "digest": "daily", "csrf": signed_ago(signer, nonce, age)}
            answers.append(await client.post("/subscribe", data=fields))
        return answers

    late, in_time = serve(cfg, steps)
    assert late.status_code == 403 and "This form has expired or did not come from this site" in late.text
    assert in_time.status_code == 200
    assert [mail["To"] for mail in sink.messages] == ["in-time@example.org"]


# -- retractions on Telegram (outbox.enqueue, channels/telegram.py), seen from the fake Bot API --------

TAKING_BACK = Config.from_dict({"milestones": {"personnel": {"step": 100_000}}, "detect": {"confirm": "none"}})


def a_wrong_milestone_taken_back(tmp_path, fake, readers, unreachable=(), later=()) -> dict[str, int]:
    """A wrong figure (1,001,000; the truth 998,700) fires the 1,000,000 milestone for ``readers``
    (every alert), sent in one round while ``unreachable`` chats answer 500; ``later`` readers
    subscribe after it; the next two reports take it back; time passes and everything due is sent.
    Returns the message id of each reader's alert, as Telegram accepted it in the first round."""
    channel = TelegramChannel(TOKEN, TAKING_BACK.telegram.replace(base_url=fake.base_url))
    tally = Tally(tmp_path / "taken.db", TAKING_BACK, [channel])
    for chat in readers:
        tally.store.save_subscriber("telegram", chat, choice="all")
    history = [
        Item(f"post-{n}", f"post-{n}", [Figure(metric="personnel", as_of=day(n), value=988_700 + 1_000 * n)])
        for n in range(10)
    ]
    tally.feed("mod", *history)  # 988,700 … 997,700: a first import, quiet
    wrong = tally.report("mod", day(10), 1_001_000)
    assert [s.event.key for s in wrong.events if s.notify] == ["milestone:personnel:1000000"]
    for chat in unreachable:
        fake.fail_chat(chat, 500, "Internal Server Error")

    async def first_round():
        try:  # a failed send is tried again 3 s to 30 s later: not in this round
            await outbox.deliver(outbox.direct, tally.store, channel, FloodGate(channel.limits), retry_base=30.0)
        finally:
            await channel.stop()

    asyncio.run(first_round())
    fake.state.fail_chats.clear()
    alerts = {str(c.params["chat_id"]): c.params["_message"]["message_id"] for c in fake.sent()}
    for chat in later:
        tally.store.save_subscriber("telegram", chat, choice="all")
    assert tally.report("mod", day(11), 998_500, delta=800).events == []  # a fall from it: held
    taken = tally.report("mod", day(12), 999_300, delta=800)  # agrees with the day before it
    assert [s.event.key for s in taken.events] == [f"retracted:personnel:{day(10)}:1001000"]
    tally.store.db.execute(
        "UPDATE deliveries SET next_attempt_at = '2000-01-01T00:00:00+00:00' WHERE status = 'pending'"
    )
    send_all(tally, channel)  # (time has passed: every retry is due)
    tally.close()
    return alerts


def to(fake, chat: str, method: str) -> list:
    """Every call of ``method`` for ``chat`` the fake Bot API received, accepted or not."""
    return [c for c in fake.calls(method) if str(c.params.get("chat_id")) == chat]


def test_a_retractions_edit_is_not_repeated_when_its_answer_is_retried(tmp_path, fake):
    fake.trap(lambda params: "reply_parameters" in params, 500)  # the answer under the edited alert fails once
    alerts = a_wrong_milestone_taken_back(tmp_path, fake, ["801"])
    edits = to(fake, "801", "editMessageText")
    assert [(int(e.params["message_id"]), e.status) for e in edits] == [(alerts["801"], 200)]  # once
    assert "was wrong" in edits[0].params["text"]
    answers = [c for c in to(fake, "801", "sendMessage") if "reply_parameters" in c.params]
    assert [c.status for c in answers] == [500, 200]


def test_a_retraction_goes_only_to_those_who_got_the_alert(tmp_path, fake):
    alerts = a_wrong_milestone_taken_back(tmp_path, fake, ["901", "902"], unreachable=["902"], later=["903"])
    assert set(alerts) == {"901"}  # 902's copy was not sent before the figure was taken back
    (edit,) = to(fake, "901", "editMessageText")
    assert int(edit.params["message_id"]) == alerts["901"] and "was wrong" in edit.params["text"]
    (answer,) = [c for c in fake.sent("901") if "reply_parameters" in c.params]
    assert answer.params["reply_parameters"]["message_id"] == alerts["901"] and "was wrong" in answer.text
    for chat in ("902", "903"):  # one whose copy was never sent, one who subscribed after it went out
        assert to(fake, chat, "editMessageText") == []
        assert not any("was wrong" in c.text for c in fake.sent(chat))
    assert fake.sent("903") == []


def test_a_reader_whose_copy_was_not_sent_never_gets_the_alert_taken_back(tmp_path, fake):
    a_wrong_milestone_taken_back(tmp_path, fake, ["901", "902"], unreachable=["902"])
    assert [c.text for c in fake.sent("902")] == []
