"""The Telegram bot's commands, inside the daemon's one asyncio loop.

python-telegram-bot's ``Application`` is started by hand (``initialize`` / ``start`` /
``updater.start_polling``), never with ``run_polling``, which would take over the loop the
scheduler and the delivery workers share. Every database call goes to the store's thread
through ``Pipeline.in_store``. Everything a user typed is escaped before it is echoed; buttons
carry only data we offered, and anything else is refused.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import html
import logging
import re
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any

from . import ptb  # noqa: F401  (first: python-telegram-bot without cryptography)

# isort: split
from telegram import BotCommand, InlineKeyboardButton, InlineKeyboardMarkup, LinkPreviewOptions, Update
from telegram.constants import ParseMode
from telegram.error import RetryAfter, TelegramError
from telegram.ext import (
    Application,
    ApplicationBuilder,
    ApplicationHandlerStop,
    BaseUpdateProcessor,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    TypeHandler,
    filters,
)
from telegram.request import HTTPXRequest

from . import digest, i18n, outbox
from .channels.render import (
    PHONE,
    average,
    brief_credit,
    change,
    metric_name,
    metric_named,
    percent,
    phone_table,
    short_name,
)
from .channels.telegram import LIMITS, retry_seconds
from .extract.genstaff import METRICS
from .format import format_date, format_number, format_period
from .models import Event, report_day
from .ratelimit import SlidingWindow
from .sources import health
from .sources.http import tls_context

if TYPE_CHECKING:
    from .config import Telegram as TelegramSettings
    from .pipeline import Pipeline

log = logging.getLogger("tallywatch.bot")
CHANNEL = "telegram"
BURST = 15  # commands and taps one chat may have answered within WINDOW seconds; more are dropped
WINDOW = 15.0
CHOICES = ("report", "all", "milestones", "metrics")  # what /subscribe offers, the daily report first
QUIET_CHOICES = {"off": (None, None), "22-7": (22, 7), "23-8": (23, 8)}
MAX_LENGTH = LIMITS.max_length or 4096  # characters of one message: a longer reply comes in pieces
CHART_DAYS, FEWEST_DAYS, MOST_DAYS = 90, 7, 2000  # /chart's days when none are given, and its bounds

# what the bot says, in English (the gettext msgids: each catalogue under locale/ translates them)
TEXTS = {
    "start": "Hello! This is {name}. I send the General Staff of Ukraine's daily report of Russian losses as soon as it is "
    "published, and tell you when something matters: a milestone passed or near, an unusual day, a record, "
    "a correction.\n\n"
    "/subscribe to get the daily report or alerts, /latest for today's figures, /settings for language and "
    "quiet hours, /help for more.",
    "help": "/subscribe — choose what to receive\n/unsubscribe — stop all alerts\n/latest — the latest figures\n"
    "/week, /month — the last 7 or 30 days\n/chart CATEGORY [DAYS] — a chart, e.g. /chart drones 30\n"
    "/settings — language and quiet hours\n/help — this list",
    "choose": "What would you like to receive? The daily report: every category's total and the day's "
    "losses, once a day, as soon as the General Staff publishes it.",
    "current": "You receive: {choice}.",
    "report": "The daily report",
    "all": "The daily report and every alert",
    "milestones": "Milestones only",
    "metrics": "Alerts about chosen categories",
    "pick": "Tap the categories you want, then Done.",
    "done": "Done",
    "subscribed_report": "Subscribed: the daily report. /unsubscribe stops it.",
    "subscribed_all": "Subscribed: the daily report and every alert. /unsubscribe stops them.",
    "subscribed_milestones": "Subscribed: milestones only. /unsubscribe stops them.",
    "subscribed_metrics": "Subscribed: alerts about {metrics}. /unsubscribe stops them.",
    "no_metrics": "Pick at least one category first.",
    "unsubscribed": "Unsubscribed: no more alerts. /subscribe brings them back.",
    "not_subscribed": "You are not subscribed. /subscribe to start.",
    "settings": "Language and quiet hours. Quiet hours are {zone}: non-critical alerts wait until they end; "
    "milestones never wait.",
    "settings_now": "Now: English; quiet hours {quiet}.",
    "quiet_none": "off",
    "quiet_hours": "{a}:00–{b}:00 {zone}",
    "kyiv_time": "Kyiv time",
    "quiet_off": "Quiet hours: off",
    "quiet": "Quiet {a}:00–{b}:00",
    "saved": "Saved.",
    "which_language": "Which language shall I write in?",
    "speaking": "From now on I write in English. /settings changes the language.",
    "stale_button": "This button is no longer valid.",
    "slow_down": "Slow down, please: I answer a few commands at a time. The rest were dropped; try again in a minute.",
    "group_admins_only": "In a group, only its admins can change what the group receives.",
    "unknown": "I don't know {command}. /help lists what I can do.",
    "plain": "I answer commands only. /help lists them.",
    "admins_only": "Sorry, this command is for the bot's administrators.",
    "no_figures": "No figures yet.",
    "broadcast_usage": "Usage: /broadcast TEXT",
    "broadcast_done": "Broadcast queued for {n} recipients.",
    "latest": "Russia's losses · {date}",
    "period": "Russia's losses · {days} days",
    "vs_before": "% — against the {days} days before",
    "a_day": "{n} a day",
    "no_period": "Not enough figures yet for the last {days} days.",
    "chart_usage": "Usage: /chart CATEGORY [DAYS], e.g. /chart drones 30 (7 to 2000 days). Categories: {metrics}",
    "chart_no_category": "There is no category “{asked}”. Categories: {metrics}.",
    "chart_not_days": "“{asked}” is not a number of days: /chart {name} 30",
    "chart_few": "A chart needs at least {least} days: /chart {name} {least}",
    "chart_most": "A chart shows at most {most} days: /chart {name} {most_days}",
    "chart_empty": "No figures for {metric} yet.",
}


class Texts:
    """The bot's texts in one language: ``texts(language)[key]``."""

    def __init__(self, language: str) -> None:
        self.language = language

    def __getitem__(self, key: str) -> str:
        return i18n.gettext(self.language, TEXTS[key])


def texts(language: str) -> Texts:
    return Texts(language)


COMMANDS = [
    ("subscribe", "The daily report or alerts"),
    ("unsubscribe", "Stop all alerts"),
    ("latest", "The latest figures"),
    ("week", "The last 7 days"),
    ("month", "The last 30 days"),
    ("chart", "A chart: /chart CATEGORY [DAYS]"),
    ("settings", "Language and quiet hours"),
    ("help", "What I can do"),
]  # (command, its description: a msgid)


def esc(text: str) -> str:
    """Text for HTML parse mode: <, > and & escaped (quotes may stay: they are not in a tag)."""
    return html.escape(text, quote=False)


def _clip(text: str, limit: int = 64) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


class PerChat(BaseUpdateProcessor):
    """Updates from different chats are handled at once; one chat's in the order they came.

    python-telegram-bot's own concurrency (``concurrent_updates``) keeps no order at all; handling
    every update in turn made a crowd wait for each chat's 1 s pacing in a row. Here each chat has
    a lock, taken in arrival order (asyncio's locks are FIFO), forgotten when no update of that
    chat is waiting."""

    def __init__(self, max_concurrent_updates: int = 256) -> None:
        super().__init__(max_concurrent_updates)
        self._chats: dict[int | None, tuple[asyncio.Lock, list[int]]] = {}

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        chat = update.effective_chat.id if isinstance(update, Update) and update.effective_chat else None
        lock, users = self._chats.setdefault(chat, (asyncio.Lock(), [0]))
        users[0] += 1
        try:
            async with lock:
                await coroutine
        finally:
            users[0] -= 1
            if not users[0]:
                self._chats.pop(chat, None)

    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        pass


class TelegramBot:
    def __init__(self, pipeline: Pipeline, token: str, settings: TelegramSettings) -> None:
        self.pipeline = pipeline
        self.settings = settings
        # replies share the flood gate with the alerts: paced for paid broadcast, sent as such
        self.paid = {"allow_paid_broadcast": True} if settings.paid_broadcast else {}
        tls = {"verify": tls_context()}  # one TLS context for the process (see sources.http.tls_context)
        self.app: Application = (
            ApplicationBuilder()
            .token(token)
            .base_url(settings.base_url)
            .request(HTTPXRequest(connection_pool_size=32, httpx_kwargs=tls))
            .get_updates_request(HTTPXRequest(connection_pool_size=1, httpx_kwargs=tls))
            .concurrent_updates(PerChat())
            .build()
        )
        add = self.app.add_handler
        # before any other handler (group -1): a chat flooding the bot is answered once and dropped
        add(TypeHandler(Update, self.guard), group=-1)
        self._recent = SlidingWindow(BURST, WINDOW)  # chat → when its last commands were taken
        self._warned: set[int] = set()  # chats told to slow down, until their window empties
        self.stopping = False  # set at shutdown: replies still queued are dropped (they are not alerts)
        for name, handler in {
            "start": self.on_start,
            "help": self.on_help,
            "subscribe": self.on_subscribe,
            "unsubscribe": self.on_unsubscribe,
            "latest": self.on_latest,
            "week": self.on_week,
            "month": self.on_month,
            "settings": self.on_settings,
            "stats": self.on_stats,
            "broadcast": self.on_broadcast,
            "chart": self.on_chart,
        }.items():
            add(CommandHandler(name, handler))
        add(CallbackQueryHandler(self.on_button))
        add(MessageHandler(filters.COMMAND, self.on_unknown))
        add(MessageHandler(filters.ALL & ~filters.COMMAND & filters.ChatType.PRIVATE, self.on_plain))
        self.app.add_error_handler(self.on_error)

    # -- lifecycle --------------------------------------------------------------------------------

    async def start(self) -> None:
        await self.app.initialize()
        for language in i18n.languages():
            await self.app.bot.set_my_commands(
                [BotCommand(name, i18n.gettext(language, description)) for name, description in COMMANDS],
                language_code=None if language == i18n.SOURCE else language,
            )
        await self.app.start()
        await self.app.updater.start_polling(allowed_updates=["message", "callback_query"], timeout=10)
        log.info("Telegram bot @%s answering commands", self.app.bot.username)

    async def stop(self, grace: float = 3.0) -> None:
        """Stop answering: updates still queued get no reply (they are not alerts) and a handler
        waiting at the flood gate gives up, so a stop takes seconds, not a queue's worth of minutes."""
        self.stopping = True
        if self.app.updater and self.app.updater.running:
            await self.app.updater.stop()
        if self.app.running:
            try:
                await asyncio.wait_for(self.app.stop(), timeout=grace)
            except TimeoutError:
                log.warning("bot: replies still being sent after %g s were dropped at shutdown", grace)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.app.shutdown(), timeout=grace)

    async def guard(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """At most ``BURST`` commands or taps of one chat are taken in any ``WINDOW`` seconds; the
        first one over is answered "slow down", the rest dropped unanswered. After a stop, none."""
        chat = update.effective_chat
        if self.stopping:
            raise ApplicationHandlerStop
        if chat is None:
            return
        if self._recent.allow(chat.id):
            if self._recent.first(chat.id):
                self._warned.discard(chat.id)  # its window emptied
            return
        if len(self._warned) > 256:  # chats told and never back are forgotten with their windows
            self._warned = {c for c in self._warned if c in self._recent}
        if chat.id not in self._warned:
            self._warned.add(chat.id)
            log.info("chat %s: more than %d commands in %g s; the rest are dropped", chat.id, BURST, WINDOW)
            await self._reply(update, esc(texts(await self._language(update))["slow_down"]))
        raise ApplicationHandlerStop

    # -- helpers ----------------------------------------------------------------------------------

    async def _subscriber(self, chat_id: int) -> dict | None:
        return await self.pipeline.in_store(self.pipeline.store.subscriber, CHANNEL, str(chat_id))

    async def _save(self, chat_id: int, **fields: object) -> dict:
        return await self.pipeline.in_store(self.pipeline.store.save_subscriber, CHANNEL, str(chat_id), **fields)

    async def _setting(self, chat_id: int, **fields: object) -> dict:
        """Keep a setting (language, quiet hours): never a subscription by itself."""
        if await self._subscriber(chat_id) is None:
            return await self._save(chat_id, active=0, reason="settings only", **fields)
        return await self._save(chat_id, **fields)

    async def _may_change(self, chat, user) -> bool:
        """In a private chat, its user; in a group, only the group's admins change what it receives."""
        if chat.type == "private":
            return True
        if user is None:
            return False
        try:
            member = await self.app.bot.get_chat_member(chat.id, user.id)
        except TelegramError as exc:
            log.warning("chat %s: could not tell whether %s is an admin (%s); change refused", chat.id, user.id, exc)
            return False
        return member.status in ("creator", "administrator")

    async def _language(self, update: Update) -> str:
        """The chat's language: the one it chose (kept with its subscriber row), else its user's
        Telegram language if a catalogue speaks it. Anyone else, in a private chat, is asked once
        which language to write in (the row kept then is what says they were asked); meanwhile, English."""
        chat = update.effective_chat
        if chat is not None:
            sub = await self._subscriber(chat.id)
            if sub is not None:
                return sub["language"]
        user = update.effective_user
        code = ((user.language_code if user else None) or "").lower().replace("_", "-").split("-")[0]
        if code in i18n.languages():
            return code
        if chat is not None and chat.type == "private" and not self.stopping:
            await self._setting(chat.id, language=i18n.SOURCE)
            question = "\n".join(dict.fromkeys(texts(language)["which_language"] for language in i18n.languages()))
            keyboard = [
                InlineKeyboardButton(i18n.native_name(language), callback_data=f"speak:{language}")
                for language in i18n.languages()
            ]
            await self._reply(update, esc(question), InlineKeyboardMarkup([keyboard]))
        return i18n.SOURCE

    async def _reply(self, update: Update, text: str, markup: InlineKeyboardMarkup | None = None) -> None:
        chat = update.effective_chat
        if chat is None:
            return
        await self._within_limits(
            chat,
            lambda: chat.send_message(
                text,
                parse_mode=ParseMode.HTML,
                reply_markup=markup,
                link_preview_options=LinkPreviewOptions(is_disabled=True),
                **self.paid,
            ),
        )

    async def _within_limits(self, chat, send) -> None:
        """Send through the flood gate alerts use too; after a 429, wait as told and try once more."""
        gate = self.pipeline.gates.get(CHANNEL)
        for attempt in (1, 2):
            if self.stopping:  # shutting down: a reply not sent yet is dropped
                return
            if gate is not None:  # replies and alerts share Telegram's per-chat and overall limits
                await gate.acquire(str(chat.id), chat.id < 0)
            try:
                await send()
                return
            except RetryAfter as exc:
                if attempt == 2:
                    raise
                if gate is not None:
                    gate.pause(str(chat.id), retry_seconds(exc))
                else:
                    await asyncio.sleep(retry_seconds(exc))
            finally:
                if gate is not None:  # the chat's next send is spaced from this one's answer
                    gate.finished(str(chat.id))

    def _is_admin(self, update: Update) -> bool:
        user = update.effective_user
        return user is not None and user.id in self.settings.admins

    # -- commands ---------------------------------------------------------------------------------

    async def on_start(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        language = await self._language(update)
        name = self.pipeline.config.service.called(language)
        await self._reply(update, esc(texts(language)["start"].format(name=name)))

    async def on_help(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await self._reply(update, esc(texts(await self._language(update))["help"]))

    def _choice_keyboard(self, language: str, current: str | None = None) -> InlineKeyboardMarkup:
        """The choices, the daily report first; ``current`` (an active subscriber's) is ticked."""
        t = texts(language)
        return InlineKeyboardMarkup(
            [
                [InlineKeyboardButton(("✓ " if choice == current else "") + t[choice], callback_data=f"sub:{choice}")]
                for choice in CHOICES
            ]
        )

    def _metrics_keyboard(self, language: str, chosen: list[str]) -> InlineKeyboardMarkup:
        rows, row = [], []
        for metric in METRICS:
            mark = "✓ " if metric in chosen else ""
            row.append(InlineKeyboardButton(mark + metric_name(metric, language), callback_data=f"m:{metric}"))
            if len(row) == 2:
                rows.append(row)
                row = []
        if row:
            rows.append(row)
        rows.append([InlineKeyboardButton(texts(language)["done"], callback_data="m:done")])
        return InlineKeyboardMarkup(rows)

    def _settings_keyboard(self, language: str, quiet_now: str = "off") -> InlineKeyboardMarkup:
        """Language and quiet hours, the current ones ticked."""
        t = texts(language)
        tick = lambda on: "✓ " if on else ""  # noqa: E731
        quiet = [
            InlineKeyboardButton(
                tick(key == quiet_now) + (t["quiet_off"] if key == "off" else t["quiet"].format(a=a, b=b)),
                callback_data=f"quiet:{key}",
            )
            for key, (a, b) in QUIET_CHOICES.items()
        ]
        return InlineKeyboardMarkup(
            [
                [
                    InlineKeyboardButton(tick(language == code) + i18n.native_name(code), callback_data=f"lang:{code}")
                    for code in i18n.languages()
                ],
                quiet,
            ]
        )

    def _zone(self, language: str) -> str:
        """What time the quiet hours are in, for people: "Kyiv time" ([telegram] timezone; another
        zone by its name in the reader's language, from CLDR)."""
        if self.settings.timezone in ("Europe/Kyiv", "Europe/Kiev"):
            return texts(language)["kyiv_time"]
        from babel.dates import get_timezone_location

        return get_timezone_location(self.settings.timezone, locale=language)

    async def _settings_message(self, chat_id: int, language: str) -> tuple[str, InlineKeyboardMarkup]:
        """/settings' text and keyboard, saying the chat's current language and quiet hours."""
        t = texts(language)
        sub = await self._subscriber(chat_id)
        start, end = (sub["quiet_from"], sub["quiet_to"]) if sub else (None, None)
        quiet_now = next((key for key, hours in QUIET_CHOICES.items() if hours == (start, end)), "off")
        zone = self._zone(language)
        said = t["quiet_none"] if start is None or start == end else t["quiet_hours"].format(a=start, b=end, zone=zone)
        text = f"{esc(t['settings'].format(zone=zone))}\n\n{esc(t['settings_now'].format(quiet=said))}"
        return text, self._settings_keyboard(language, quiet_now)

    async def on_subscribe(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        language = await self._language(update)
        t = texts(language)
        chat = update.effective_chat
        sub = await self._subscriber(chat.id) if chat else None
        current = sub["choice"] if sub and sub["active"] else None
        text = esc(t["choose"])
        if current is not None:
            text += "\n\n" + esc(t["current"].format(choice=t[current]))
        await self._reply(update, text, self._choice_keyboard(language, current))

    async def on_unsubscribe(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        language = await self._language(update)
        chat = update.effective_chat
        sub = await self._subscriber(chat.id) if chat else None
        if sub is None or not sub["active"]:
            await self._reply(update, esc(texts(language)["not_subscribed"]))
            return
        if not await self._may_change(chat, update.effective_user):
            await self._reply(update, esc(texts(language)["group_admins_only"]))
            return
        await self._save(chat.id, active=0, reason="unsubscribed")
        await self._reply(update, esc(texts(language)["unsubscribed"]))

    async def on_settings(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        language = await self._language(update)
        chat = update.effective_chat
        text, keyboard = await self._settings_message(chat.id if chat else 0, language)
        await self._reply(update, text, keyboard)

    def _credit(self, source: str, language: str) -> str:
        """Whose figures, in a line a phone shows whole."""
        try:
            publisher = self.pipeline.config.source(source).said_by()
        except KeyError:
            publisher = "genstaff"
        return _clip(brief_credit(publisher, language), PHONE)

    async def on_latest(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """The latest figures for a phone: personnel first, the report's order, the date and source on
        top, categories not reported for a year left out, no line over 30 characters."""
        language = await self._language(update)
        rows = await self.pipeline.in_store(self.pipeline.store.latest)
        newest = max((r.as_of for r in rows), default=None)
        rows = [r for r in rows if newest and (newest - r.as_of).days <= 365]
        if not rows:
            await self._reply(update, esc(texts(language)["no_figures"]))
            return
        order = {m: i for i, m in enumerate(METRICS)}
        rows.sort(key=lambda r: (order.get(r.metric, len(order)), r.metric))
        table = phone_table(
            [
                (short_name(r.metric, language), format_number(r.value, language), change(r.delta, language))
                for r in rows
            ]
        )
        title = esc(texts(language)["latest"].format(date=format_date(newest, language)))
        credit = esc(self._credit(rows[0].source, language))
        await self._reply(update, f"<b>{title}</b>\n<i>{credit}</i>\n<pre>{esc(table)}</pre>")

    async def on_week(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await self._period(update, 7)

    async def on_month(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await self._period(update, 30)

    async def _period(self, update: Update, days: int) -> None:
        """/week, /month: each category's losses over the last ``days`` days, its daily average and
        the change against the ``days`` before, for a phone (no line over 30 characters)."""
        language = await self._language(update)
        t = texts(language)
        found = await self.pipeline.in_store(digest.totals, self.pipeline.store, days)
        if not found:
            await self._reply(update, esc(t["no_period"].format(days=days)))
            return
        end = max(f.end for f in found)
        start = end - dt.timedelta(days=days - 1)
        rows = [(short_name(f.metric, language), format_number(f.total, language), percent(f.change)) for f in found]
        lines = []
        for line, f in zip(phone_table(rows).splitlines(), found, strict=True):
            lines += [line, "  " + t["a_day"].format(n=average(f.per_day, language))]
        head = [
            f"<b>{esc(t['period'].format(days=days))}</b>",
            format_period(start, end, language),
            f"<i>{esc(self._credit(found[0].source, language))}</i>",
            esc(t["vs_before"].format(days=days)),
        ]
        await self._reply(update, "\n".join(head) + f"\n<pre>{esc(chr(10).join(lines))}</pre>")

    async def on_chart(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """/chart CATEGORY [DAYS]: the chart as a photo; asked wrong, what to fix and a command that works."""
        language = await self._language(update)
        t = texts(language)
        args = list(context.args or [])
        days = None
        if args and any(c.isnumeric() for c in args[-1]) and not any(c.isalpha() for c in args[-1]):
            days = args.pop()  # meant as the days: checked below, after the category
        asked = " ".join(args)
        names = [metric_name(m, language) for m in METRICS]
        if not asked:
            await self._reply_listing(update, t["chart_usage"], names)
            return
        metric = metric_named(asked, METRICS) if len(asked) <= 40 else None
        if metric is None:
            await self._reply_listing(update, t["chart_no_category"], names, asked=_clip(asked, 40))
            return
        name = _clip(asked, 40)
        # int() takes ² and ٣ too (isdigit() is true for them): only the digits 0–9 make a number of days
        if days is not None and not re.fullmatch(r"[-−]?[0-9]+", days):
            await self._reply(update, esc(t["chart_not_days"].format(asked=_clip(days, 20), name=name)))
            return
        wanted = CHART_DAYS if days is None else int(days.replace("−", "-"))
        if wanted < FEWEST_DAYS:
            await self._reply(update, esc(t["chart_few"].format(least=FEWEST_DAYS, name=name)))
            return
        span = await self.pipeline.in_store(self.pipeline.store.span, metric)
        there = (span[1] - span[0]).days + 1 if span else 0
        if wanted > MOST_DAYS and there > MOST_DAYS:
            said = t["chart_most"].format(most=format_number(MOST_DAYS, language), most_days=MOST_DAYS, name=name)
            await self._reply(update, esc(said))
            return
        if days is None:  # none asked: the usual days, or as many as there are
            wanted = min(wanted, there)
        elif wanted > there > 0:
            said = i18n.ngettext(
                language,
                "{asked} days is more than the {there} there is: /chart {name} {days}",
                "{asked} days is more than the {there} there are: /chart {name} {days}",
                there,
            ).format(
                asked=_clip(days, 20), there=format_number(there, language), name=name, days=max(there, FEWEST_DAYS)
            )
            await self._reply(update, esc(said))
            return
        png = await self.pipeline.chart(metric, language, wanted) if there else None
        title = i18n.capitalized(metric_name(metric, language))
        if png is None:
            await self._reply(update, esc(t["chart_empty"].format(metric=title)))
            return
        chat = update.effective_chat
        caption = i18n.ngettext(language, "{metric} · the last {days} day", "{metric} · the last {days} days", wanted)
        caption = esc(caption.format(metric=title, days=wanted))
        await self._within_limits(chat, lambda: chat.send_photo(photo=png, caption=caption, **self.paid))

    async def _reply_listing(self, update: Update, text: str, items: list[str], **fields: str) -> None:
        """``text`` (its ``fields`` filled in) with ``items`` listed whole where it says ``{metrics}``:
        in as many messages as Telegram's length limit needs, each cut between two items, never inside one."""
        head, _, tail = text.partition("{metrics}")
        head, tail = head.format(**fields), tail.format(**fields)
        pieces, piece = [], esc(head)
        for i, item in enumerate(items):
            said = esc(item) + (", " if i < len(items) - 1 else "")
            if len(piece) + len(said) > MAX_LENGTH:
                pieces.append(piece.rstrip(", "))
                piece = ""
            piece += said
        if len(piece) + len(esc(tail)) > MAX_LENGTH:
            pieces.append(piece)
            piece = ""
        pieces.append(piece + esc(tail))
        for piece in pieces:
            await self._reply(update, piece)

    async def on_stats(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        language = await self._language(update)
        if not self._is_admin(update):
            await self._reply(update, esc(texts(language)["admins_only"]))
            return
        store = self.pipeline.store

        def gather() -> tuple[list[dict], dict[str, int], list[dict]]:
            return store.subscribers(CHANNEL, active=None), store.outbox_counts(), store.source_states()

        subscribers, counts, sources = await self.pipeline.in_store(gather)
        active = sum(1 for s in subscribers if s["active"])
        lines = [
            f"subscribers: {active} active, {len(subscribers) - active} inactive",
            "deliveries: " + ", ".join(f"{k} {v}" for k, v in counts.items()),
        ]
        for h in health.read_all(self.pipeline.config, sources):
            error = f", last error: {h.last_error}" if h.consecutive_failures and h.last_error else ""
            notice = f"; {h.notice}" if h.notice else ""
            lines.append(f"source {h.name}: {h.summary}{notice}; last success {h.last_success or 'never'}{error}")
        await self._reply(update, f"<pre>{esc(chr(10).join(lines))}</pre>")

    async def on_broadcast(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        language = await self._language(update)
        if not self._is_admin(update):
            await self._reply(update, esc(texts(language)["admins_only"]))
            return
        text = (update.effective_message.text or "").partition(" ")[2].strip() if update.effective_message else ""
        if not text:
            await self._reply(update, esc(texts(language)["broadcast_usage"]))
            return
        event = Event(
            key=f"broadcast:{update.update_id}:{update.effective_user.id}",
            rule="broadcast",
            metric="",
            as_of=report_day(dt.datetime.now(dt.UTC)),
            value=0,
            message=text,
            severity="critical",
            data={"by": update.effective_user.id},
        )
        count = await self.pipeline.in_store(self._queue_broadcast, event)
        self.pipeline.notify()
        await self._reply(update, esc(texts(language)["broadcast_done"].format(n=count)))

    def _queue_broadcast(self, event: Event) -> int:
        store = self.pipeline.store
        with store.transaction():
            stored = store.add_event(event, "admin", True)
            return outbox.enqueue(
                store, [stored] if stored else [], [c for c in self.pipeline.channels if c.kind == CHANNEL]
            )

    async def on_unknown(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        language = await self._language(update)
        command = (update.effective_message.text or "").split()[0] if update.effective_message else ""
        await self._reply(update, esc(texts(language)["unknown"].format(command=_clip(command))))

    async def on_plain(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await self._reply(update, esc(texts(await self._language(update))["plain"]))

    # -- buttons ----------------------------------------------------------------------------------

    async def on_button(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        if query is None or query.message is None:
            return
        language = await self._language(update)
        t = texts(language)
        chat_id = query.message.chat.id
        kind, _, value = (query.data or "").partition(":")
        if not await self._may_change(query.message.chat, query.from_user):
            await query.answer(t["group_admins_only"], show_alert=True)
            return
        if kind == "sub" and value in ("report", "all", "milestones"):
            await self._save(
                chat_id, active=1, reason=None, choice=value, kind=query.message.chat.type, language=language
            )
            await query.answer(t["saved"])
            await query.edit_message_text(esc(t[f"subscribed_{value}"]), parse_mode=ParseMode.HTML)
        elif kind == "sub" and value == "metrics":
            sub = await self._subscriber(chat_id)
            chosen = sub["metrics"] if sub else []
            await query.answer()
            await query.edit_message_text(esc(t["pick"]), reply_markup=self._metrics_keyboard(language, chosen))
        elif kind == "m" and (value in METRICS or value == "done"):
            await self._metric_button(query, chat_id, value, language)
        elif kind == "lang" and value in i18n.languages():
            await self._setting(chat_id, language=value)
            await query.answer(texts(value)["saved"])
            text, keyboard = await self._settings_message(chat_id, value)
            await query.edit_message_text(text, parse_mode=ParseMode.HTML, reply_markup=keyboard)
        elif kind == "speak" and value in i18n.languages():  # the answer to "which language?"
            await self._setting(chat_id, language=value)
            await query.answer(texts(value)["saved"])
            await query.edit_message_text(esc(texts(value)["speaking"]), parse_mode=ParseMode.HTML)
        elif kind == "quiet" and value in QUIET_CHOICES:
            start, end = QUIET_CHOICES[value]
            await self._setting(chat_id, quiet_from=start, quiet_to=end)
            await query.answer(t["saved"])
            text, keyboard = await self._settings_message(chat_id, language)
            await query.edit_message_text(text, parse_mode=ParseMode.HTML, reply_markup=keyboard)
        else:  # data we never offered (or from an old keyboard): refuse, change nothing
            log.info(
                "refused callback data %r from %s",
                _clip(query.data or ""),
                query.from_user.id if query.from_user else "?",
            )
            await query.answer(t["stale_button"], show_alert=True)

    async def _metric_button(self, query, chat_id: int, value: str, language: str) -> None:
        t = texts(language)
        sub = await self._subscriber(chat_id)
        chosen = list(sub["metrics"]) if sub else []
        if value == "done":
            if not chosen:
                await query.answer(t["no_metrics"], show_alert=True)
                return
            await self._save(
                chat_id, active=1, reason=None, choice="metrics", kind=query.message.chat.type, language=language
            )
            await query.answer(t["saved"])
            listed = ", ".join(metric_name(m, language) for m in chosen)
            await query.edit_message_text(esc(t["subscribed_metrics"].format(metrics=listed)))
            return
        chosen = [m for m in chosen if m != value] if value in chosen else [*chosen, value]
        if sub is None:  # keep the choice without subscribing yet: Done subscribes
            await self._save(chat_id, active=0, reason="choosing", metrics=chosen, language=language)
        else:
            await self._save(chat_id, metrics=chosen)
        await query.answer()
        await query.edit_message_reply_markup(self._metrics_keyboard(language, chosen))

    async def on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        error = context.error
        if isinstance(error, TelegramError):
            log.warning("Telegram: %s: %s", type(error).__name__, error)
        else:
            log.error("bot handler failed: %s: %s", type(error).__name__, error, exc_info=error)
