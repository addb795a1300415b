"""The web app over real data, for the web tests: a database the real ingest filled with June 2025
from the bundled General Staff series, and the app serving it on 127.0.0.1."""

import asyncio
import datetime as dt
from collections.abc import Callable

import httpx
from tally import Tally
from test_daily_report import day_item
from test_email import free_port

from tallywatch.config import Config
from tallywatch.history import between
from tallywatch.pipeline import Pipeline
from tallywatch.replay import baseline, seed
from tallywatch.web.app import Site, build
from tallywatch.web.server import WebServer

D = dt.date
FIRST, LAST = D(2025, 6, 1), D(2025, 6, 13)


def bundled(metric: str, day: dt.date) -> int:
    return next(f.value for f in between(day, day)[day] if f.metric == metric)


def june_database(tmp_path, **more: dict) -> Config:
    """A database filled by the real ingest with June 2025 from the bundled series, and its config
    (``more``: tables to add to it)."""
    cfg = Config.from_dict(
        {
            "storage": {"path": str(tmp_path / "d.db")},
            "milestones": {"personnel": {"step": 100_000}},
            "console": {"enabled": False},
            "backfill": {"enabled": False},
            "web": {"port": free_port(), "public_url": "https://losses.example.org"},
            **more,
        }
    )
    tally = Tally(cfg.storage.resolved(), cfg, [])
    seed(tally.store, tally.detector, FIRST - dt.timedelta(days=1))
    day = FIRST
    while day <= LAST:
        tally.feed("mod", day_item(day))
        day += dt.timedelta(days=1)
    tally.close()
    return cfg


def fresh_install(tmp_path) -> Config:
    """A first start's database: the whole bundled history, stored quietly, and no report read yet."""
    cfg = Config.from_dict(
        {
            "storage": {"path": str(tmp_path / "fresh.db")},
            "console": {"enabled": False},
            "web": {"port": free_port(), "public_url": "https://losses.example.org"},
        }
    )
    tally = Tally(cfg.storage.resolved(), cfg, [])
    baseline(tally.store, tally.detector)
    tally.close()
    return cfg


def serve(cfg: Config, steps, today: dt.date | Callable[[], dt.date] | None = None):
    """The web app serving a pipeline on that database: ``steps(client, pipeline)``; ``today``: the
    page's day (Kyiv), or its clock; else the real one."""

    async def go():
        pipeline = Pipeline(cfg)
        site = Site(lambda: pipeline, cfg)
        app = build(site)
        if today is not None:
            app.state.today = today if callable(today) else lambda: today
        server = WebServer(app, "127.0.0.1", cfg.web.port)
        site.server = server
        await server.start()
        try:
            async with httpx.AsyncClient(base_url=server.address) as client:
                return await steps(client, pipeline)
        finally:
            await server.stop()
            await pipeline.aclose()

    return asyncio.run(go())
