"""Health and metrics: ``/healthz`` and ``/metrics`` on a small HTTP server bound to 127.0.0.1.

The event loop refreshes a snapshot every second (a heartbeat) and every few seconds reads the
sources' state from the store; the HTTP thread only reads that snapshot, never the database.
``/healthz`` answers 200 while the loop is alive and every source's last successful poll is
recent enough (``allowance`` × its interval), 503 with the reasons otherwise. ``/metrics`` is
Prometheus text from prometheus-client (its own registry, nothing global).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.core import GaugeMetricFamily

log = logging.getLogger("tallywatch.health")

REGISTRY = CollectorRegistry(auto_describe=True)
POLLS = Counter("tallywatch_polls", "Polls per source and outcome", ["source", "outcome"], registry=REGISTRY)
FIGURES = Counter("tallywatch_figures_stored", "Figures stored (new or revised)", registry=REGISTRY)
REPORTS = Counter(
    "tallywatch_reports_read",
    "Report documents read, by source and how much of each: complete, partial or unread",
    ["source", "coverage"],
    registry=REGISTRY,
)
EVENTS = Counter("tallywatch_events", "Events stored, by rule", ["rule"], registry=REGISTRY)
DELIVERIES = Counter(
    "tallywatch_deliveries", "Delivery attempts by channel and outcome", ["channel", "outcome"], registry=REGISTRY
)
TELEGRAM_429 = Counter("tallywatch_telegram_429", "Telegram flood-control answers (429) received", registry=REGISTRY)
STORAGE_ERRORS = Counter(
    "tallywatch_storage_errors",
    "Writes to the database that failed, by kind: full, read-only, I/O error, other",
    ["kind"],
    registry=REGISTRY,
)
OUTBOX = Gauge("tallywatch_outbox_depth", "Deliveries waiting (pending, retrying or being sent)", registry=REGISTRY)


@dataclass
class Snapshot:
    heartbeat: float = 0.0  # monotonic time of the loop's last tick
    started: float = field(default_factory=time.monotonic)
    sources: dict[str, tuple[float | None, float]] = field(
        default_factory=dict
    )  # name → (last success age s, allowance s)
    storage: str | None = None  # the database can't be written: why

    def problems(self, now: float) -> list[str]:
        out = []
        if now - self.heartbeat > 10:
            out.append(f"event loop silent for {now - self.heartbeat:.0f} s")
        if self.storage:
            out.append(f"storage: {self.storage}")
        for name, (age, allowance) in sorted(self.sources.items()):
            since_start = now - self.started
            if age is None and since_start > allowance:
                out.append(f"source {name}: no successful poll in {since_start:.0f} s (allowance {allowance:.0f} s)")
            elif age is not None and age > allowance:
                out.append(f"source {name}: last success {age:.0f} s ago (allowance {allowance:.0f} s)")
        return out


class HealthServer:
    def __init__(self, host: str, port: int) -> None:
        self.snapshot = Snapshot()
        health = self
        REGISTRY_SOURCES.set(self)

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path == "/healthz":
                    problems = health.snapshot.problems(time.monotonic())
                    code, body = (503, "\n".join(problems) + "\n") if problems else (200, "ok\n")
                    self._answer(code, body.encode(), "text/plain; charset=utf-8")
                elif self.path == "/metrics":
                    self._answer(200, generate_latest(REGISTRY), "text/plain; version=0.0.4; charset=utf-8")
                else:
                    self._answer(404, b"not found\n", "text/plain")

            def _answer(self, code: int, body: bytes, kind: str) -> None:
                self.send_response(code)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer((host, port), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, name="tallywatch-health", daemon=True)

    @property
    def address(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> None:
        self.thread.start()
        log.info("health and metrics at %s/healthz and %s/metrics", self.address, self.address)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class _SourceAges:
    """Collects the last-success age per source from the live health server's snapshot."""

    def __init__(self) -> None:
        self.health: HealthServer | None = None
        REGISTRY.register(self)

    def set(self, health: HealthServer) -> None:
        self.health = health

    def collect(self):
        family = GaugeMetricFamily(
            "tallywatch_source_last_success_age_seconds",
            "Seconds since the source's last successful poll",
            labels=["source"],
        )
        if self.health is not None:
            for name, (age, _allowance) in self.health.snapshot.sources.items():
                if age is not None:
                    family.add_metric([name], age)
        yield family


REGISTRY_SOURCES = _SourceAges()
