"""Webhooks: one signed JSON POST per alert to each configured URL.

Schema (version 1), one object::

    {"version": 1, "event": "milestone:personnel:1000000", "rule": "milestone",
     "metric": "personnel", "as_of": "2025-06-12", "value": 1000340, "delta": 1140,
     "message": "personnel passed 1,000,000 — now 1,000,340 (+1,140 in a day)",
     "severity": "critical", "source": "mod-rss"}

Headers: ``X-Tallywatch-Signature: sha256=<hex HMAC-SHA256 of the raw body with the secret>``
(``TALLYWATCH_WEBHOOK_SECRET`` or the ``webhook_secret`` credential), ``X-Tallywatch-Event``
(the event key) and ``Idempotency-Key`` (event × webhook: the same on every retry). Anything
but a 2xx is a failure and is retried through the outbox, honouring ``Retry-After``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import TYPE_CHECKING

import httpx

from .. import secrets
from ..models import Event
from ..sources.http import retry_after_seconds, tls_context
from . import ChannelLimits, Recipient, Retry

if TYPE_CHECKING:
    from ..config import Webhook
    from ..store import Store

SCHEMA_VERSION = 1


def payload(event: Event) -> bytes:
    body = {
        "version": SCHEMA_VERSION,
        "event": event.key,
        "rule": event.rule,
        "metric": event.metric,
        "as_of": event.as_of.isoformat(),
        "value": event.value,
        "delta": event.data.get("delta"),
        "message": event.message,
        "severity": event.severity,
        "source": event.source,
    }
    return json.dumps(body, ensure_ascii=False, sort_keys=True).encode()


def signature(body: bytes, secret: str) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class WebhookChannel:
    kind = "webhook"
    limits = ChannelLimits(per_second=10, max_attempts=15, concurrency=2)

    def __init__(self, hooks: list[Webhook], user_agent: str) -> None:
        self.hooks = {h.name: h for h in hooks}
        self.user_agent = user_agent
        self._client: httpx.AsyncClient | None = None

    def is_group(self, recipient: str) -> bool:
        return False

    def quiet_until(self, recipient: str, event: Event, store: Store) -> None:
        return None  # (no quiet hours here)

    def recipients(self, event: Event, store: Store) -> list[Recipient]:
        if event.rule in ("digest", "broadcast"):
            return []
        return [Recipient(h.name) for h in self.hooks.values() if not h.rules or event.rule in h.rules]

    async def send(self, event: Event, recipient: str, language: str = "en", reply=None, steps=None) -> None:
        hook = self.hooks.get(recipient)
        if hook is None:
            raise Retry(f"no webhook named {recipient} in the config")
        body = payload(event)
        headers = {
            "Content-Type": "application/json",
            "User-Agent": self.user_agent,
            "X-Tallywatch-Event": event.key,
            "Idempotency-Key": f"{event.key}|{hook.name}",
        }
        secret = secrets.secret("webhook_secret")
        if secret:
            headers["X-Tallywatch-Signature"] = signature(body, secret)
        self._client = self._client or httpx.AsyncClient(verify=tls_context())
        try:
            response = await self._client.post(hook.url, content=body, headers=headers, timeout=hook.timeout)
        except httpx.HTTPError as exc:
            raise Retry(f"webhook {hook.name}: {type(exc).__name__}: {exc}") from None
        if not 200 <= response.status_code < 300:
            wait = retry_after_seconds(response.headers.get("Retry-After"))
            raise Retry(f"webhook {hook.name}: HTTP {response.status_code}", wait)

    async def stop(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None
