"""Webhooks to a real local receiver: the signature checks out, a 500 is retried, nothing twice."""

import asyncio
import datetime as dt
import hashlib
import hmac
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from tally import drain_pipeline

from tallywatch.config import Config
from tallywatch.ingest import Item, ingest
from tallywatch.models import Figure
from tallywatch.pipeline import Pipeline

SECRET = "s3cret-for-the-webhook-test"
D = dt.date


class Receiver:
    """An HTTP endpoint that verifies the signature the way docs/email.md tells receivers to."""

    def __init__(self, failures: int = 0):
        self.received, self.failures = [], failures
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
                valid = hmac.compare_digest(expected, self.headers.get("X-Tallywatch-Signature", ""))
                status = 500 if outer.failures > 0 else (200 if valid else 401)
                outer.failures -= 1
                outer.received.append((status, dict(self.headers), json.loads(body)))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"


@pytest.fixture
def secret(monkeypatch):
    monkeypatch.setenv("TALLYWATCH_WEBHOOK_SECRET", SECRET)


def run(tmp_path, receiver):
    cfg = Config.from_dict(
        {
            "storage": {"path": str(tmp_path / "hook.db")},
            "detect": {"baseline": False},
            "backfill": {"enabled": False},
            "console": {"enabled": False},
            "milestones": {"personnel": {"step": 100_000}},
            "webhooks": [{"name": "newsroom", "url": receiver.url, "rules": ["milestone"]}],
            "outbox": {"retry_base": "0.1s", "retry_max": "0.2s"},
        }
    )

    async def go():
        pipeline = Pipeline(cfg)
        try:
            for day, value, printed in [(D(2025, 6, 11), 999_200, 1_100), (D(2025, 6, 12), 1_000_340, 1_140)]:
                item = Item(
                    str(day), str(day), [Figure(metric="personnel", as_of=day, value=value, reported_delta=printed)]
                )
                await pipeline.in_store(ingest, pipeline.store, pipeline.detector, pipeline.channels, "mod-rss", [item])
            return await drain_pipeline(pipeline)
        finally:
            for c in pipeline.channels:
                await c.stop()
            await pipeline.aclose()

    return asyncio.run(go())


def test_signed_payload_as_documented(tmp_path, secret):
    receiver = Receiver()
    counts = run(tmp_path, receiver)
    assert counts["sent"] == 1
    ((status, headers, body),) = receiver.received
    assert status == 200  # the receiver's signature check passed
    assert body == {
        "version": 1,
        "event": "milestone:personnel:1000000",
        "rule": "milestone",
        "metric": "personnel",
        "as_of": "2025-06-12",
        "value": 1_000_340,
        "delta": 1_140,
        "message": "personnel passed 1,000,000 — now 1,000,340 (+1,140 in a day)",
        "severity": "critical",
        "source": "mod-rss",
    }
    assert headers["X-Tallywatch-Event"] == "milestone:personnel:1000000"
    assert headers["Idempotency-Key"] == "milestone:personnel:1000000|newsroom"


def test_a_500_is_retried_then_delivered_once(tmp_path, secret):
    receiver = Receiver(failures=2)
    counts = run(tmp_path, receiver)
    assert [status for status, _, _ in receiver.received] == [500, 500, 200]
    assert counts["sent"] == 1 and counts["retrying"] == 0
    assert len({h["Idempotency-Key"] for _, h, _ in receiver.received}) == 1  # the same key on every try
