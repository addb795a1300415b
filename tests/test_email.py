"""Email through a real SMTP server (aiosmtpd) on 127.0.0.1: instant mails, digests, outages, TLS."""

import asyncio
import datetime as dt
import email
import io
import re
import socket
import ssl
from email.policy import default as email_policy

import pytest
import trustme
from aiosmtpd.controller import Controller
from processes import offline, run_tallywatch

from tallywatch import digest
from tallywatch.channels.email import Mail, build_message
from tallywatch.config import Config
from tallywatch.ingest import Item, ingest
from tallywatch.models import Figure
from tallywatch.pipeline import Pipeline
from tallywatch.store import Store

D = dt.date


class Sink:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(email.message_from_bytes(envelope.content, policy=email_policy))
        return "250 OK"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def config(tmp_path, port, **email_settings):
    return Config.from_dict(
        {
            "storage": {"path": str(tmp_path / "mail.db")},
            "detect": {"baseline": False},
            "backfill": {"enabled": False},
            "console": {"enabled": False},
            "milestones": {"personnel": {"step": 100_000}},
            "email": {
                "enabled": True,
                "host": "127.0.0.1",
                "port": port,
                "security": "none",
                "from_addr": "alerts@tallywatch.example",
                "unsubscribe_url": "https://tallywatch.example/unsubscribe?t={token}",
                "unsubscribe_mailto": "unsubscribe@tallywatch.example",
                **email_settings,
            },
        }
    )


DAY_14 = dt.datetime(2025, 6, 14, 9, 0, tzinfo=dt.UTC)  # 12:00 in Kyiv on the last day of DAYS: its digest
DAYS = [
    (D(2025, 6, 10), 998_100, 10_926),
    (D(2025, 6, 11), 999_200, 10_929),
    (D(2025, 6, 12), 1_000_340, 10_931),
    (D(2025, 6, 13), 1_001_560, 10_934),
    (D(2025, 6, 14), 1_002_690, 10_937),
]


def feed(pipeline, days):
    async def go():
        for day, people, tanks in days:
            before = {d: (p, t) for d, p, t in DAYS}.get(day - dt.timedelta(days=1))  # the report prints its "(+N)"
            printed = (people - before[0], tanks - before[1]) if before else (None, None)
            figures = [
                Figure(metric="personnel", as_of=day, value=people, reported_delta=printed[0]),
                Figure(metric="tanks", as_of=day, value=tanks, reported_delta=printed[1]),
            ]
            item = Item(str(day), str(day), figures, link=f"https://www.mil.gov.ua/news/{day:%Y/%m/%d}/losses/")
            await pipeline.in_store(ingest, pipeline.store, pipeline.detector, pipeline.channels, "mod", [item])

    return go()


def run(cfg, steps):
    async def go():
        pipeline = Pipeline(cfg)
        try:
            return await steps(pipeline)
        finally:
            await pipeline.aclose()

    return asyncio.run(go())


def subscribe(cfg, address, **fields):
    store = Store(cfg.storage.resolved())
    store.save_subscriber("email", address, token=f"tok-{address.split('@')[0]}", active=1, **fields)
    store.close()


def parts(message):
    return {part.get_content_type(): part for part in message.walk()}


def test_instant_mail_for_a_milestone(tmp_path, smtp):
    controller, sink = smtp
    cfg = config(tmp_path, controller.port)
    subscribe(cfg, "reader@example.org", instant=1)

    async def steps(pipeline):
        await feed(pipeline, DAYS[:2])
        await feed(pipeline, DAYS[2:3])
        return await pipeline.deliver()

    assert run(cfg, steps) == 1
    (mail,) = sink.messages
    assert (
        mail["Subject"]
        == "Russian losses — daily figures: Personnel passed 1,000,000 — now 1,000,340 (+1,140 in a day)"
    )
    assert mail["From"] == "Russian losses — daily figures <alerts@tallywatch.example>"
    assert mail["To"] == "reader@example.org"
    assert mail["List-Unsubscribe"] == (
        "<https://tallywatch.example/unsubscribe?t=tok-reader>, "
        "<mailto:unsubscribe@tallywatch.example?subject=unsubscribe%20tok-reader>"
    )
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    found = parts(mail)
    assert set(found) >= {"multipart/alternative", "multipart/related", "text/plain", "text/html", "image/png"}
    text = found["text/plain"].get_content()
    assert "12 Jun 2025  Personnel passed 1,000,000 — now 1,000,340 (+1,140 in a day)" in text
    assert "Unsubscribe: https://tallywatch.example/unsubscribe?t=tok-reader" in text
    # whose figures, and where to read the original: in the text and in the page
    assert "Russia's losses as reported by the General Staff of the Armed Forces of Ukraine · original" in text
    assert "https://www.mil.gov.ua/news/2025/06/12/losses/" in text
    page = found["text/html"].get_content()
    assert '<a href="https://www.mil.gov.ua/news/2025/06/12/losses/">original</a>' in page
    # the inbox preview line, hidden in the mail itself, and a chart described for who can't see it
    assert "display:none" in page and page.index("Personnel passed 1,000,000") < page.index("<h1")
    assert (
        "alt='Chart of personnel over the last 90 days: Personnel passed 1,000,000 — now 1,000,340 "
        "(+1,140 in a day)'" in page
    )
    cid = found["image/png"]["Content-ID"].strip("<>")
    assert f"src='cid:{cid}'" in page
    assert "<script" not in page and "http://" not in page.replace("https://tallywatch.example", "")
    assert found["image/png"].get_content()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_long_subject_arrives_as_written(tmp_path, smtp):
    """A subject longer than a header line, with a non-ASCII word where the line would break (→):
    the inbox shows it as written, not with two spaces at the fold."""
    from tallywatch.channels.email import smtp_send

    controller, sink = smtp
    cfg = config(tmp_path, controller.port)
    subject = "tallywatch: Personnel for 10 Jul 2025 revised: 1,030,580 → 1,029,725 (−855)"
    smtp_send(cfg.email, build_message(cfg.email, "reader@example.org", "t", Mail(subject, "text", "<p>x</p>", [])))
    (mail,) = sink.messages
    assert str(mail["Subject"]) == subject


def test_daily_digest_once_per_period(tmp_path, smtp, drawings):
    controller, sink = smtp
    cfg = config(tmp_path, controller.port)
    subscribe(cfg, "daily@example.org", digest="daily")
    subscribe(cfg, "weekly@example.org", digest="weekly")

    async def steps(pipeline):
        await feed(pipeline, DAYS)
        first = await digest.send(pipeline, "daily", DAY_14)
        again = await digest.send(pipeline, "daily", DAY_14)
        return first, again

    assert run(cfg, steps) == ((1, 1), (0, 0))  # (queued, sent): the second call finds it sent already
    (mail,) = sink.messages
    assert mail["To"] == "daily@example.org"
    assert mail["Subject"] == "Russian losses — daily figures: daily digest, 14 Jun 2025 — personnel 1,002,690 (+1,130)"
    text = parts(mail)["text/plain"].get_content()
    assert "Personnel  1,002,690  +1,130" in text
    assert "Tanks         10,937  +3" in text
    assert "12 Jun 2025  Personnel passed 1,000,000 — now 1,000,340 (+1,140 in a day)" in text
    assert "Figures: General Staff of the Armed Forces of Ukraine" in text
    page = parts(mail)["text/html"].get_content()
    assert "1,002,690" in page and "cid:" in page
    # the day's card first, its alt text stating the figures; the chart after it; the preview line
    images = [p for p in mail.walk() if p.get_content_type() == "image/png"]
    assert [p.get_filename() for p in images] == ["losses.png", "chart.png"]
    from PIL import Image

    assert Image.open(io.BytesIO(images[0].get_content())).size == (1080, 1350)
    assert "alt='Russia&#x27;s losses on 14 Jun 2025: personnel 1,002,690 (+1,130) · tanks 10,937 (+3)'" in page
    assert "alt='Chart of personnel over the last 90 days'" in page
    assert re.search(r"display:none[^>]*>personnel 1,002,690 \(\+1,130\) · tanks 10,937 \(\+3\)</div>", page)
    # the card's foot: whose figures they are, and the service that sent them
    (said,) = [args[-1] for draw, args in drawings if draw.__name__ == "card"]
    assert said == "Figures: General Staff of the Armed Forces of Ukraine\nRussian losses — daily figures"


def test_a_digest_in_ukrainian_says_the_same(tmp_path, smtp):
    controller, sink = smtp
    cfg = config(tmp_path, controller.port)
    subscribe(cfg, "chytach@example.org", digest="daily", language="uk")

    async def steps(pipeline):
        await feed(pipeline, DAYS)
        return await digest.send(pipeline, "daily", DAY_14)

    assert run(cfg, steps) == (1, 1)
    (mail,) = sink.messages
    nbsp = "\u00a0"
    assert mail["Subject"] == (
        f"Втрати росії — щоденні дані: щоденний огляд, 14.06.2025 — особовий склад 1{nbsp}002{nbsp}690 (+1{nbsp}130)"
    )
    assert mail["From"] == "Втрати росії — щоденні дані <alerts@tallywatch.example>"
    text = parts(mail)["text/plain"].get_content()
    assert text.startswith("Дані на 14.06.2025, зміна за добу:")
    assert "Дані: Генеральний штаб ЗСУ" in text and "Сповіщення за добу:" in text
    assert "Відписатися: https://tallywatch.example/unsubscribe?t=tok-chytach" in text
    assert f"Особовий склад  1{nbsp}002{nbsp}690" in text and "Танки" in text  # the report's order, capitalised
    assert f"12.06.2025  Особовий склад: перейдено рубіж 1{nbsp}000{nbsp}000" in text  # the alert, in Ukrainian
    page = parts(mail)["text/html"].get_content()
    assert "alt='Втрати росії станом на 14.06.2025" in page


def test_the_services_own_name_and_address_in_every_mail(tmp_path, smtp, drawings):
    """[service] name and url, and [email] from_name: the subject, the sender, the card's foot; the
    name as the admin wrote it in every language."""
    controller, sink = smtp
    cfg = Config.from_dict(
        {
            **config(tmp_path, controller.port, from_name="Losses desk alerts").to_dict(),
            "service": {"name": "Losses desk", "url": "https://losses.example.org"},
        }
    )
    subscribe(cfg, "reader@example.org", instant=1, digest="daily")
    subscribe(cfg, "chytach@example.org", instant=1, digest="daily", language="uk")

    async def steps(pipeline):
        await feed(pipeline, DAYS)
        return await digest.send(pipeline, "daily")

    run(cfg, steps)
    assert len(sink.messages) == 4  # each reader: the milestone, the digest
    assert {m["From"] for m in sink.messages} == {"Losses desk alerts <alerts@tallywatch.example>"}
    assert sorted(m["Subject"] for m in sink.messages) == [
        "Losses desk: Personnel passed 1,000,000 — now 1,000,340 (+1,140 in a day)",
        "Losses desk: daily digest, 14 Jun 2025 — personnel 1,002,690 (+1,130)",
        "Losses desk: Особовий склад: перейдено рубіж 1\u00a0000\u00a0000 — тепер 1\u00a0000\u00a0340 "
        "(+1\u00a0140 за добу)",
        "Losses desk: щоденний огляд, 14.06.2025 — особовий склад 1\u00a0002\u00a0690 (+1\u00a0130)",
    ]
    feet = sorted(args[-1] for draw, args in drawings if draw.__name__ == "card")
    assert feet == [
        "Figures: General Staff of the Armed Forces of Ukraine\nLosses desk · losses.example.org",
        "Дані: Генеральний штаб ЗСУ\nLosses desk · losses.example.org",
    ]


def test_nothing_new_sends_nothing(tmp_path, smtp):
    controller, sink = smtp
    cfg = config(tmp_path, controller.port)
    subscribe(cfg, "daily@example.org", digest="daily")

    async def steps(pipeline):
        return await digest.send(pipeline, "daily")  # an empty database: nothing stored in the period

    assert run(cfg, steps) == (0, 0) and sink.messages == []


def test_smtp_down_then_up_the_mail_arrives_once(tmp_path):
    port = free_port()  # nothing listens yet
    cfg = config(tmp_path, port, timeout="3s")
    subscribe(cfg, "reader@example.org", instant=1)

    async def down(pipeline):
        await feed(pipeline, DAYS[:3])
        sent = await pipeline.deliver()
        return sent, await pipeline.in_store(pipeline.store.outbox_counts)

    sent, counts = run(cfg, down)
    assert sent == 0 and counts["retrying"] == 1 and counts["dead"] == 0
    sink = Sink()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        store = Store(cfg.storage.resolved())
        store.db.execute("UPDATE deliveries SET next_attempt_at = '2000-01-01T00:00:00+00:00'")  # its retry is due
        store.close()

        async def up(pipeline):
            return await pipeline.deliver(), await pipeline.deliver()

        assert run(cfg, up) == (1, 0)
    finally:
        controller.stop()
    assert len(sink.messages) == 1


def test_starttls_verifies_the_certificate(tmp_path):
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_context)
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    sink = Sink()
    controller = Controller(
        sink, hostname="127.0.0.1", port=free_port(), tls_context=server_context, require_starttls=True
    )
    controller.start()
    try:
        untrusted = config(tmp_path, controller.port, security="starttls", host="127.0.0.1")
        subscribe(untrusted, "reader@example.org", instant=1)

        async def attempt(pipeline):
            await feed(pipeline, DAYS[:3])
            await pipeline.deliver()
            return await pipeline.in_store(pipeline.store.outbox_rows)

        (row,) = run(untrusted, attempt)
        assert row["status"] == "pending" and "CERTIFICATE_VERIFY_FAILED" in row["last_error"]
        assert sink.messages == []
        trusted = untrusted.replace(email=untrusted.email.replace(ca_file=ca_file))
        store = Store(trusted.storage.resolved())
        store.db.execute("UPDATE deliveries SET next_attempt_at = '2000-01-01T00:00:00+00:00'")
        store.close()

        async def again(pipeline):
            return await pipeline.deliver()

        assert run(trusted, again) == 1
        assert len(sink.messages) == 1
    finally:
        controller.stop()


def tallywatch(*args, cfg_path):
    return run_tallywatch(*args, "--config", str(cfg_path))


def write_config(tmp_path, port, feed_url=None):
    path = tmp_path / "tw.toml"
    path.write_text(
        "sources = []  # the days are fed in by the test (left out: the built-in sources, on the internet)\n"
        + offline(tmp_path / "cli.db")
        + f"""
[console]
enabled = false

[email]
enabled = true
host = "127.0.0.1"
port = {port}
security = "none"
from_addr = "alerts@tallywatch.example"
unsubscribe_mailto = "unsubscribe@tallywatch.example"

[web]
public_url = "https://tallywatch.example"  # the mails' unsubscribe links lead to its page
"""
    )
    return path


def test_subscribers_cli_and_the_digest_once_across_restarts(tmp_path, smtp):
    controller, sink = smtp
    path = write_config(tmp_path, controller.port)
    add = tallywatch(
        "subscribers", "add", "--email", "Reader@Example.org", "--digest", "daily", "--instant", cfg_path=path
    )
    assert (
        add.returncode == 0 and add.stdout == "subscribed Reader@example.org: digest daily, instant yes, language en\n"
    )
    ukrainian = tallywatch(
        "subscribers", "add", "--email", "chytach@example.org", "--digest", "weekly", "--language", "uk", cfg_path=path
    )
    assert ukrainian.stdout == "subscribed chytach@example.org: digest weekly, instant no, language uk\n"
    again = tallywatch("subscribers", "add", "--email", "chytach@example.org", "--digest", "weekly", cfg_path=path)
    assert again.stdout.endswith("language uk\n")  # kept when not said again
    unknown = tallywatch(
        "subscribers", "add", "--email", "x@example.org", "--instant", "--language", "fr", cfg_path=path
    )
    assert unknown.returncode == 2 and "invalid choice: 'fr'" in unknown.stderr
    store = Store(tmp_path / "cli.db")
    run_days = Config.from_dict(
        {
            "storage": {"path": str(tmp_path / "cli.db")},
            "console": {"enabled": False},
            "detect": {"baseline": False},
            "backfill": {"enabled": False},
        }
    )
    store.close()

    async def steps(pipeline):
        await feed(pipeline, DAYS)

    run(run_days, steps)
    first = tallywatch("digest", "daily", cfg_path=path)
    second = tallywatch("digest", "daily", cfg_path=path)  # another process: a restart
    assert first.stdout == "daily digest: 1 queued, 1 sent\n", first.stderr
    assert second.stdout == "daily digest: nothing to send for this period\n" or second.stdout.startswith(
        "daily digest: 0"
    )
    assert len(sink.messages) == 1
    listed = tallywatch("subscribers", "list", cfg_path=path).stdout
    assert listed.splitlines()[0].split() == [
        "email", "Reader@example.org", "en", "digest", "daily,", "instant", "yes", "active"
    ]  # fmt: skip
    assert listed.splitlines()[1].split()[:3] == ["email", "chytach@example.org", "uk"]
    store = Store(tmp_path / "cli.db")
    token = store.subscriber("email", "Reader@example.org")["token"]
    store.close()
    gone = tallywatch("subscribers", "unsubscribe", token, cfg_path=path)
    assert gone.stdout == "unsubscribed Reader@example.org\n"
    assert "inactive: unsubscribed by link" in tallywatch("subscribers", "list", cfg_path=path).stdout


@pytest.mark.parametrize(
    "address",
    [
        "a@example.org\r\nBcc: evil@example.com",
        "Evil <a@example.org>",
        "a@example.org, b@example.org",
        "not-an-address",
        "a@example.org\nX: y",
    ],
)
def test_header_injection_and_bad_addresses_are_refused(tmp_path, address):
    path = write_config(tmp_path, 25)
    done = tallywatch("subscribers", "add", "--email", address, "--instant", cfg_path=path)
    assert done.returncode == 2
    assert done.stderr.startswith("tallywatch subscribers add: ")
    assert "Traceback" not in done.stderr


def test_a_header_with_a_line_break_cannot_be_built(tmp_path):
    cfg = config(tmp_path, 25)
    with pytest.raises(ValueError):
        build_message(
            cfg.email, "a@example.org\r\nBcc: evil@example.com", "t", Mail("s", "text", "<p>x</p>", None)
        ).as_bytes()
    with pytest.raises(ValueError):
        build_message(
            cfg.email, "a@example.org", "t", Mail("subject\r\nBcc: evil@example.com", "text", "<p>x</p>", None)
        ).as_bytes()


def test_digest_period_labels():
    assert digest.period_label("daily", D(2025, 6, 14)) == "2025-06-14"
    assert digest.period_label("weekly", D(2025, 6, 14)) == "2025-W24"


def test_a_weekly_digest_is_labelled_with_the_week_it_tells_of(tmp_path):
    """Sent on Monday 16 June 2025 at 07:30 in Kyiv, it tells of 9–15 June: ISO week 24, not 25."""
    from tally import Tally

    from tallywatch.config import Config, Milestone
    from tallywatch.ingest import Item
    from tallywatch.models import Figure

    tally = Tally(tmp_path / "w.db", Config(milestones={"personnel": Milestone(step=100_000)}))
    tally.feed("mod", Item("d", "d", [Figure(metric="personnel", as_of=D(2025, 6, 15), value=1_003_000)]))
    monday = dt.datetime(2025, 6, 16, 4, 30, tzinfo=dt.UTC)  # 07:30 in Kyiv
    weekly = digest.make(tally.store, tally.config, "weekly", monday)
    assert weekly.data["label"] == "2025-W24" and weekly.key == "digest:weekly:2025-W24"
    daily = digest.make(tally.store, tally.config, "daily", monday)
    assert daily.data["label"] == "2025-06-16"
    tally.close()


def test_the_daemons_own_events_are_dated_by_the_kyiv_day():
    """Broken / repaired / stale / recovered are report dates in Kyiv like everything else: a
    source found broken at 22:30 UTC on 11 June is broken on 12 June (01:30 in Kyiv)."""
    from tallywatch.detect import broken, stale

    late = dt.datetime(2025, 6, 11, 22, 30, tzinfo=dt.UTC)
    assert broken.broken("mod", 5, "HTTP 503", late).as_of == D(2025, 6, 12)
    assert broken.repaired("mod", late - dt.timedelta(hours=5), late).as_of == D(2025, 6, 12)
    last = late - dt.timedelta(days=1)  # the last new report: 22:30 UTC on 10 June, 01:30 on 11 June in Kyiv
    (event,) = stale.evaluate("mod", last, last + dt.timedelta(hours=31), 30 * 3600, None)
    assert event.rule == "stale" and event.as_of == D(2025, 6, 11)


def test_a_digest_lists_the_categories_in_the_reports_order(tmp_path):
    """Personnel first, then the categories as the General Staff's report lists them (not alphabetical)."""
    from tally import Tally

    from tallywatch.extract.genstaff import METRICS
    from tallywatch.replay import seed

    tally = Tally(tmp_path / "o.db", Config())
    seed(tally.store, tally.detector, dt.date(2025, 6, 13))
    event = digest.make(tally.store, tally.config, "daily", dt.datetime(2025, 6, 13, 20, tzinfo=dt.UTC))
    listed = [m["metric"] for m in event.data["metrics"]]
    assert listed == [m for m in METRICS if m in listed] and listed[:3] == ["personnel", "tanks", "armoured_vehicles"]
    tally.close()
