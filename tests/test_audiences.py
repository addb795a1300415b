"""Two audiences: readers get the figures and what they mean, the admins what is wrong with the data
or the service (issue 26). On one day with a typo set aside and two sources disagreeing, what a
subscriber's chat (the fake Bot API), a channel's and a mailbox (aiosmtpd) hold, in English and
Ukrainian, against what the admin's chat holds; a retraction in plain words for readers."""

import datetime as dt

import pytest
from fake_telegram import TOKEN
from tally import Bound, Tally, send_all

from tallywatch import digest
from tallywatch.channels.email import EmailChannel
from tallywatch.channels.telegram import TelegramChannel
from tallywatch.config import Config, ConfigError
from tallywatch.format import format_date
from tallywatch.ingest import Item
from tallywatch.models import Figure

D = dt.date
START = D(2025, 6, 1)
ADMIN = 900
READER_EN, READER_UK = 501, 502
MAIL, DIGEST = "reader@example.org", "digest@example.org"
# what only the admins may read: the service's words about the data, and the sources' ids
ADMIN_WORDS = ("implausible", "genstaff-feed", "mod-api", " says ", "неправдоподібне", "відкинуто")


def shown(n: int) -> str:
    """The day as readers see it (``format.format_date``)."""
    return format_date(day(n))


def day(n: int) -> D:
    return START + dt.timedelta(days=n)


def credit(n: int | None) -> str:
    """Whose figures, under every message, with the link to the day's original (when the batch had it)."""
    link = "" if n is None else f' · <a href="https://genstaff.example/{day(n)}">original</a>'
    return f"\n\n<i>Russia's losses as reported by the General Staff of the Armed Forces of Ukraine{link}</i>"


def config(fake, smtp_port: int, **telegram) -> Config:
    return Config.from_dict(
        {
            "milestones": {"personnel": {"step": 100_000}},
            "sources": [
                {"name": "genstaff-feed", "kind": "rss", "url": "https://genstaff.example/rss", "priority": 1},
                {"name": "mod-api", "kind": "json", "url": "https://mod.example/api", "priority": 2},
            ],
            "telegram": {
                "base_url": fake.base_url,
                "admins": [ADMIN],
                "channels": [  # (corrections too: a channel gets the report and milestones unless told)
                    {"chat": "@losses_feed", "send": ["report", "milestones", "corrections"]},
                    {"chat": "@vtraty_feed", "language": "uk", "send": ["report", "milestones", "corrections"]},
                ],
                **telegram,
            },
            "email": {
                "enabled": True,
                "host": "127.0.0.1",
                "port": smtp_port,
                "security": "none",
                "instant_rules": ["milestone", "correction"],
                "unsubscribe_url": "https://tallywatch.example/unsubscribe?t={token}",
            },
        }
    )


def post(source: str, n: int, people: int, tanks: int, before: tuple[int, int] | None, guid: str = "") -> Item:
    """A source's report for day ``n``: personnel and tanks, each with its printed "(+N)"."""
    printed = (people - before[0], tanks - before[1]) if before else (None, None)
    figures = [
        Figure(metric="personnel", as_of=day(n), value=people, reported_delta=printed[0]),
        Figure(metric="tanks", as_of=day(n), value=tanks, reported_delta=printed[1]),
    ]
    guid = guid or f"{source}:{day(n)}"
    return Item(guid, f"{guid}={people},{tanks}", figures, link=f"https://genstaff.example/{day(n)}")


def people(n: int) -> int:
    return 989_240 + 1_100 * n  # 999,140 on day 9, 1,000,240 on day 10: the million


def tanks(n: int) -> int:
    return 10_900 + 3 * n


def a_day_with_a_typo_and_a_disagreement(tally: Tally) -> None:
    """Nine days stored quietly; then a typo in tanks (an extra digit) held and set aside by the
    next report, which crosses 1,000,000 personnel; a second source giving another personnel figure
    for that day; the General Staff correcting its tanks figure afterwards."""
    for n in range(9):
        tally.feed("genstaff-feed", post("genstaff-feed", n, people(n), tanks(n), None), quiet=True)
    typo = post("genstaff-feed", 9, people(9), 109_270 + 7, (people(8), tanks(8)))
    typo.figures[1] = Figure(
        metric="tanks", as_of=day(9), value=109_277, reported_delta=3
    )  # 10,927 with a 9 too many: its "(+3)" does not fit
    tally.feed("genstaff-feed", typo)
    assert tally.point("tanks", day(9)) == (109_277, "genstaff-feed", "suspect")
    tally.feed("genstaff-feed", post("genstaff-feed", 10, people(10), tanks(10), (people(9), tanks(9))))
    assert tally.point("tanks", day(9))[2] == "discarded"
    tally.feed("mod-api", post("mod-api", 10, people(10) + 5_000, tanks(10), None))  # far apart: they disagree
    edited = post("genstaff-feed", 10, people(10), tanks(10) + 10, (people(9), tanks(9)))  # the post edited
    tally.feed("genstaff-feed", Item(f"genstaff-feed:{day(10)}", "edited", edited.figures, link=edited.link))


def test_readers_get_figures_and_corrections_the_admin_gets_the_notices(tmp_path, fake, smtp):
    controller, mailbox = smtp
    cfg = config(fake, controller.port)
    telegram = TelegramChannel(TOKEN, cfg.telegram)
    mail = EmailChannel(cfg.email)
    tally = Tally(tmp_path / "a.db", cfg, [telegram, mail])
    mail.bind(Bound(lambda: tally.store))
    tally.store.save_subscriber("telegram", str(READER_EN), choice="all", language="en")
    tally.store.save_subscriber("telegram", str(READER_UK), choice="all", language="uk")
    tally.store.save_subscriber("email", MAIL, instant=1, token="t" * 43)
    tally.store.save_subscriber("email", DIGEST, digest="daily", token="d" * 43)
    a_day_with_a_typo_and_a_disagreement(tally)
    send_all(tally, telegram, mail)
    instant = list(mailbox.messages)
    assert digest.queue(tally.store, cfg, [mail], "daily") == 1
    send_all(tally, telegram, mail)
    (daily,) = mailbox.messages[len(instant) :]  # the day's digest: its alerts are the readers' too
    assert daily["To"] == DIGEST
    told = daily.get_body(("plain",)).get_content()
    assert "Personnel passed 1,000,000" in told and "The General Staff corrected tanks" in told
    assert not any(word in told for word in ADMIN_WORDS), told

    english = [c.text for c in fake.sent(READER_EN)]
    assert english == [
        f"🏁 <b>{shown(10)}</b>\nPersonnel passed 1,000,000 — now 1,000,240 (+1,100 in a day)" + credit(10),
        f"✏️ <b>{shown(10)}</b>\nThe General Staff corrected tanks for {shown(10)}: 10,930 → 10,940 (+10)" + credit(10),
    ]
    ukrainian = [c.text for c in fake.sent(READER_UK)]
    assert len(ukrainian) == 2 and "1\u00a0000\u00a0000" in ukrainian[0]
    assert ukrainian[1].startswith(
        "✏️ <b>11.06.2025</b>\nГенштаб: танки за 11.06.2025 виправлено 10\u00a0930 → 10\u00a0940"
    )
    for chat in ("@losses_feed", "@vtraty_feed"):  # the channels of the config: the same as the readers
        assert [c.text for c in fake.sent(chat)] == (english if chat == "@losses_feed" else ukrainian)
    subjects = [str(m["Subject"]) for m in instant]  # (headers are not folded: no space too many)
    assert subjects == [
        "Russian losses — daily figures: Personnel passed 1,000,000 — now 1,000,240 (+1,100 in a day)",
        f"Russian losses — daily figures: The General Staff corrected tanks for {shown(10)}: 10,930 → 10,940 (+10)",
    ]
    bodies = [m.get_body(("plain",)).get_content() for m in instant]
    for text in [*english, *ukrainian, *subjects, *bodies]:
        assert not any(word in text for word in ADMIN_WORDS), text

    admin = [c.text for c in fake.sent(ADMIN)]  # what is wrong with the data, whose source said what
    assert admin == [
        f"⚠️ <b>{shown(9)}</b>\nTanks 109,277 for {shown(9)} from genstaff-feed discarded as implausible: the next "
        f"report (10,930 for {shown(10)}) contradicts it" + credit(None),
        f"⚖️ <b>{shown(10)}</b>\nPersonnel for {shown(10)}: genstaff-feed says 1,000,240, mod-api says 1,005,240"
        + credit(10),
    ]
    tally.close()


def test_the_readers_words_in_ukrainian_name_no_source_id(tmp_path, fake, smtp):
    """The Ukrainian reader and the Ukrainian channel: the correction says whose figures in words."""
    controller, _mailbox = smtp
    cfg = config(fake, controller.port)
    telegram = TelegramChannel(TOKEN, cfg.telegram)
    tally = Tally(tmp_path / "u.db", cfg, [telegram])
    tally.store.save_subscriber("telegram", str(READER_UK), choice="all", language="uk")
    a_day_with_a_typo_and_a_disagreement(tally)
    send_all(tally, telegram)
    (milestone, correction) = [c.text for c in fake.sent(READER_UK)]
    assert "особовий склад" in milestone.lower() and "1\u00a0000\u00a0240" in milestone
    assert "Генштаб" in correction and "10\u00a0930 → 10\u00a0940" in correction
    assert "Генерального штабу" in correction  # whose figures, said under it
    tally.close()


def test_an_email_subscription_to_an_admin_notice_is_refused_by_name():
    with pytest.raises(ConfigError) as caught:
        Config.from_dict({"email": {"instant_rules": ["milestone", "disagreement"]}})
    assert "email.instant_rules" in str(caught.value) and "disagreement" in str(caught.value)
    assert "admins" in str(caught.value)


def test_a_retraction_is_one_plain_sentence_for_readers_and_the_guards_words_for_the_admin(tmp_path, fake):
    """A wrong figure accepted crossed 1,000,000; two later reports take it back. The reader's alert
    is struck through and answered in plain words (whose figures, what was wrong, what is right); the
    admin, who never got the alert, gets the retraction as a notice of its own, naming the source."""
    cfg = Config.from_dict(
        {
            "milestones": {"personnel": {"step": 100_000}},
            "detect": {"confirm": "none"},
            "telegram": {"base_url": fake.base_url, "admins": [ADMIN]},
        }
    )
    telegram = TelegramChannel(TOKEN, cfg.telegram)
    tally = Tally(tmp_path / "r.db", cfg, [telegram])
    for chat, language in ((READER_EN, "en"), (READER_UK, "uk")):
        tally.store.save_subscriber("telegram", str(chat), choice="milestones", language=language)
    for n in range(10):
        tally.report("mod", day(n), 988_700 + 1_000 * n)
    tally.report("mod", day(10), 1_001_000)  # wrong (truly 998,700), nothing printed to check it by
    send_all(tally, telegram)
    assert fake.sent(ADMIN) == []  # a milestone is the readers'
    (alert,) = fake.sent(READER_EN)
    tally.report("mod", day(11), 999_800, delta=1_100)
    tally.report("mod", day(12), 1_000_900, delta=1_100)
    send_all(tally, telegram)

    plain = (
        f"Personnel 1,001,000 for {shown(10)} was wrong: the next reports from the General Staff give 999,800 "
        f"for {shown(11)} and 1,000,900 for {shown(12)}"
    )
    edit = next(c for c in fake.calls("editMessageText", 200) if int(c.params["chat_id"]) == READER_EN)
    assert int(edit.params["message_id"]) == alert.params["_message"]["message_id"]
    assert edit.params["text"].startswith("<s>🏁") and f"\n\n⚠️ <b>{shown(10)}</b>\n{plain}\n\n" in edit.params["text"]
    retraction, million = fake.sent(READER_EN)[1:]
    assert retraction.params["reply_parameters"]["message_id"] == alert.params["_message"]["message_id"]
    assert plain in retraction.text and "now 1,000,900" in million.text
    ukrainian = fake.sent(READER_UK)[1].text
    assert "помилкове значення" in ukrainian and "(Генштаб)" in ukrainian and "1\u00a0000\u00a0900" in ukrainian
    for text in [retraction.text, edit.params["text"], ukrainian]:
        assert "mod" not in text and "taken back" not in text and "відкликано" not in text, text

    (notice,) = [c.text for c in fake.sent(ADMIN)]  # the admin: the guard's words, the source by its id
    assert notice == (
        f"⚠️ <b>{shown(10)}</b>\nPersonnel 1,001,000 for {shown(10)} from mod taken back: the next two reports "
        f"(999,800 for {shown(11)}, 1,000,900 for {shown(12)}) agree with each other and contradict it"
        "\n\n<i>Russia's losses as reported by the General Staff of the Armed Forces of Ukraine</i>"
    )
    tally.close()
