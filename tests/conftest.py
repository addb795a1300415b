import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))  # tests import the shared fixture tables

import pytest


@pytest.fixture(autouse=True)
def events_keep_their_shape(monkeypatch):
    """Every event any test stores carries the data its rule's shape allows (``models.EVENT_DATA``):
    a key misspelt or of the wrong type (an id where a key was expected) fails the test that made it."""
    from tallywatch.models import check_data
    from tallywatch.store import Store

    add_event = Store.add_event

    def checked(self, event, source, notify):
        problems = check_data(event.rule, event.data)
        assert not problems, f"{event.key}: {'; '.join(problems)}"
        return add_event(self, event, source, notify)

    monkeypatch.setattr(Store, "add_event", checked)


@pytest.fixture
def feed_server():
    from feeds import FeedServer

    with FeedServer() as server:
        yield server


@pytest.fixture
def fake():
    """The fake Telegram Bot API on 127.0.0.1 (``fake_telegram.py``), one for each test."""
    from fake_telegram import FakeTelegram

    with FakeTelegram() as server:
        yield server


@pytest.fixture
def smtp():
    """A real SMTP server (aiosmtpd) on 127.0.0.1: (its controller, the Sink of what it received)."""
    from aiosmtpd.controller import Controller
    from test_email import Sink, free_port

    sink = Sink()
    controller = Controller(sink, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield controller, sink
    controller.stop()


@pytest.fixture
def drawings(monkeypatch):
    """What the drawing process was asked for, as (function, arguments), seen from the daemon's side."""
    from tallywatch import charts

    asked = []
    real = charts.Drawer.__call__

    async def drawing(drawer, draw, *args):
        asked.append((draw, args))
        return await real(drawer, draw, *args)

    monkeypatch.setattr(charts.Drawer, "__call__", drawing)
    return asked
