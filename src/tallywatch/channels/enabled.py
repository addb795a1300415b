"""Which channels a configuration turns on: the console, Telegram when a token is set, email,
webhooks. Kept apart from ``channels/__init__`` (the types every channel builds on), so no
channel module depends on the others."""

from __future__ import annotations

from ..config import Config
from . import Channel


def enabled_channels(config: Config) -> list[Channel]:
    from .. import secrets
    from .console import ConsoleChannel

    channels: list[Channel] = []
    if config.console.enabled:
        channels.append(ConsoleChannel())
    token = secrets.secret("telegram_token")
    if token:
        from .telegram import TelegramChannel

        channels.append(TelegramChannel(token, config.telegram))
    if config.email.enabled:
        from .email import EmailChannel

        channels.append(EmailChannel(config.email))
    if config.webhooks:
        from .webhook import WebhookChannel

        channels.append(WebhookChannel(config.webhooks, config.http.user_agent))
    return channels
