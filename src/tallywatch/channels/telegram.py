"""Telegram: alerts to subscribers in private chats, groups, and configured channels.

Sends through python-telegram-bot's ``Bot`` with HTML parse mode. Telegram's limits are data
(``LIMITS``) enforced by the flood gate: about 30 messages a second overall, one a second to one
chat, 20 a minute to one group. Errors map onto the outbox's three answers: a 429 is ``Retry``
after its ``retry_after``; a 403 (blocked, kicked) or "chat not found" is ``Gone`` and the
subscriber is deactivated; network errors and 5xx are ``Retry``; any other 400 is ``Rejected``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import warnings
from collections import OrderedDict
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from .. import ptb  # noqa: F401  (first: python-telegram-bot without cryptography)

# isort: split
from telegram import Bot, InputMediaPhoto, LinkPreviewOptions, Message, ReplyParameters
from telegram.constants import ParseMode
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    InvalidToken,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.request import HTTPXRequest
from telegram.warnings import PTBDeprecationWarning

from ..health import TELEGRAM_429
from ..models import Event, for_readers
from ..sources.http import tls_context
from . import ChannelLimits, Context, Gone, Recipient, Rejected, Retry, Steps
from .render import split, telegram_html
from .transport import transport

if TYPE_CHECKING:
    from ..config import Telegram as TelegramSettings
    from ..config import TelegramChat
    from ..store import Reply, Store

log = logging.getLogger("tallywatch.telegram")
# python-telegram-bot's DEBUG records carry the token in the API URL ("Set Bot API URL: …/bot<token>"):
# never emit them; what it logs from INFO up goes through the redacting formatter as well
logging.getLogger("telegram").setLevel(logging.INFO)
# python-telegram-bot 22 warns on every 429 that retry_after will become a timedelta; we read both
warnings.filterwarnings("ignore", message=".*`retry_after` will be of type", category=PTBDeprecationWarning)

LIMITS = ChannelLimits(
    per_second=30,
    per_chat_interval=1.0,
    per_group_per_minute=20,
    max_length=4096,
    max_attempts=12,
    concurrency=4,
)
PAID_PER_SECOND = 1000  # with allow_paid_broadcast (Telegram bills what is over the free ~30/s)
PAID_CONCURRENCY = 32  # sends in flight to keep 1,000 a second going
CAPTION_LIMIT = 1024  # a photo's caption
FILE_IDS_KEPT = 64  # file ids of charts uploaded, to re-send them without uploading again


def wants(subscriber: dict, event: Event) -> bool:
    """Whether a subscriber's choice covers an event.

    ``report``: the daily report only; ``all``: the daily report and every alert, except the
    spikes and records a report already tells (``folded``); ``milestones``; ``metrics``: every
    alert about the chosen categories (no report)."""
    if event.rule == "broadcast":
        return True
    if (
        not for_readers(event.rule) or event.rule == "digest"
    ):  # the admins' (what is wrong with the data or the service); digests are mail
        return False
    choice = subscriber["choice"]
    if event.rule == "report" or choice == "report":
        return event.rule == "report" and choice in ("all", "report")
    if choice == "all":
        return not event.data.get("folded")
    if choice == "milestones":
        return event.rule == "milestone"
    if choice == "metrics":
        return event.metric in subscriber["metrics"]
    return True


def channel_wants(chat: TelegramChat, event: Event) -> bool:
    """Whether a channel of the config is sent an event: a broadcast always; else an alert of a kind
    its ``send`` names, but not one its daily report tells already (``folded``) if it gets the report."""
    if event.rule == "broadcast":
        return True
    if not chat.wants(event.rule):
        return False
    return not (event.data.get("folded") and chat.wants("report"))


def quiet_until(subscriber: dict, event: Event, now: dt.datetime, zone: ZoneInfo) -> dt.datetime | None:
    """The end of the subscriber's quiet hours if ``now`` falls in them (critical alerts never wait)."""
    start, end = subscriber.get("quiet_from"), subscriber.get("quiet_to")
    if start is None or end is None or start == end or event.severity == "critical":
        return None
    local = now.astimezone(zone)
    hour = local.hour
    inside = start <= hour < end if start < end else (hour >= start or hour < end)
    if not inside:
        return None
    wake = local.replace(hour=end, minute=0, second=0, microsecond=0)
    if wake <= local:
        wake += dt.timedelta(days=1)
    return wake.astimezone(dt.UTC)


def retry_seconds(exc: RetryAfter) -> float:
    """``retry_after`` in seconds: an int today, a timedelta in a later python-telegram-bot."""
    value = exc.retry_after
    return value.total_seconds() if isinstance(value, dt.timedelta) else float(value)


def receipt(message: Message | None) -> str | None:
    """What a sent message is called, to edit it later: its kind (caption or text) and its id."""
    if message is None:
        return None
    return f"{'photo' if message.photo else 'text'}:{message.message_id}"


class TelegramChannel:
    kind = "telegram"

    def __init__(self, token: str, settings: TelegramSettings, clock=lambda: dt.datetime.now(dt.UTC)) -> None:
        self.settings = settings
        paid = {"per_second": PAID_PER_SECOND, "concurrency": max(settings.concurrency, PAID_CONCURRENCY)}
        self.limits = ChannelLimits(
            **{**LIMITS.__dict__, "concurrency": settings.concurrency, **(paid if settings.paid_broadcast else {})}
        )
        self.paid = {"allow_paid_broadcast": True} if settings.paid_broadcast else {}
        self.zone = ZoneInfo(settings.timezone)
        self.clock = clock
        pool = self.limits.concurrency + 4
        self.bot = Bot(
            token,
            base_url=settings.base_url,
            # the sends' pool of connections asks its idle ones cheaply whether they were closed
            request=HTTPXRequest(connection_pool_size=pool, httpx_kwargs={"transport": transport(pool, tls_context())}),
            get_updates_request=HTTPXRequest(connection_pool_size=1, httpx_kwargs={"verify": tls_context()}),
        )
        self._ready = False
        self._starting = asyncio.Lock()
        self._context: Context | None = None
        self._file_ids: OrderedDict[tuple[str, str], str] = OrderedDict()  # (event key, language) → file id

    def bind(self, context: Context) -> None:
        """The running daemon's store and charts (see ``channels.Context``)."""
        self._context = context

    def is_group(self, recipient: str) -> bool:
        return recipient.startswith(("-", "@"))

    def is_admin(self, recipient: str) -> bool:
        """One of ``[telegram] admins``: told in the admins' words (the sources' ids, the guard's reasons)."""
        return recipient in {str(admin) for admin in self.settings.admins}

    def recipients(self, event: Event, store: Store) -> list[Recipient]:
        if not for_readers(event.rule):  # (models.ADMIN_ONLY) a retraction: readers only as an answer
            return [Recipient(str(admin)) for admin in self.settings.admins]
        # channels and groups of the config: what each was set to get (`send`), in its own language
        out = [Recipient(c.chat, None, c.language) for c in self.settings.channels if channel_wants(c, event)]
        now = self.clock()
        for sub in store.subscribers(self.kind):
            if wants(sub, event):
                out.append(Recipient(sub["address"], quiet_until(sub, event, now, self.zone), sub["language"]))
        return out

    def quiet_until(self, recipient: str, event: Event, store: Store) -> dt.datetime | None:
        sub = store.subscriber(self.kind, recipient)
        return quiet_until(sub, event, self.clock(), self.zone) if sub else None

    async def start(self) -> None:
        async with self._starting:
            if not self._ready:
                await self.bot.initialize()
                self._ready = True

    async def stop(self) -> None:
        if self._ready:
            await self.bot.shutdown()
            self._ready = False

    async def prepare(self, event: Event, language: str = "en") -> bytes | None:
        """A daily report's card, or a milestone's chart: drawn once for all recipients in one language.

        The outbox calls this before the flood gate books the send, so a slow drawing never
        bunches the sends booked after it into more than Telegram allows in one second.
        """
        if self._context is None:
            return None
        if event.rule == "report":
            return await self._context.card(event, language)
        if event.rule != "milestone" or not event.metric:
            return None
        return await self._context.chart(event.metric, language, once=event.key)

    async def send(
        self,
        event: Event,
        recipient: str,
        language: str = "en",
        reply: Reply | None = None,
        steps: Steps | None = None,
    ) -> str | None:
        """Send the alert; the receipt is ``photo:<message_id>`` or ``text:<message_id>`` (the last piece).

        A text over 4,096 characters goes in pieces, each one a step of the delivery (``steps``):
        each passes the flood gate, and a retry resumes at the first piece not sent.
        With ``reply`` (a retraction or a correction of the alert sent before) the earlier message
        is edited first — struck through, this one under it — and this one is sent as an answer to it.
        """
        steps = steps or Steps()
        admin = self.is_admin(recipient)
        text = telegram_html(event, language, admin=admin)
        if reply is not None:
            return await self._answer(event, recipient, language, reply, text, steps)
        photo = await self.prepare(event, language) if len(text) <= CAPTION_LIMIT else None
        if photo is None:
            return receipt(await self.send_text(recipient, text, steps=steps)) or steps.receipt
        key = (event.key, language)
        file_id = self._file_ids.get(key)
        if file_id is not None:  # uploaded once already: Telegram re-sends it by its id
            try:
                return receipt(await self.send_text(recipient, text, file_id, steps=steps))
            except Rejected:  # Telegram no longer knows the file id: upload the bytes again
                self._file_ids.pop(key, None)
        message = await self.send_text(recipient, text, photo, steps=steps)
        if message is not None and message.photo:
            self._file_ids[key] = message.photo[-1].file_id
            while len(self._file_ids) > FILE_IDS_KEPT:
                self._file_ids.popitem(last=False)
        return receipt(message)

    async def _answer(
        self, event: Event, recipient: str, language: str, reply: Reply, text: str, steps: Steps
    ) -> str | None:
        kind, _, number = (reply.receipt or "").partition(":")
        if event.rule == "report" and number.isdigit():  # a newer version of the report: the message is edited
            card = await self.prepare(event, language) if kind == "photo" else None
            await steps.call()
            if card is not None:  # the card shows the figures too: a new one, with the new caption
                await self._call(recipient, self._edit_media, int(number), card, text)
            else:
                await self._call(recipient, self._edit, int(number), kind == "photo", text)
            return reply.receipt
        edits = 1 if number.isdigit() else 0  # the alert answered is edited first: the delivery's first step
        if edits and steps.done == 0:
            admin = self.is_admin(recipient)
            struck = f"<s>{telegram_html(reply.event, language, source=False, admin=admin)}</s>\n\n{text}"
            await steps.call()
            await self._call(recipient, self._edit, int(number), kind == "photo", struck)
            await steps.sent(None)  # kept: a retry of the answer (or of a piece of it) does not edit again
        answer = int(number) if number.isdigit() else None
        sent = await self.send_text(recipient, text, reply_to=answer, steps=steps, after=edits)
        return receipt(sent) or steps.receipt

    async def _edit_media(self, chat: int | str, message_id: int, photo: bytes, caption: str) -> None:
        """A photo message's picture and caption replaced (a daily report's newer version)."""
        media = InputMediaPhoto(photo, caption=caption[:CAPTION_LIMIT], parse_mode=ParseMode.HTML)
        try:
            await self.bot.edit_message_media(chat_id=chat, message_id=message_id, media=media)
        except BadRequest as exc:
            if "not modified" in exc.message.lower():  # a retry after the edit went through
                return
            raise

    async def _edit(self, chat: int | str, message_id: int, caption: bool, text: str) -> None:
        try:
            if caption:
                await self.bot.edit_message_caption(
                    chat_id=chat, message_id=message_id, caption=text[:CAPTION_LIMIT], parse_mode=ParseMode.HTML
                )
            else:
                await self.bot.edit_message_text(
                    chat_id=chat,
                    message_id=message_id,
                    text=text[: self.limits.max_length or 4096],
                    parse_mode=ParseMode.HTML,
                    link_preview_options=LinkPreviewOptions(is_disabled=True),
                )
        except BadRequest as exc:
            if "not modified" in exc.message.lower():  # a retry after the edit went through
                return
            if "message to edit not found" in exc.message.lower() or "can't be edited" in exc.message.lower():
                log.warning(
                    "%s: message %s could not be edited (%s); the retraction is sent alone",
                    chat,
                    message_id,
                    exc.message,
                )
                return
            raise

    async def send_text(
        self,
        recipient: str,
        text: str,
        photo: bytes | str | None = None,
        reply_to: int | None = None,
        steps: Steps | None = None,
        after: int = 0,
    ) -> Message | None:
        """Send HTML text (already escaped) in pieces of at most 4,096 characters, or a photo with it as caption.

        ``photo`` is the image's bytes or the file id of one sent before; the answer is the last message
        sent in this call (None if every piece went out before: ``steps``, where the pieces follow the
        delivery's ``after`` steps before them, an edit).
        """
        return await self._call(recipient, self._send_text, text, photo, reply_to, steps or Steps(), after)

    async def _send_text(
        self, chat: int | str, text: str, photo: bytes | str | None, reply_to: int | None, steps: Steps, after: int = 0
    ) -> Message | None:
        answer = ReplyParameters(reply_to, allow_sending_without_reply=True) if reply_to else None
        if photo is not None and len(text) <= CAPTION_LIMIT:
            await steps.call()
            return await self.bot.send_photo(
                chat_id=chat, photo=photo, caption=text, parse_mode=ParseMode.HTML, reply_parameters=answer, **self.paid
            )
        message = None
        pieces = split(text, self.limits.max_length or 4096)
        for number, piece in enumerate(pieces):
            if after + number < steps.done:  # went out in an earlier attempt
                continue
            await steps.call()
            message = await self.bot.send_message(
                chat_id=chat,
                text=piece,
                parse_mode=ParseMode.HTML,
                link_preview_options=LinkPreviewOptions(is_disabled=True),
                reply_parameters=answer,
                **self.paid,
            )
            await steps.sent(receipt(message), last=number == len(pieces) - 1)
        return message

    async def _call(self, recipient: str, action, *args, moved: bool = False):
        """One Bot API action for ``recipient``, its errors mapped onto the outbox's three answers.

        A group upgraded to a supergroup (``ChatMigrated``) is followed: its subscription moves to
        the new chat id and the action is done there."""
        chat: int | str = int(recipient) if recipient.lstrip("-").isdigit() else recipient
        try:
            if not self._ready:
                await self.start()
            return await action(chat, *args)
        except ChatMigrated as exc:
            return await self._migrated(recipient, exc.new_chat_id, action, *args, moved=moved)
        except TelegramError as exc:
            raise _outbox_error(exc) from None

    async def _migrated(self, recipient: str, new_chat_id: int, action, *args, moved: bool):
        """A group upgraded to a supergroup: its subscription follows it, and the action is done there."""
        if moved:
            raise Gone(f"Telegram: the group moved twice, now to chat {new_chat_id}") from None
        new = str(new_chat_id)
        log.warning("Telegram: group %s became supergroup %s; its subscription follows it", recipient, new)
        if any(c.chat == recipient for c in self.settings.channels):
            log.warning("[telegram] channels lists %s: change it to %s in the config", recipient, new)
        if self._context is not None:
            await self._context.in_store(self._context.store.move_subscriber, self.kind, recipient, new)
        return await self._call(new, action, *args, moved=True)


def _outbox_error(exc: TelegramError) -> Retry | Gone | Rejected:
    """A Bot API error as the outbox's answer: retry later, the recipient gone, or the message refused."""
    if isinstance(exc, RetryAfter):
        TELEGRAM_429.inc()
        wait = retry_seconds(exc)
        return Retry(f"Telegram flood control: retry after {wait:g} s", wait)
    if isinstance(exc, Forbidden):
        return Gone(f"Telegram: {exc.message}")
    if isinstance(exc, BadRequest):
        if "chat not found" in exc.message.lower() or "user is deactivated" in exc.message.lower():
            return Gone(f"Telegram: {exc.message}")
        return Rejected(f"Telegram refused the message: {exc.message}")
    if isinstance(exc, InvalidToken):
        return Retry("Telegram: the bot token was refused (check TALLYWATCH_TELEGRAM_TOKEN)")
    # TimedOut is a NetworkError; 5xx arrive as NetworkError. No answer at all: Telegram may have
    # taken the message (its follow-ups must still reach it)
    return Retry(f"Telegram: {type(exc).__name__}: {exc.message}", uncertain=isinstance(exc, TimedOut))
