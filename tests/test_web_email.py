"""Email self-service through the real web app (uvicorn on 127.0.0.1) and a real SMTP server
(aiosmtpd): subscribe → confirmation mail → confirm → mails → one-click unsubscribe; and what the
form refuses (a forged or missing CSRF token, a script for an address, a flood of posts)."""

import asyncio
import datetime as dt
import re

import httpx
import pytest
from test_email import DAYS, feed, free_port, parts
from test_email import config as mail_config

from tallywatch import digest
from tallywatch.config import Config
from tallywatch.pipeline import Pipeline
from tallywatch.web.app import Site, build
from tallywatch.web.server import WebServer


def web_config(tmp_path, smtp_port: int, web_port: int, **web) -> Config:
    base = mail_config(tmp_path, smtp_port).to_dict()
    base["email"].pop("unsubscribe_url")  # the web app's own page serves it, from public_url
    base["email"].pop("unsubscribe_mailto")
    base["milestones"] = {"personnel": {"step": 1000}}  # a milestone every day of DAYS
    base["web"] = {"host": "127.0.0.1", "port": web_port, "public_url": f"http://127.0.0.1:{web_port}", **web}
    return Config.from_dict(base)


def serve(cfg: Config, steps, sink_fails=None):
    """Run ``steps(pipeline, client, site)`` with the web app serving the pipeline's store."""

    async def go():
        pipeline = Pipeline(cfg)
        site = Site(lambda: pipeline, cfg)
        if sink_fails is not None:
            site.send_mail = sink_fails
        server = WebServer(build(site), cfg.web.host, cfg.web.port)
        site.server = server
        await server.start()
        try:
            async with httpx.AsyncClient(base_url=server.address) as client:
                return await steps(pipeline, client, site)
        finally:
            await server.stop()
            await pipeline.aclose()

    return asyncio.run(go())


def form_token(page: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', page).group(1)


async def subscribe(client, address: str, language: str = "", by: str | None = None, **choices) -> httpx.Response:
    """Show the form and post it; ``by``: the client's address, as the proxy on this machine says it
    (X-Forwarded-For from 127.0.0.1, which the web app trusts)."""
    prefix = f"/{language}" if language else ""
    headers = {"X-Forwarded-For": by} if by else {}
    shown = await client.get(f"{prefix}/subscribe", headers=headers)
    assert shown.status_code == 200, shown.text
    fields = {"address": address, "csrf": form_token(shown.text), **choices}
    return await client.post(f"{prefix}/subscribe", data=fields, headers=headers)


def link_in(mail, pattern: str) -> str:
    return re.search(pattern, parts(mail)["text/plain"].get_content()).group(0)


def test_subscribe_confirm_receive_and_unsubscribe_in_one_click(tmp_path, smtp):
    controller, sink = smtp
    cfg = web_config(tmp_path, controller.port, free_port())

    async def steps(pipeline, client, site):
        store = pipeline.store
        answer = await subscribe(client, "reader@example.org", digest="daily", instant="1")
        assert answer.status_code == 200 and "Check your inbox" in answer.text
        (confirmation,) = sink.messages
        assert confirmation["To"] == "reader@example.org"
        assert confirmation["Subject"] == "Confirm your subscription to Russian losses — daily figures"
        assert confirmation["From"] == "Russian losses — daily figures <alerts@tallywatch.example>"
        assert confirmation["List-Unsubscribe"] is None  # not subscribed: nothing to unsubscribe from
        text = parts(confirmation)["text/plain"].get_content()
        assert (
            "Someone, hopefully you, asked to receive the daily digest and a mail for each milestone from "
            "Russian losses — daily figures at this address." in text
        )
        assert "it expires in 48 hours" in text
        link = link_in(confirmation, rf"{cfg.web.public_url}/confirm\?t=\S+")
        # the HTML part: a button (a link styled as one), not a bare 70-character address
        html = parts(confirmation)["text/html"].get_content()
        (button,) = re.findall(r"<a href='([^']+)' style='([^']+)'>([^<]+)</a>", html)
        assert button[0] == link and button[2] == "Confirm my subscription"
        assert "display:inline-block" in button[1] and "background:" in button[1] and "padding:" in button[1]
        assert "To confirm, press the button (it works for 48 hours):" in html and f">{link}<" not in html

        # nothing reaches an address that has not confirmed (999,200: past 999,000, an instant alert)
        await feed(pipeline, DAYS[:2])
        await pipeline.handed_on()
        assert store.subscriber("email", "reader@example.org") is None and len(sink.messages) == 1

        # the link shows a button (a mail scanner's GET confirms nothing); its POST subscribes
        shown = await client.get(link)
        assert shown.status_code == 200 and "Confirm your subscription" in shown.text
        assert "<title>Confirm your subscription · Russian losses — daily figures</title>" in shown.text
        assert "Send the daily digest and a mail for each milestone to reader@example.org?" in shown.text
        assert store.subscriber("email", "reader@example.org") is None
        done = await client.post(link)
        assert done.status_code == 200 and "You are subscribed" in done.text
        sub = store.subscriber("email", "reader@example.org")
        assert sub["active"] and sub["digest"] == "daily" and sub["instant"] and len(sub["token"]) >= 40

        # now the mails come, each with a one-click unsubscribe under public_url
        await feed(pipeline, DAYS[2:3])  # 1,000,340: past 1,000,000
        queued, _sent = await digest.send(pipeline, "daily")
        assert queued == 1
        instant, daily = sink.messages[1:]
        assert instant["Subject"].startswith("Russian losses — daily figures: Personnel passed 1,000,000")
        assert daily["Subject"].startswith("Russian losses — daily figures: daily digest, ")
        unsubscribe = f"{cfg.web.public_url}/unsubscribe?t={sub['token']}"
        for mail in (instant, daily):
            assert mail["List-Unsubscribe"] == f"<{unsubscribe}>"
            assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
            assert f"Unsubscribe: {unsubscribe}" in parts(mail)["text/plain"].get_content()

        # RFC 8058: the mail provider POSTs, with no cookie and no form token
        async with httpx.AsyncClient() as provider:
            page = await provider.get(unsubscribe)
            assert "Stop all mails from Russian losses — daily figures to r•••@example.org?" in page.text
            assert store.subscriber("email", "reader@example.org")["active"]  # a GET changes nothing
            gone = await provider.post(unsubscribe, data={"List-Unsubscribe": "One-Click"})
        assert gone.status_code == 200 and "You are unsubscribed" in gone.text
        assert store.subscriber("email", "reader@example.org")["active"] == 0

        await feed(pipeline, DAYS[3:4])  # 1,001,560: another milestone, to nobody
        await pipeline.handed_on()
        return len(sink.messages)

    assert serve(cfg, steps) == 3


def test_the_same_answer_whether_subscribed_or_not_and_a_change_needs_confirming(tmp_path, smtp):
    controller, sink = smtp
    cfg = web_config(tmp_path, controller.port, free_port())

    async def steps(pipeline, client, site):
        first = await subscribe(client, "known@example.org", digest="daily")
        (mail,) = sink.messages
        await client.post(link_in(mail, r"http://\S+/confirm\?t=\S+"))
        token = pipeline.store.subscriber("email", "known@example.org")["token"]
        again = await subscribe(client, "known@example.org", digest="weekly")
        stranger = await subscribe(client, "unknown@example.org", digest="weekly")
        # the answers differ only in the address they repeat
        assert first.status_code == again.status_code == stranger.status_code == 200
        assert again.text.replace("known@", "X@") == stranger.text.replace("unknown@", "X@")
        # the existing subscription changes only once the new link is followed, and keeps its token
        assert pipeline.store.subscriber("email", "known@example.org")["digest"] == "daily"
        await client.post(link_in(sink.messages[1], r"http://\S+/confirm\?t=\S+"))
        sub = pipeline.store.subscriber("email", "known@example.org")
        return sub["digest"], sub["token"] == token

    assert serve(cfg, steps) == ("weekly", True)


def test_ukrainian_form_and_mail(tmp_path, smtp):
    controller, sink = smtp
    cfg = web_config(tmp_path, controller.port, free_port())

    async def steps(pipeline, client, site):
        shown = await client.get("/uk/subscribe")
        assert '<html lang="uk">' in shown.text and "Підписатися" in shown.text
        assert "· Втрати росії — щоденні дані</title>" in shown.text
        assert "Втрати росії — щоденні дані: щоденні дані Генерального штабу ЗСУ про втрати росії." in shown.text
        assert "1\u00a0000\u00a0000" in shown.text  # a number never wraps
        answer = await subscribe(client, "reader@example.org", language="uk", digest="weekly")
        (mail,) = sink.messages
        link = link_in(mail, r"http://\S+/uk/confirm\?t=\S+")
        await client.post(link)
        return answer.text, mail, pipeline.store.subscriber("email", "reader@example.org")["language"]

    page, mail, language = serve(cfg, steps)
    assert "Перевірте пошту" in page
    assert mail["Subject"] == "Підтвердьте підписку на «Втрати росії — щоденні дані»"
    assert mail["From"] == "Втрати росії — щоденні дані <alerts@tallywatch.example>"
    text = parts(mail)["text/plain"].get_content()
    assert "тижневий" in text and "від «Втрати росії — щоденні дані» на цю адресу" in text
    assert ">Підтвердити підписку</a>" in parts(mail)["text/html"].get_content()
    assert language == "uk"


def test_forged_or_missing_form_tokens_are_refused(tmp_path, smtp):
    controller, sink = smtp
    cfg = web_config(tmp_path, controller.port, free_port())

    async def steps(pipeline, client, site):
        shown = await client.get("/subscribe")
        real = form_token(shown.text)
        answers = [
            # no token, a made-up one, a real one with someone else's cookie, a real one from another site
            await client.post("/subscribe", data={"address": "a@example.org", "digest": "daily"}),
            await client.post("/subscribe", data={"address": "a@example.org", "digest": "daily", "csrf": "x.y.z"}),
        ]
        async with httpx.AsyncClient(base_url=client.base_url) as other:
            other.cookies.set("tallywatch_form", "someone-else")
            answers.append(
                await other.post("/subscribe", data={"address": "a@example.org", "digest": "daily", "csrf": real})
            )
        answers.append(
            await client.post(
                "/subscribe",
                data={"address": "a@example.org", "digest": "daily", "csrf": real},
                headers={"Origin": "https://evil.example"},
            )
        )
        fine = await client.post("/subscribe", data={"address": "a@example.org", "digest": "daily", "csrf": real})
        return answers, fine

    answers, fine = serve(cfg, steps)
    for answer in answers:
        assert answer.status_code == 403
        assert "This form has expired or did not come from this site" in answer.text
    assert fine.status_code == 200 and len(sink.messages) == 1


@pytest.mark.parametrize(
    "address",
    [
        "<script>alert(1)</script>@example.org",
        "a@example.org\r\nBcc: victim@example.org",
        "a@example.org, b@example.org",
        "not an address",
        "x" * 400 + "@example.org",
    ],
)
def test_hostile_addresses_are_refused_and_never_echoed_as_markup(tmp_path, smtp, address):
    controller, sink = smtp
    cfg = web_config(tmp_path, controller.port, free_port())

    async def steps(pipeline, client, site):
        return await subscribe(client, address, digest="daily")

    answer = serve(cfg, steps)
    assert answer.status_code == 400 and "That is not an email address we can send to." in answer.text
    assert "<script>" not in answer.text
    assert sink.messages == []


def test_a_flood_of_posts_is_refused_and_nobody_is_mail_bombed(tmp_path, smtp):
    """100 posts at once from one client for one victim's address: the client's limit answers 429
    after 5; the address gets at most 3 confirmation mails a day whatever the client."""
    controller, sink = smtp
    cfg = web_config(tmp_path, controller.port, free_port())

    async def steps(pipeline, client, site):
        shown = await client.get("/subscribe")
        fields = {"address": "victim@example.org", "digest": "daily", "csrf": form_token(shown.text)}
        answers = await asyncio.gather(*(client.post("/subscribe", data=fields) for _ in range(100)))
        site.per_client.forget_idle(float("inf"))  # another client (a botnet): the address's own limit holds
        site.per_client = type(site.per_client)(5, 600)
        more = [await client.post("/subscribe", data=fields) for _ in range(4)]
        return [a.status_code for a in answers], [a.status_code for a in more], answers

    codes, more, answers = serve(cfg, steps)
    assert codes.count(200) == 5 and codes.count(429) == 95
    refused = next(a for a in answers if a.status_code == 429)
    assert "Too many requests" in refused.text and int(refused.headers["Retry-After"]) > 0
    assert more == [200, 200, 200, 200]  # the same answer, but…
    assert len(sink.messages) == 3  # …no more than 3 mails to that address today


def test_one_mailbox_gets_three_confirmations_a_day_however_its_address_is_written(tmp_path, smtp):
    """Letter case and a +tag reach the same mailbox: nine spellings posted by nine clients get it
    signups_per_address (3) confirmation mails, each sent to the address as it was typed."""
    controller, sink = smtp
    cfg = web_config(tmp_path, controller.port, free_port())
    spellings = [
        "victim@example.org",
        "Victim@example.org",
        "VICTIM@EXAMPLE.ORG",
        "victim+1@example.org",
        "Victim+news@Example.org",
        "victim+a+b@example.org",
        "vIcTiM+2@eXample.org",
        "victim+3@example.org",
        "VICTIM+4@example.org",
    ]

    async def steps(pipeline, client, site):
        return [
            (await subscribe(client, address, by=f"198.51.100.{n}", digest="daily")).status_code
            for n, address in enumerate(spellings, 1)
        ]

    codes = serve(cfg, steps)
    assert codes == [200] * 9  # the same answer to every post…
    assert [m["To"] for m in sink.messages] == [  # …three mails, each as typed (the domain in small letters)
        "victim@example.org",
        "Victim@example.org",
        "VICTIM@example.org",
    ]


def test_a_mailbox_is_its_address_case_folded_without_its_tag_and_with_an_ascii_domain():
    from tallywatch.channels.email import mailbox

    for written in [
        "reader@example.org",
        "Reader@EXAMPLE.org",
        "reader+digest@example.org",
        "READER+a+b@Example.Org",
    ]:
        assert mailbox(written) == "reader@example.org", written
    assert mailbox("leser@Bücher.Example") == mailbox("LESER+x@xn--bcher-kva.example") == "leser@xn--bcher-kva.example"
    assert mailbox("Straße@example.org") == mailbox("STRASSE@example.org")  # full case folding, not lower()
    assert mailbox("+only@example.org") == "+only@example.org"  # nothing before the + : no tag to remove
    assert mailbox("reader@example.org") != mailbox("reader2@example.org")
    with pytest.raises(ValueError, match="'not an address' is not a valid email address"):
        mailbox("not an address")


def clocked(site) -> list[float]:
    """The site's sliding windows (the per-client limits) on a clock the test moves: ``now[0]``."""
    from tallywatch.ratelimit import SlidingWindow

    now = [1000.0]
    for window in vars(site).values():
        if isinstance(window, SlidingWindow):
            window.clock = lambda: now[0]
    return now


def test_two_clients_cannot_use_up_the_hours_confirmation_mails_for_everyone(tmp_path, smtp):
    """Two clients posting new addresses as fast as the per-client window lets them (5 posts per 10
    minutes) for an hour: each gets its share of signups_per_hour (a tenth: 6 mails), then 429 with
    Retry-After, so a reader coming after them still gets a confirmation mail."""
    controller, sink = smtp
    cfg = web_config(tmp_path, controller.port, free_port())

    async def steps(pipeline, client, site):
        now = clocked(site)
        codes: dict[str, list[int]] = {"198.51.100.1": [], "198.51.100.2": []}
        retry = []
        for ten_minutes in range(6):
            for by, seen in codes.items():
                for n in range(5):
                    answer = await subscribe(client, f"x{ten_minutes}{n}.{by}@example.org", by=by, digest="daily")
                    seen.append(answer.status_code)
                    if answer.status_code == 429:
                        retry.append(int(answer.headers["Retry-After"]))
            now[0] += 600
        reader = await subscribe(client, "reader@example.org", by="203.0.113.7", digest="daily")
        return codes, retry, reader

    codes, retry, reader = serve(cfg, steps)
    for seen in codes.values():
        assert seen[:6] == [200] * 6 and set(seen[6:]) == {429}, seen
    assert all(0 < seconds <= 3600 for seconds in retry)
    assert reader.status_code == 200
    assert len(sink.messages) == 13 and sink.messages[-1]["To"] == "reader@example.org"


def test_a_clients_share_counts_its_whole_ipv6_64_and_only_mails_sent(tmp_path, smtp):
    """An IPv6 client holds a /64: thirty addresses of one /64 posting within an hour are one
    client (6 mails of the hour's 60), while a client next to it has its own share. Posts that sent
    nothing (the mailbox had its 3 mails today) use none of the share."""
    controller, sink = smtp
    cfg = web_config(tmp_path, controller.port, free_port())

    async def steps(pipeline, client, site):
        now = clocked(site)
        same = []
        for n in range(1, 31):
            if n % 5 == 1:
                now[0] += 600  # as slowly as the post window asks
            answer = await subscribe(client, f"x{n}@example.org", by=f"2001:db8:1:1::{n:x}", digest="daily")
            same.append(answer.status_code)
        other = await subscribe(client, "y@example.org", by="2001:db8:1:2::1", digest="daily")
        for n in range(3):  # clients make a mailbox use its three mails of the day…
            await subscribe(client, "z@example.org", by=f"192.0.2.{n + 1}", digest="daily")
        quiet = []
        for _ in range(2):  # …then one client asks for it again and again: nothing is sent
            now[0] += 600
            quiet += [(await subscribe(client, "Z@example.org", by="192.0.2.9", digest="daily")).status_code]
            quiet += [(await subscribe(client, "z+1@example.org", by="192.0.2.9", digest="daily")).status_code]
        now[0] += 600
        after = [
            (await subscribe(client, f"w{n}@example.org", by="192.0.2.9", digest="daily")).status_code for n in range(5)
        ]
        return same, other, quiet, after

    same, other, quiet, after = serve(cfg, steps)
    assert same[:6] == [200] * 6 and set(same[6:]) == {429}, same
    assert other.status_code == 200
    assert quiet == [200] * 4
    assert after == [200] * 5  # the share is still whole
    assert [m["To"] for m in sink.messages] == [
        *(f"x{n}@example.org" for n in range(1, 7)),
        "y@example.org",
        *["z@example.org"] * 3,
        *(f"w{n}@example.org" for n in range(5)),
    ]


def test_a_mail_server_failure_is_said_and_nothing_is_kept(tmp_path, smtp):
    from tallywatch.channels import Retry

    controller, _sink = smtp
    cfg = web_config(tmp_path, controller.port, free_port())

    def down(settings, message):
        raise Retry("SMTP 127.0.0.1:25: ConnectionRefusedError")

    async def steps(pipeline, client, site):
        answer = await subscribe(client, "reader@example.org", digest="daily")
        return answer, pipeline.store.signups_since("reader@example.org", dt.datetime(2000, 1, 1, tzinfo=dt.UTC))

    answer, kept = serve(cfg, steps, sink_fails=down)
    assert answer.status_code == 503 and "could not be sent just now" in answer.text
    assert kept == 0


def test_unknown_and_expired_links(tmp_path, smtp):
    controller, sink = smtp
    cfg = web_config(tmp_path, controller.port, free_port(), confirm_within=1)

    async def steps(pipeline, client, site):
        bad = [
            await client.post("/unsubscribe?t=nope"),
            await client.get("/unsubscribe"),
            await client.get("/confirm?t=x"),
        ]
        await subscribe(client, "late@example.org", digest="daily")
        link = link_in(sink.messages[0], r"http://\S+/confirm\?t=\S+")
        pipeline.store.conn.execute("UPDATE signups SET expires_at = '2000-01-01T00:00:00.000000+00:00'")
        late = await client.post(link)
        return bad, late, pipeline.store.subscriber("email", "late@example.org")

    bad, late, sub = serve(cfg, steps)
    assert [b.status_code for b in bad] == [404, 404, 404]
    assert "This unsubscribe link is not valid" in bad[0].text
    assert late.status_code == 404 and "This link has expired" in late.text and sub is None


def test_the_pages_speak_the_language_their_path_names_and_no_other(tmp_path, smtp):
    """/uk/…: Ukrainian. A language with no catalogue (/xx/…): no form, and a link's page in English."""
    controller, _sink = smtp
    cfg = web_config(tmp_path, controller.port, free_port())

    async def steps(pipeline, client, site):
        paths = ["/uk/confirm?t=x", "/xx/confirm?t=x", "/uk/unsubscribe?t=x", "/xx/unsubscribe?t=x", "/xx/subscribe"]
        return [await client.get(path) for path in paths]

    uk_confirm, xx_confirm, uk_unsubscribe, xx_unsubscribe, xx_form = serve(cfg, steps)
    assert uk_confirm.status_code == 404 and "Посилання застаріло" in uk_confirm.text
    assert 'href="/uk/subscribe"' in uk_confirm.text
    assert xx_confirm.status_code == 404 and "This link has expired" in xx_confirm.text
    assert 'href="/subscribe"' in xx_confirm.text
    assert uk_unsubscribe.status_code == 404 and "Це посилання для відписки недійсне" in uk_unsubscribe.text
    assert xx_unsubscribe.status_code == 404 and "This unsubscribe link is not valid" in xx_unsubscribe.text
    assert xx_form.status_code == 404 and xx_form.text == "not found\n"


def test_no_form_without_email_or_a_public_address(tmp_path, smtp):
    controller, _sink = smtp
    cfg = web_config(tmp_path, controller.port, free_port())
    # mail unsubscribes at an endpoint of the admin's own; no public address for confirmation links
    mail = {**cfg.email.to_dict(), "unsubscribe_url": "https://example.org/unsub?t={token}"}
    cfg = Config.from_dict({**cfg.to_dict(), "email": mail, "web": {"port": cfg.web.port}})

    async def steps(pipeline, client, site):
        return await client.get("/subscribe"), await client.get("/healthz")

    form, health = serve(cfg, steps)
    assert form.status_code == 404 and "Subscribing by email is not offered here." in form.text
    assert health.status_code in (200, 503)


def test_tokens_given_before_schema_11_still_unsubscribe(tmp_path):
    """A v10 file's subscribers get their token's hash at migration: the links in mails already
    sent keep working."""
    from test_store import UNDO_13

    from tallywatch.store import SCHEMA_VERSION, Store

    db = tmp_path / "old.db"
    store = Store(db)
    store.save_subscriber("email", "old@example.org", token="0123456789abcdef", active=1, digest="daily")
    for statement in (
        "DROP INDEX subscribers_token_hash",
        "ALTER TABLE subscribers DROP COLUMN token_hash",
        "DROP TABLE signups",
        "DROP TABLE keys",
        "ALTER TABLE items DROP COLUMN published",  # schema 12
        *UNDO_13,
        "PRAGMA user_version = 10",
    ):
        store.conn.execute(statement)
    store.close()
    store = Store(db)
    try:
        assert store.version == SCHEMA_VERSION
        assert store.subscriber_by_token("0123456789abcdef")["address"] == "old@example.org"
        assert store.subscriber_by_token("0123456789abcdee") is None
        assert store.subscriber_by_token("") is None
    finally:
        store.close()
