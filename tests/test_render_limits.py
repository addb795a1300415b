"""Rendering for people and the flood gate's arithmetic, with a clock we control."""

import asyncio
import datetime as dt
import itertools
import re
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tallywatch import config
from tallywatch.channels import ChannelLimits
from tallywatch.channels.limits import FloodGate
from tallywatch.channels.render import localize_numbers, split, telegram_html
from tallywatch.channels.telegram import LIMITS, quiet_until, wants
from tallywatch.models import Event

KYIV = ZoneInfo("Europe/Kyiv")


def event(rule="spike", metric="tanks", message="tanks +55 in a day", severity="warning"):
    return Event(
        key=f"{rule}:{metric}",
        rule=rule,
        metric=metric,
        as_of=dt.date(2023, 10, 20),
        value=5_047,
        message=message,
        severity=severity,
        data={},
    )


def test_html_escapes_everything_from_outside():
    html = telegram_html(event("broadcast", "", "<b>hi</b> & <script>x</script>"))
    assert html == "📣 <b>20 Oct 2023</b>\n&lt;b&gt;hi&lt;/b&gt; &amp; &lt;script&gt;x&lt;/script&gt;"


def test_a_report_caption_fits_a_photo_whatever_stood_out():
    """Our own event (no real day had fourteen standouts): the report keeps its milestone headline,
    its table and its source within Telegram's 1,024 characters of a caption, dropping standout
    lines from the last."""
    from tallywatch.extract.genstaff import METRICS

    figures = [{"metric": m, "value": 1_000_000 + i, "delta": 1_000 + i} for i, m in enumerate(METRICS)]
    standouts = [
        {"rule": "spike", "metric": m, "message": f"{m} +{i}00 in a day — the most in a year " + "x" * 20, "data": {}}
        for i, m in enumerate(METRICS)
    ]
    crossing = {
        "rule": "milestone",
        "metric": "personnel",
        "value": 1_000_340,
        "message": "",
        "data": {"level": 1_000_000},
    }
    standouts = [crossing, *standouts]
    data = {"day_of_war": 1_206, "figures": figures, "rank": {"rank": 3, "of": 365}, "standouts": standouts,
            "publisher": "genstaff", "link": "https://www.mil.gov.ua/news/2025/06/13/x/", "version": 2}  # fmt: skip
    report = Event(
        key="report:2025-06-13/2",
        rule="report",
        metric="",
        as_of=dt.date(2025, 6, 13),
        value=1_000_000,
        message="r",
        severity="info",
        data=data,
    )
    for language in ("en", "uk"):
        text = telegram_html(report, language)
        assert len(text) <= 1024 and text.count("\n") > 15
        assert text.endswith("</a></i>") and ("Revised" in text or "Виправлено" in text)
        assert text.startswith("🏁 <b>1")  # the day's milestone leads, whatever is left out
        assert "📈" in text or language == "uk"  # as many standouts as fit (the Ukrainian table is longer)
        assert "Personnel: the 3rd highest day in a year." in text or "3-й найбільший показник за рік" in text
        assert len(telegram_html(report, language)) > 900


def test_categories_by_the_names_people_use():
    from tallywatch.channels.render import metric_named
    from tallywatch.extract.genstaff import METRICS

    asked = {
        "UAV": "uav", "uavs": "uav", "drones": "uav", "БПЛА": "uav", "дрони": "uav",
        "tank": "tanks", "Tanks": "tanks", "танки": "tanks", "helicopter": "helicopters",
        "air defence": "air_defense", "Air  Defense": "air_defense", "ППО": "air_defense",
        "особовий склад": "personnel", "troops": "personnel", "armoured_vehicles": "armoured_vehicles",
        "APVs": "armoured_vehicles", "ББМ": "armoured_vehicles",
    }  # fmt: skip
    assert {words: metric_named(words, METRICS) for words in asked} == asked
    assert metric_named("nukes", METRICS) is None and metric_named("", METRICS) is None
    assert metric_named("srbm launchers", ["personnel"]) is None  # only the categories there are


def test_every_figure_alert_reads_the_same_in_ukrainian():
    """Each kind of alert about the figures has its words in the catalogue: a Ukrainian reader
    never gets an English sentence with Ukrainian numbers in it (nor would an admin who read Ukrainian)."""
    from tallywatch.detect import corrections
    from tallywatch.detect.window import Window
    from tallywatch.models import Step

    window = Window("tanks", config.Config())
    from tallywatch.detect.disagreement import evaluate as disagree
    from tallywatch.detect.window import Point

    day = dt.date(2025, 6, 13)
    suspect, nxt = Point(day, 10_001_560, "mod", 1_220), Point(day + dt.timedelta(days=1), 1_002_690, "mod")
    events = [corrections.discarded("personnel", suspect, why, nxt) for why in corrections.DISCARDED_WHY]
    events += disagree(
        "tanks", day, ("mod", 10_934), ("kmu", 10_940), config.Disagreement(tolerance=0, tolerance_ratio=0)
    )
    events.append(
        Event(key="reported_delta:personnel", rule="reported_delta", metric="personnel", as_of=day, value=1_001_560, message="", severity="info",
              data={"reported": 1_500, "computed": 1_220})
    )  # fmt: skip
    # and what readers are told of a figure corrected, or taken back, in plain words
    step = Step("tanks", day, 10_940, "mod", day - dt.timedelta(days=1), 10_931)
    for kind, old in (("revised", 10_934), ("decrease", 10_950)):
        (correction,) = (corrections.revised(step, old, window) if kind == "revised" else corrections.went_down(
            Step("tanks", day, 10_940, "mod", day - dt.timedelta(days=1), old), window))  # fmt: skip
        correction.data["publisher"] = "genstaff"
        events.append(correction)
    taken = corrections.retracted("personnel", suspect, nxt, Point(day + dt.timedelta(days=2), 1_003_800, "mod"), [])
    taken.data["publisher"] = "genstaff"
    events.append(taken)
    assert len(events) == len(corrections.DISCARDED_WHY) + 5
    (disagreement,) = [e for e in events if e.rule == "disagreement"]
    disagreement.data.update(publisher="genstaff", link="https://www.mil.gov.ua/")  # as ingest stores it
    assert "mod says 10,934, kmu says 10,940" not in telegram_html(disagreement, "en", admin=True)
    assert "kmu says 10,940, mod says 10,934" in telegram_html(disagreement, "en", admin=True)
    for e in events:
        english, ukrainian = telegram_html(e, "en"), telegram_html(e, "uk")
        assert english != ukrainian
        body = ukrainian.split("\n", 1)[1]
        assert not re.search(r"\b(the|from|for|says|report)\b", body), body  # no English left in it
        assert re.search("[а-яіїє]", body), body


def test_numbers_for_the_reader():
    # no-break spaces: a number never wraps across two lines
    assert localize_numbers("now 1,002,690 (+1,130), up 3,5%", "uk") == "now 1\u00a0002\u00a0690 (+1\u00a0130), up 3,5%"
    assert localize_numbers("now 1,002,690", "en") == "now 1,002,690"


def test_split_keeps_every_piece_within_the_limit():
    text = "\n".join(f"line {i} " + "x" * 90 for i in range(100))  # ~10 kB
    pieces = split(text, 4096)
    assert all(len(p) <= 4096 for p in pieces) and len(pieces) == 3
    assert "\n".join(pieces) == text
    long_line = "y" * 9000
    assert [len(p) for p in split(long_line, 4096)] == [4096, 4096, 808]
    assert split("short", 4096) == ["short"]


def test_quiet_hours_delay_only_non_critical_alerts():
    sub = {"quiet_from": 22, "quiet_to": 7}
    late = dt.datetime(2025, 6, 12, 21, 30, tzinfo=dt.UTC)  # 00:30 on 13 June in Kyiv (UTC+3)
    wake = quiet_until(sub, event(), late, KYIV)
    assert wake == dt.datetime(2025, 6, 13, 4, 0, tzinfo=dt.UTC)  # 07:00 Kyiv, the next morning
    assert quiet_until(sub, event(severity="critical"), late, KYIV) is None
    noon = dt.datetime(2025, 6, 12, 9, 0, tzinfo=dt.UTC)
    assert quiet_until(sub, event(), noon, KYIV) is None
    assert quiet_until({"quiet_from": None, "quiet_to": None}, event(), late, KYIV) is None


def test_choices():
    assert wants({"choice": "all", "metrics": []}, event())
    assert not wants({"choice": "milestones", "metrics": []}, event())
    assert wants({"choice": "milestones", "metrics": []}, event("milestone"))
    assert wants({"choice": "metrics", "metrics": ["tanks"]}, event())
    assert not wants({"choice": "metrics", "metrics": ["uav"]}, event())
    assert not wants({"choice": "all", "metrics": []}, event("stale", ""))  # the daemon's own health: admins only
    for notice in ("guard", "disagreement", "reported_delta"):  # what is wrong with the data: admins only
        assert not wants({"choice": "all", "metrics": []}, event(notice))
        assert not wants({"choice": "metrics", "metrics": ["tanks"]}, event(notice))
    assert wants({"choice": "metrics", "metrics": ["uav"]}, event("broadcast", ""))


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_gate_rates_with_a_clock():
    clock = Clock()
    gate = FloodGate(LIMITS, clock)
    # one chat: the second message waits about a second
    assert gate.wait_for("1", False, clock.now) == 0
    asyncio.run(gate.acquire("1"))
    assert gate.wait_for("1", False, clock.now) == pytest.approx(1.15)
    # overall: paced at 1/30 s, and at most 30 in any second
    waits = []
    for chat in range(2, 40):
        wait = gate.wait_for(str(chat), False, clock.now)
        clock.now += wait
        asyncio.run(gate.acquire(str(chat)))
        waits.append(wait)
    starts = [1000.0 + sum(waits[: i + 1]) for i in range(len(waits))]
    assert all(b - a >= 1 / 30 - 1e-9 for a, b in itertools.pairwise(starts))
    assert max(sum(1 for t in starts if s <= t < s + 1.0) for s in starts) <= 30


def test_gate_groups_twenty_a_minute():
    clock = Clock()
    gate = FloodGate(ChannelLimits(per_group_per_minute=20), clock)
    for _ in range(20):
        asyncio.run(gate.acquire("-100", group=True))
        clock.now += 0.5
    assert gate.wait_for("-100", True, clock.now) > 40  # the 21st waits for the first to leave the minute
    assert gate.wait_for("-200", True, clock.now) == 0


def test_a_token_in_the_config_file_is_refused(tmp_path):
    path = tmp_path / "t.toml"
    path.write_text('[telegram]\ntoken = "123:abc"\n')
    with pytest.raises(config.ConfigError, match="the bot token is never read from the config file"):
        config.load(path)


def test_split_never_cuts_inside_a_tag_or_an_entity_and_balances_tags():
    """A long struck-through retraction (``<s>`` around many lines) and lines full of entities:
    every piece is within the limit and is whole HTML (tags closed, reopened in the next piece)."""
    from html.parser import HTMLParser

    body = "\n".join(f"line {i}: tanks &amp; artillery &lt;{i}&gt; " + "x" * 40 for i in range(300))
    text = f'✏️ <b>2025-06-12</b>\n<s>{body}</s>\n\n<a href="https://example.org/?a=1&amp;b=2">{"z" * 5000}</a>'
    pieces = split(text, 4096)
    assert len(pieces) >= 5 and all(len(p) <= 4096 for p in pieces)

    class Balance(HTMLParser):
        def __init__(self):
            super().__init__(convert_charrefs=False)
            self.open, self.ok = [], True

        def handle_starttag(self, tag, attrs):
            self.open.append(tag)

        def handle_endtag(self, tag):
            self.ok = self.ok and bool(self.open) and self.open.pop() == tag

    for piece in pieces:
        assert not re.search(r"&\w*$|<[^>]*$", piece), piece[-20:]  # no entity or tag cut at the end
        assert not re.match(r"(<[^>]+>)*(#?\w+;|[^<]*>)", piece), piece[:20]  # nor at the start
        check = Balance()
        check.feed(piece)
        check.close()
        assert check.ok and check.open == [], (piece[:60], check.open)
    assert pieces[1].startswith("<s>") and pieces[-1].startswith('<a href="https://example.org/?a=1&amp;b=2">')
    plain = re.sub(r"<[^>]+>", "", "".join(pieces))  # the words are all there, in order
    assert plain.replace("\n", "") == re.sub(r"<[^>]+>", "", text).replace("\n", "")


def test_the_gate_forgets_chats_no_limit_concerns_any_more():
    """A year of fan-outs to ever new chats: the gate's maps hold the recent ones, not all of them;
    a chat sent to a moment ago is still spaced, a pause still running is still kept."""
    clock = Clock()
    gate = FloodGate(LIMITS, clock)

    async def fan_out():
        for chat in range(5_000):
            clock.now += gate.wait_for(f"-{chat}", True, clock.now)
            await gate.acquire(f"-{chat}", True)
            if chat % 1_000 == 0:
                gate.pause(f"-{chat}", 3600)

    asyncio.run(fan_out())
    recent = 62 * 30  # the chats of the last minute (the group limit's window) at 30 a second
    # (forgotten after as many new chats again as were kept: the maps hold at most twice the recent ones)
    bound = max(FloodGate.KEPT, 2 * recent) + 1
    assert len(gate._last) <= bound and len(gate._group) <= bound < 5_000
    assert gate.wait_for("-4999", True, clock.now) > 0  # the last one is remembered
    assert set(gate._paused) >= {"-4000"}  # its hour has not passed


def test_a_paid_broadcast_to_thousands_of_chats_a_minute_forgets_rarely():
    """At 1,000 sends a second, 60,000 chats are in the last minute: forgetting on every send once
    past ``KEPT`` made each send rebuild maps of thousands (issue 28). It now runs after as many new
    chats again as it kept, so a send pays O(1) for it — and the maps stay bounded."""
    from tallywatch.channels.telegram import PAID_CONCURRENCY, PAID_PER_SECOND

    clock = Clock()
    gate = FloodGate(ChannelLimits(per_second=PAID_PER_SECOND, concurrency=PAID_CONCURRENCY), clock)
    forgot = []
    forget = gate._forget
    gate._forget = lambda now: (forgot.append(now), forget(now))

    async def fan_out():
        for chat in range(20_000):
            clock.now += gate.wait_for(str(chat), False, clock.now)
            await gate.acquire(str(chat))
            gate.finished(str(chat))

    asyncio.run(fan_out())
    assert 1 <= len(forgot) <= 6  # 1,024, 2,050, 4,100, 8,200, 16,400: doubling, not 19,000 times
    assert len(gate._last) <= 2 * 20_000
    assert gate.wait_for("19999", False, clock.now) > 0  # the last chat is still spaced


@given(
    st.lists(
        st.tuples(st.integers(0, 5), st.floats(0, 1.5), st.floats(0, 0.7)),  # (chat, answer after, next booking after)
        max_size=80,
    )
)
def test_the_gate_counts_late_arrivals_as_the_plain_count_does(sends):
    """The gate's late arrivals (booked over a second ago, answered within the last second), kept
    in heaps, are those a plain scan of every (booked, answered) finds, at every moment."""
    clock = Clock()
    gate = FloodGate(LIMITS, clock)
    spans: list[tuple[float, float]] = []
    answers: list[tuple[float, str, float]] = []  # (answered at, chat, booked at)
    for chat, takes, then in sends:
        for moment in sorted({clock.now, clock.now + then / 2, clock.now + then}):
            while answers and min(answers)[0] <= moment:  # the answers due by then come in order
                at, who, booked = min(answers)
                answers.remove(min(answers))
                clock.now = at
                gate.finished(who)
                spans.append((booked, at))
            clock.now = moment
            plain = [answered + 1.0 for booked, answered in spans if booked + 1.0 <= moment < answered + 1.0]
            assert gate._late(moment) == (len(plain), min(plain, default=moment))
        if str(chat) not in gate._booked:  # one send in flight per chat, as the outbox has it
            gate._booked[str(chat)] = clock.now
            answers.append((clock.now + takes, str(chat), clock.now))
