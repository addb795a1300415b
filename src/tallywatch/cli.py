"""Entry points only: parse arguments, load the config, call one function."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import logging
import os
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from zoneinfo import ZoneInfo

from . import __version__, config, i18n, secrets
from .channels.render import line
from .extract.dates import iso_day
from .format import format_delta, format_duration, format_moment, format_number, iso_moment
from .sources import health, schedule

log = logging.getLogger("tallywatch")


def setup_logging(level: str) -> None:
    # under journald (JOURNAL_STREAM set) the journal adds its own timestamps
    stamp = "" if os.environ.get("JOURNAL_STREAM") else "%(asctime)s "
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(secrets.RedactingFormatter(stamp + "%(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=level.upper(), handlers=[handler])
    for name in ("httpx", "httpcore", "apscheduler"):
        logging.getLogger(name).setLevel(max(logging.WARNING, logging.getLogger().level))
    # "job skipped: maximum number of running instances reached" is by design (a slow poll is not
    # run twice at once); the executor still logs a failing job at ERROR
    logging.getLogger("apscheduler.scheduler").setLevel(logging.ERROR)


def command(sub, common: argparse.ArgumentParser, name: str, func, **texts: str) -> argparse.ArgumentParser:
    """One command's parser: the common options, its help texts, and the function it runs."""
    parser = sub.add_parser(name, parents=[common], **texts)
    parser.set_defaults(func=func)
    return parser


def _date(text: str) -> dt.date:
    try:
        return iso_day(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date like 2025-06-12, got {text!r}") from None


def cmd_config_check(cfg: config.Config, origin: str, args: argparse.Namespace) -> int:
    data = _masked(cfg.to_dict())  # a token or password inside any URL, not only sources'
    data["storage"]["path"] = str(cfg.storage.resolved())
    data["secrets"] = {}
    for name in secrets.KNOWN:
        value, where = secrets.lookup(name)
        data["secrets"][name] = f"{secrets.mask(value)} ({where})" if value else where
    print(f"# {origin}: valid", file=sys.stderr)
    for said in cfg.provenance():  # "sources: 6, built in": what a file left out is not lost
        print(f"# {said}", file=sys.stderr)
    print(json.dumps(data, indent=2, ensure_ascii=False))
    return 0


def config_arguments(sub, common: argparse.ArgumentParser) -> None:
    cfg = sub.add_parser(
        "config", parents=[common], help="configuration commands", description="Configuration commands."
    )
    cfg_sub = cfg.add_subparsers(dest="config_command", required=True, metavar="SUBCOMMAND")
    check = cfg_sub.add_parser(
        "check",
        parents=[common],
        help="validate the config and print the effective settings (secrets masked)",
        description="Validate the config and print the effective settings as JSON, secrets masked.",
    )
    check.set_defaults(func=cmd_config_check)


def _masked(data, known: list[str] | None = None):
    """Every string of the settings with secrets hidden (``secrets.redact``; the secrets set are
    looked up once, not once per string)."""
    known = secrets.values() if known is None else known
    if isinstance(data, dict):
        return {key: _masked(value, known) for key, value in data.items()}
    if isinstance(data, list):
        return [_masked(value, known) for value in data]
    return secrets.redact(data, known) if isinstance(data, str) else data


def _pipeline(cfg: config.Config):
    from .pipeline import Pipeline

    return Pipeline(cfg)


def cmd_poll(cfg: config.Config, origin: str, args: argparse.Namespace) -> int:
    async def once() -> list:
        pipeline = _pipeline(cfg)
        try:
            await pipeline.prepare()
            await pipeline.filled()  # (with no source to poll, the start's fill is all it does)
            return await pipeline.poll_all(force=args.force)
        finally:
            await pipeline.aclose()

    results = asyncio.run(once())
    for r in results:
        extra = (
            r.error or f"{r.documents} items, {r.ingested.count('new')} new figures, {len(r.ingested.events)} events"
        )
        print(f"# {r.source}: {r.status} — {secrets.redact(extra)}", file=sys.stderr)  # a server's words
    attempted = [r for r in results if r.status != "skipped"]
    if attempted and all(r.status == "failed" for r in attempted):
        print("tallywatch poll: every source failed", file=sys.stderr)
        return 1
    return 0


def poll_arguments(sub, common: argparse.ArgumentParser) -> None:
    poll = command(
        sub,
        common,
        "poll",
        cmd_poll,
        help="poll every source once, store, detect, alert, then exit",
        description="Poll every enabled source once through the whole pipeline, then exit. "
        "Exits 1 if every source that was tried failed.",
    )
    poll.add_argument("--force", action="store_true", help="poll sources that are backing off after failures too")


def cmd_run(cfg: config.Config, origin: str, args: argparse.Namespace) -> int:
    from . import daemon

    log.info("config: %s", origin)
    asyncio.run(daemon.run(cfg, reload=lambda: config.load(args.config)[0]))
    return 0


def run_arguments(sub, common: argparse.ArgumentParser) -> None:
    command(
        sub,
        common,
        "run",
        cmd_run,
        help="run the daemon: poll each source on its interval until stopped",
        description="Run the daemon: each source is polled at its interval (with jitter) until SIGINT or SIGTERM.",
    )


def _open_store(cfg: config.Config, command: str):
    from .store import Store

    path = cfg.storage.resolved()
    if not path.exists():
        print(f"tallywatch {command}: no database at {path} yet; run `tallywatch poll` first", file=sys.stderr)
        return None
    return Store(path)


def cmd_status(cfg: config.Config, origin: str, args: argparse.Namespace) -> int:
    store = _open_store(cfg, "status")
    if store is None:
        return 1
    zone = admin_zone(cfg)
    try:
        rows = store.latest()
        sources = store.source_states()
        times = store.report_times(dt.datetime.now(dt.UTC) - dt.timedelta(days=schedule.LOOKBACK + 1))
        held = _held(cfg, store, zone)
    finally:
        store.close()
    if args.json:
        out = [
            {"metric": r.metric, "as_of": r.as_of.isoformat(), "value": r.value, "delta": r.delta, "source": r.source}
            | {"held": held.get(r.metric)}
            for r in rows
        ]
        out += [
            {"metric": m, "as_of": None, "value": None, "delta": None, "source": None, "held": h}
            for m, h in held.items()
            if m not in {r.metric for r in rows}
        ]
        print(json.dumps(out, indent=2))
        return 0
    table = [("metric", "as of", "value", "change", "source")]
    table += [
        (
            r.metric,
            r.as_of.isoformat(),
            format_number(r.value),
            "" if r.delta is None else format_delta(r.delta),
            r.source,
        )
        for r in rows
    ]
    widths = [max(len(row[i]) for row in table) for i in range(5)]
    for row in table:
        cells = [
            row[0].ljust(widths[0]),
            row[1].ljust(widths[1]),
            row[2].rjust(widths[2]),
            row[3].rjust(widths[3]),
            row[4],
        ]
        print("  ".join(cells).rstrip())
    if held:
        print("\nheld back until the next report or a second source confirms it:")
        width = max(len(metric) for metric in held)
        for metric, h in held.items():
            print(
                f"{metric:<{width}}  {h['as_of']}  {format_number(h['value'])}  from {h['source']},"
                f" since {format_moment(h['since'], zone)}: {h['why']}"
            )
    print()
    for h in health.read_all(cfg, sources, times=times):  # the next poll as the daemon's trigger plans it
        last = format_moment(h.last_success, zone) if h.last_success else "never"
        notice = f"{h.notice}; " if h.notice else ""
        print(f"source {h.name}: {h.summary}; {notice}last success {last}; next poll {h.next_poll}")
    return 0


def admin_zone(cfg: config.Config) -> ZoneInfo:
    """The zone every moment the commands show is in, with its offset: ``[email] timezone``
    (Europe/Kyiv unless changed), the zone the admin already writes the digests' times in."""
    return ZoneInfo(cfg.email.timezone)


def _held(cfg: config.Config, store, zone: ZoneInfo) -> dict[str, dict]:
    """Per metric, its figure held as suspect: day, value, source, since when (``zone``) and why."""
    from .detect import Detector

    rows = store.held_figures()
    if not rows:
        return {}
    detector = Detector(cfg, store)  # reads the series only: why each waits, as the rules judged it
    return {
        r["metric"]: {
            "as_of": r["as_of"],
            "value": r["value"],
            "source": r["source"],
            "since": iso_moment(r["since"], zone),
            "why": detector.why_held(r["metric"]),
        }
        for r in rows
    }


def status_arguments(sub, common: argparse.ArgumentParser) -> None:
    status = command(
        sub,
        common,
        "status",
        cmd_status,
        help="latest value, daily change and date per metric",
        description="Show the latest stored value, its daily change, date and source for every metric.",
    )
    status.add_argument("--json", action="store_true", help="one JSON object per metric")


COVERAGE_DAYS = 30  # `tallywatch sources` counts the report documents read in this many days


def cmd_sources(cfg: config.Config, origin: str, args: argparse.Namespace) -> int:
    if args.action == "test":
        return _test_source(cfg, args)
    from .store import Store, utcnow

    path = cfg.storage.resolved()
    rows: list[dict] = []
    coverage: dict[str, dict[str, int]] = {}
    times: dict[str, list[dt.datetime]] = {}
    if path.exists():
        store = Store(path)
        try:
            rows = store.source_states()
            coverage = store.coverage(utcnow() - dt.timedelta(days=COVERAGE_DAYS))
            times = store.report_times(utcnow() - dt.timedelta(days=schedule.LOOKBACK + 1))
        finally:
            store.close()
    sources = health.read_all(cfg, rows, coverage, times=times)
    if args.json:
        print(json.dumps([h.as_dict() for h in sources], indent=2, ensure_ascii=False))
        return 0
    if not sources:
        print(f"no sources in {origin}")
        return 0
    for h in sources:
        print(f"{h.name}  ({h.kind}, priority {h.priority})  {h.summary}")
        print(f"    last success {h.last_success or 'never'} · last new report {h.last_new_report or 'never'}")
        print(f"    next poll {h.next_poll}")
        if h.window:
            print(f"    reports appear {h.window}")
        read = h.reports
        if any(read.values()):
            print(
                f"    reports in {COVERAGE_DAYS} days: {read['complete']} read completely, {read['partial']} partly,"
                f" {read['unread']} not at all"
            )
        if h.last_error:
            print(f"    last error: {h.last_error}")
        if h.notice:
            print(f"    notice: {h.notice} ({h.silent_from})")
    return 0


def sources_arguments(sub, common: argparse.ArgumentParser) -> None:
    srcs = command(
        sub,
        common,
        "sources",
        cmd_sources,
        help="each source's health; `sources test NAME` fetches one and shows what it extracts",
        description="List the configured sources with their health (last success, last new report, failures "
        "in a row, last error, next poll). `tallywatch sources test NAME` fetches one source once and prints "
        "what it extracted, storing nothing: the tool for writing a new source.",
    )
    srcs.add_argument("action", nargs="?", choices=["list", "test"], default="list", help="default: list")
    srcs.add_argument("name", nargs="?", help="the source to test")
    srcs.add_argument("--json", action="store_true", help="JSON output (list)")


def _test_source(cfg: config.Config, args: argparse.Namespace) -> int:
    from .ingest import page_problems, try_source
    from .sources.http import FetchError

    if not args.name:
        print("tallywatch sources test: name the source to test", file=sys.stderr)
        return 2
    try:
        source = cfg.source(args.name)
    except KeyError:
        known = ", ".join(s.name for s in cfg.sources) or "none"
        print(f"tallywatch sources test: no source named {args.name!r} (configured: {known})", file=sys.stderr)
        return 2
    try:
        requests, documents, items = asyncio.run(try_source(cfg, source))
    except FetchError as exc:
        print(f"tallywatch sources test {source.name}: {secrets.redact(str(exc))}", file=sys.stderr)
        return 1
    figures = sum(len(item.figures) for item in items)
    print(f"# {source.name}: {requests} requests, {len(documents)} items, {figures} figures (nothing stored)")
    for document, item in zip(documents, items, strict=True):
        when = document.published.isoformat(timespec="minutes") if document.published else "no date"
        if document.dated and not document.published:  # a dated page: the day, no time of publication
            when = f"{document.dated}, no time given"
        first = next((line for line in document.text.splitlines() if line.strip()), "")
        print(f"\n{document.guid}  {when}\n  {document.title or first[:100]}")
        for f in item.figures:
            delta = "" if f.reported_delta is None else f"  ({format_delta(f.reported_delta)})"
            print(f"  {f.metric:<20} {f.as_of}  {format_number(f.value):>12}{delta}")
        print(f"  verdict: {_verdict(item)}")
    problems = page_problems(documents, items) if source.kind == "html" else []
    problems += [f"broken report in {item.guid}" for item in items if item.verdict == "broken"]
    for problem in problems:
        print(f"tallywatch sources test {source.name}: {problem}", file=sys.stderr)
    return 1 if problems else 0


_READ = {"complete": "read completely", "partial": "read partly", "unread": "not read at all"}


def _verdict(item) -> str:
    """What `sources test` says of one document: a report (how much of it was read), a broken one,
    or not a report — whose figures, if any, are the pattern metrics'."""
    problems = f": {'; '.join(item.problems)}" if item.problems else ""
    if item.verdict == "broken":
        return f"a broken report, {_READ.get(item.coverage, 'not read at all')}{problems}"
    if item.verdict == "report":
        return f"a report, {_READ.get(item.coverage, 'read completely')}{problems}"
    return "not a report; the figures are the pattern metrics'" if item.figures else "not a report (no figures)"


def _rule(text: str) -> str:
    from .models import RULES

    if text not in RULES:
        raise argparse.ArgumentTypeError(f"no rule named {text!r}{config._did_you_mean(text, RULES)}")
    return text


def _fit(line: str, width: int) -> str:
    """One line of a table within ``width`` characters: a longer one ends in an ellipsis."""
    return line if len(line) <= width else line[: max(width - 1, 0)] + "…"


def cmd_events(cfg: config.Config, origin: str, args: argparse.Namespace) -> int:
    from .extract.genstaff import METRICS

    store = _open_store(cfg, "events")
    if store is None:
        return 1
    try:
        known = {*METRICS, *cfg.metrics, *store.event_metrics()}
        if args.metric is not None and args.metric not in known:
            hint = config._did_you_mean(args.metric, known)
            print(f"tallywatch events: no metric named {args.metric!r}{hint}", file=sys.stderr)
            return 2
        rows = store.events_about(since=args.since, rule=args.rule, metric=args.metric)
    finally:
        store.close()
    zone = admin_zone(cfg)
    fields = ("rule", "metric", "as_of", "value", "message", "severity", "source")
    for r in rows:  # a retracted event's key was freed (renamed); it is shown as it was, marked
        r["key"] = r["key"].split("~retracted:")[0]
    if args.json:
        print(
            json.dumps(
                [
                    {"key": r["key"]}
                    | {k: r[k] for k in fields}
                    | {"notified": bool(r["notify"]), "retracted": r["retracted_at"] is not None}
                    | {
                        "stored_at": iso_moment(r["created_at"], zone),
                        "retracted_at": iso_moment(r["retracted_at"], zone),
                    }
                    for r in rows
                ],
                indent=2,
                ensure_ascii=False,
            )
        )
        return 0
    width = shutil.get_terminal_size((120, 24)).columns
    for r in rows:
        quiet = "" if r["notify"] else "(recorded quietly) "
        taken = f"(retracted {format_moment(r['retracted_at'], zone)}) " if r["retracted_at"] else ""
        print(_fit(f"{r['as_of']}  {r['key']:<36}  {quiet}{taken}{r['message']}", width))
    return 0


def events_arguments(sub, common: argparse.ArgumentParser) -> None:
    events = command(
        sub,
        common,
        "events",
        cmd_events,
        help="list stored events, by day, rule or metric",
        description="List stored events: day, key and message, a line each (a long message cut to the "
        "terminal's width; --json gives it whole, with the rule, metric, value, and when it was stored).",
    )
    events.add_argument("--since", type=_date, metavar="DATE", help="only events of this day and later")
    events.add_argument("--rule", type=_rule, metavar="RULE", help="only this rule's events (milestone, spike, …)")
    events.add_argument("--metric", metavar="METRIC", help="only events about this metric")
    events.add_argument("--json", action="store_true", help="JSON output")


def _fate(row: dict, now: dt.datetime, zone: ZoneInfo) -> tuple[str, str]:
    """What became of a delivery, in a word and in words: sent (when, which message), or why not."""
    state, why = _ended(row, zone) if row["status"] != "pending" else _waiting(row, now, zone)
    if row["status"] == "pending" and row["maybe_sent"]:
        why += "; may have arrived already (a send was cut off before its answer came)"
    return state, why


def _gone_since(row: dict) -> str:
    return f"the subscription ended after it was queued: {row['left_because'] or 'no reason kept'}"


def _ended(row: dict, zone: ZoneInfo) -> tuple[str, str]:
    """A delivery no longer queued: sent, dropped, given up, or being sent."""
    from .store import UNSUBSCRIBED

    error = secrets.redact(row["last_error"] or "")
    status, tries = row["status"], row["attempts"]
    if status == "sent":
        receipt = row["receipt"] or ""
        message = f", message {receipt.partition(':')[2] or receipt}" if receipt else ""
        return "sent", f"{format_moment(row['sent_at'], zone)}{message}"
    if status == "dropped":
        return ("unsubscribed", _gone_since(row)) if row["last_error"] == UNSUBSCRIBED else ("dropped", error)
    if status == "dead" and row["subscribed"] == 0:
        left = row["left_because"] or ""
        return "gone", error if left in ("", error) else f"{error} ({left})"
    if status == "dead":
        return "dead", f"gave up after {tries} attempt{'' if tries == 1 else 's'}: {error}"
    return "sending", f"being sent since {format_moment(row['claimed_at'], zone)}" if row["claimed_at"] else ""


def _waiting(row: dict, now: dt.datetime, zone: ZoneInfo) -> tuple[str, str]:
    """A delivery still queued: why it has not gone yet."""
    error = secrets.redact(row["last_error"] or "")
    tries = row["attempts"]
    due = dt.datetime.fromisoformat(row["next_attempt_at"])
    if row["subscribed"] == 0:
        return "unsubscribed", _gone_since(row)
    if due > now and tries:
        return "retrying", f"attempt {tries + 1} not before {format_moment(due, zone)}; last error: {error}"
    if due > now:
        return "deferred", f"quiet hours, until {format_moment(due, zone)}"
    if row["waits_for"]:
        return "held", f"waiting for #{row['waits_for']} ({row['waits_for_event']}) to go first"
    return (
        ("retrying", f"attempt {tries + 1} now; last error: {error}") if tries else ("due", "goes with the next round")
    )


def cmd_deliveries(cfg: config.Config, origin: str, args: argparse.Namespace) -> int:
    store = _open_store(cfg, "deliveries")
    if store is None:
        return 1
    try:
        keys = store.event_keys() if args.event is not None else []
        rows = store.traced(event=args.event, recipient=args.to)
    finally:
        store.close()
    if args.event is not None and args.event not in keys:
        hint = config._did_you_mean(args.event, keys)
        print(f"tallywatch deliveries: no event with the key {args.event!r}{hint}", file=sys.stderr)
        return 1
    if not rows:
        what = " ".join(
            part for part in (f"of {args.event}" if args.event else "", f"to {args.to}" if args.to else "") if part
        )
        print(f"tallywatch deliveries: no deliveries {what}".rstrip(), file=sys.stderr)
        return 1
    zone, now = admin_zone(cfg), dt.datetime.now(dt.UTC)
    out = []
    for r in rows:
        state, why = _fate(r, now, zone)
        event = r["event"].split("~retracted:")[0]
        taken = " (taken back)" if r["retracted_at"] else " (replaced)" if r["superseded_by"] else ""
        out.append(
            {
                "id": r["id"],
                "event": event + taken,
                "rule": r["rule"],
                "channel": r["channel"],
                "recipient": r["recipient"],
                "language": r["language"],
                "status": state,
                "why": why,
                "queued_at": iso_moment(r["created_at"], zone),
                "sent_at": iso_moment(r["sent_at"], zone),
                "message_id": (r["receipt"] or "").partition(":")[2] or r["receipt"],
                "next_attempt_at": iso_moment(r["next_attempt_at"], zone) if r["status"] == "pending" else None,
                "attempts": r["attempts"],
                "last_error": secrets.redact(r["last_error"] or "") or None,
                "maybe_sent": bool(r["maybe_sent"]),
                "answers": r["reply_to"],
                "waits_for": r["waits_for"],
            }
        )
    if args.json:
        print(json.dumps(out, indent=2, ensure_ascii=False))
        return 0
    widths = {k: max(len(str(row[k])) for row in out) for k in ("id", "event", "channel", "recipient")}
    for row in out:
        print(
            f"{'#' + str(row['id']):<{widths['id'] + 1}}  {row['event']:<{widths['event']}}  "
            f"{row['channel']:<{widths['channel']}}  {row['recipient']:<{widths['recipient']}}  "
            f"{row['status']}{' ' if row['status'] == 'sent' else ': '}{row['why']}".rstrip(": ")
        )
    return 0


def deliveries_arguments(sub, common: argparse.ArgumentParser) -> None:
    trace = command(
        sub,
        common,
        "deliveries",
        cmd_deliveries,
        help="trace an alert: each reader's copy, sent (when, which message) or why not",
        description="Each delivery of the events and to the recipients asked for, oldest first: channel, "
        "recipient, and what became of it — sent (when, and the message id Telegram gave it), or why not: "
        "deferred by quiet hours (until when), held (waiting for an earlier delivery to the same reader), "
        "dropped (its alert taken back or replaced before it went out), gone or unsubscribed, dead (the last "
        "error), retrying, or may have arrived (a send cut off). Times in [email] timezone, with the offset.",
    )
    trace.add_argument(
        "--event", metavar="KEY", help="one event's deliveries (its key, as `tallywatch events` shows it)"
    )
    trace.add_argument("--to", metavar="RECIPIENT", help="one recipient's deliveries (a chat id, @channel or address)")
    trace.add_argument("--json", action="store_true", help="JSON output")


def cmd_outbox(cfg: config.Config, origin: str, args: argparse.Namespace) -> int:
    store = _open_store(cfg, "outbox")
    if store is None:
        return 1
    try:
        if args.action == "retry":
            stuck = store.release(older_than=dt.timedelta(seconds=args.stuck_after))
            print(f"{store.requeue_dead()} dead deliveries queued again")
            print(f"{stuck} deliveries left 'sending' for over {format_duration(args.stuck_after)} queued again")
            return 0
        counts = store.outbox_counts()
        rows = [{**r, "last_error": secrets.redact(r["last_error"] or "") or None} for r in store.outbox_rows()]
    finally:
        store.close()
    if args.json:
        print(json.dumps({"counts": counts, "deliveries": rows}, indent=2, ensure_ascii=False))
        return 0
    print("  ".join(f"{name} {n:,}" for name, n in counts.items()))
    for r in rows:
        state = "retrying" if r["status"] == "pending" and r["attempts"] else r["status"]
        error = f"  — {r['last_error']}" if r["last_error"] else ""
        print(f"{state:<9} {r['channel']:<9} {r['recipient']:<16} {r['key']}  next {r['next_attempt_at']}{error}")
    return 0


def outbox_arguments(sub, common: argparse.ArgumentParser) -> None:
    box = command(
        sub,
        common,
        "outbox",
        cmd_outbox,
        help="deliveries waiting, retrying or dead; `outbox retry` queues the dead and stuck ones again",
        description="Show the outbox: how many deliveries are pending, retrying, being sent, sent and dead, "
        "and every one not yet sent. `tallywatch outbox retry` queues the dead ones again, and those left "
        "'sending' for longer than --stuck-after (a process interrupted while sending).",
    )
    box.add_argument("action", nargs="?", choices=["show", "retry"], default="show", help="default: show")
    box.add_argument(
        "--stuck-after",
        type=float,
        default=600.0,
        metavar="SECONDS",
        help="with retry: a delivery 'sending' for longer than this is queued again (default 600)",
    )
    box.add_argument("--json", action="store_true", help="JSON output")


def _add_or_remove(store, args: argparse.Namespace) -> int:
    """`subscribers add|remove --email ADDRESS`: exit 2 on a wrong address or choice."""
    import secrets as tokens

    from .channels.email import email_address

    if not args.email:
        print(f"tallywatch subscribers {args.action}: --email ADDRESS is required", file=sys.stderr)
        return 2
    try:
        address = email_address(args.email)
    except ValueError as exc:
        print(f"tallywatch subscribers {args.action}: {exc}", file=sys.stderr)
        return 2
    if args.action == "remove":
        found = store.remove_subscriber("email", address)
        print(f"removed {address}" if found else f"{address} was not subscribed")
        return 0 if found else 1
    if not args.digest and not args.instant:
        print("tallywatch subscribers add: choose --digest daily|weekly and/or --instant", file=sys.stderr)
        return 2
    old = store.subscriber("email", address)
    token = (old or {}).get("token") or tokens.token_hex(16)  # no leading "-" for the command line
    language = args.language or (old or {}).get("language") or "en"
    sub = store.save_subscriber(
        "email",
        address,
        digest=args.digest,
        instant=int(args.instant),
        token=token,
        active=1,
        reason=None,
        language=language,
    )
    print(
        f"subscribed {address}: digest {sub['digest'] or 'none'}, instant {'yes' if sub['instant'] else 'no'}, "
        f"language {sub['language']}"
    )
    return 0


def cmd_subscribers(cfg: config.Config, origin: str, args: argparse.Namespace) -> int:
    from .store import Store

    store = Store(cfg.storage.resolved())
    try:
        if args.action in ("add", "remove"):
            return _add_or_remove(store, args)
        if args.action == "unsubscribe":
            sub = store.subscriber_by_token(args.token or "")
            if sub is None:
                print("tallywatch subscribers unsubscribe: no subscriber has that token", file=sys.stderr)
                return 1
            store.deactivate(sub["channel"], sub["address"], "unsubscribed by link")
            print(f"unsubscribed {sub['address']}")
            return 0
        rows = store.all_subscribers()
    finally:
        store.close()
    if args.json:
        print(json.dumps(rows, indent=2, ensure_ascii=False))
        return 0
    for r in rows:
        if r["channel"] == "email":
            choice = f"digest {r['digest'] or 'none'}, instant {'yes' if r['instant'] else 'no'}"
        else:
            choice = r["choice"] + (f" ({', '.join(r['metrics'])})" if r["choice"] == "metrics" else "")
        state = "active" if r["active"] else f"inactive: {r['reason'] or ''}"
        print(f"{r['channel']:<9} {r['address']:<32} {r['language']}  {choice:<34} {state}")
    return 0


def subscribers_arguments(sub, common: argparse.ArgumentParser) -> None:
    subs = command(
        sub,
        common,
        "subscribers",
        cmd_subscribers,
        help="email subscribers: add, remove, list (all channels), unsubscribe TOKEN",
        description="Manage subscribers. `add --email ADDR [--digest daily|weekly] [--instant]`, "
        "`remove --email ADDR`, `list` (every channel, with choices and state), `unsubscribe TOKEN` "
        "(the token in each mail's unsubscribe link).",
    )
    subs.add_argument("action", choices=["add", "remove", "list", "unsubscribe"])
    subs.add_argument("token", nargs="?", help="with unsubscribe: the token from the mail")
    subs.add_argument("--email", metavar="ADDR")
    subs.add_argument("--digest", choices=["daily", "weekly"])
    subs.add_argument("--instant", action="store_true", help="one mail per critical alert (milestones)")
    subs.add_argument(
        "--language", choices=i18n.languages(), help="the mails' language (add; default: as before, else en)"
    )
    subs.add_argument("--json", action="store_true", help="JSON output (list)")


def cmd_digest(cfg: config.Config, origin: str, args: argparse.Namespace) -> int:
    from . import digest

    async def once() -> tuple[int, int]:
        pipeline = _pipeline(cfg)
        try:
            return await digest.send(pipeline, args.period)
        finally:
            await pipeline.aclose()

    queued, sent = asyncio.run(once())
    print(
        f"{args.period} digest: {queued} queued, {sent} sent"
        if queued
        else f"{args.period} digest: nothing to send for this period"
    )
    return 0


def digest_arguments(sub, common: argparse.ArgumentParser) -> None:
    dig = command(
        sub,
        common,
        "digest",
        cmd_digest,
        help="send the daily or weekly digest now (once per period)",
        description="Make this period's digest and send it to its subscribers. A period's digest goes out once: "
        "running it again (or the daemon's schedule) sends nothing more.",
    )
    dig.add_argument("period", choices=["daily", "weekly"])


def cmd_chart(cfg: config.Config, origin: str, args: argparse.Namespace) -> int:
    from . import charts

    store = _open_store(cfg, "chart")
    if store is None:
        return 1
    try:
        png = charts.chart_for(store, args.metric, args.days, args.language)
    except ValueError as exc:
        print(f"tallywatch chart: {exc}", file=sys.stderr)
        return 1
    finally:
        store.close()
    args.out.write_bytes(png)
    print(f"{args.out}: {len(png):,} bytes")
    return 0


def chart_arguments(sub, common: argparse.ArgumentParser) -> None:
    chart = command(
        sub,
        common,
        "chart",
        cmd_chart,
        help="draw one metric's chart as a PNG",
        description="Draw the running total and the daily changes of a metric, milestones and spikes marked.",
    )
    chart.add_argument("metric")
    chart.add_argument("--days", type=int, default=90, help="default 90")
    chart.add_argument("--out", type=Path, required=True, metavar="FILE")
    chart.add_argument("--language", choices=["en", "uk"], default="en")


def cmd_backfill(cfg: config.Config, origin: str, args: argparse.Namespace) -> int:
    from .backfill import fill

    async def once():
        pipeline = _pipeline(cfg)
        try:
            return await fill(pipeline, args.start, args.end)
        finally:
            await pipeline.aclose()

    done = asyncio.run(once())
    if done.start is not None:
        print(
            f"backfill {done.start} … {done.end}: {done.days} days stored from {done.windows} "
            f"window{'' if done.windows == 1 else 's'} ({done.requests} requests); "
            f"{done.events} event{'' if done.events == 1 else 's'} recorded quietly"
        )
    if done.error:
        print(f"tallywatch backfill: {secrets.redact(done.error)}", file=sys.stderr)
        return 1
    return 0


def backfill_arguments(sub, common: argparse.ArgumentParser) -> None:
    backfill = command(
        sub,
        common,
        "backfill",
        cmd_backfill,
        help="fill the days missing since the last stored one from the API that offers history",
        description="Ask the russianwarship.rip v2 API ([backfill] url) for the days from --from (default: the "
        "day after the last one stored) to --to (default: today), a window of days per request with a pause "
        "between two, and store them quietly: events are recorded, nobody is told. Each window is committed, so "
        "an interrupted fill goes on from where it stopped. The daemon does the same at each start.",
    )
    backfill.add_argument("--from", dest="start", type=_date, metavar="DATE", help="first day to fill")
    backfill.add_argument("--to", dest="end", type=_date, metavar="DATE", help="last day to fill (default today)")


def cmd_replay(cfg: config.Config, origin: str, args: argparse.Namespace) -> int:
    from .history import daily
    from .replay import counts_table, replay

    events = replay(cfg, args.start, args.end)
    if args.json:
        out = [
            {
                "key": e.key,
                "rule": e.rule,
                "metric": e.metric,
                "as_of": e.as_of.isoformat(),
                "value": e.value,
                "severity": e.severity,
                "message": e.message,
            }
            for e in events
        ]
        print(json.dumps(out, indent=2, ensure_ascii=False))
        return 0
    days = daily().keys()
    first, last = args.start or min(days), args.end or max(days)
    print(f"# replay of the bundled history {first} … {last}: {len(events)} events")
    print(counts_table(events))
    print()
    for e in events:
        print(line(e))
    return 0


def replay_arguments(sub, common: argparse.ArgumentParser) -> None:
    replay = command(
        sub,
        common,
        "replay",
        cmd_replay,
        help="run the bundled real history through the rules and print what would have fired",
        description="Replay the bundled General Staff history (2022-02-25 … 2026-08-08) through the same "
        "store → detect path, in a throwaway database, and print what would have fired.",
    )
    replay.add_argument(
        "--from", dest="start", type=_date, metavar="DATE", help="first day to report (earlier days warm up quietly)"
    )
    replay.add_argument("--to", dest="end", type=_date, metavar="DATE", help="last day to replay")
    replay.add_argument("--json", action="store_true", help="JSON output")


def cmd_backup(cfg: config.Config, origin: str, args: argparse.Namespace) -> int:
    from . import backup
    from .models import report_day

    store = _open_store(cfg, "backup")
    if store is None:
        return 1
    try:
        today = report_day(dt.datetime.now(dt.UTC))
        target = args.file or backup.folder(store.path) / f"{backup.PREFIX}{today.isoformat()}.db"
        made = backup.copy(store, target)
    finally:
        store.close()
    print(f"backed up {store.path} to {made} ({backup.check(made)})")
    return 0


def backup_arguments(sub, common: argparse.ArgumentParser) -> None:
    back = command(
        sub,
        common,
        "backup",
        cmd_backup,
        help="copy the database to a file, consistent while the daemon runs",
        description="Copy the database with SQLite's online backup API: a consistent copy even while the "
        "daemon writes. Without FILE: backups/tallywatch-<today>.db beside the database, where the daemon "
        "keeps its daily snapshots ([storage] backups, backup_at).",
    )
    back.add_argument("file", nargs="?", type=Path, metavar="FILE")


def cmd_restore(cfg: config.Config, origin: str, args: argparse.Namespace) -> int:
    from . import backup

    database = cfg.storage.resolved()
    print(f"restoring {args.file} ({backup.check(args.file)}) to {database}")
    kept = backup.restore(args.file, database)
    if kept is not None:
        print(f"the database it replaced is kept as {kept}")
    print("done; start the daemon again (systemctl start tallywatch)")
    return 0


def restore_arguments(sub, common: argparse.ArgumentParser) -> None:
    rest = command(
        sub,
        common,
        "restore",
        cmd_restore,
        help="put a backup in place of the database (the daemon stopped)",
        description="Check FILE (a backup or a daily snapshot), then put it in place of the database. "
        "Refused while the daemon runs: stop it first. The database it replaces is kept beside it as "
        "<database>.before-restore.",
    )
    rest.add_argument("file", type=Path, metavar="FILE")


def cmd_demo(cfg: config.Config, origin: str, args: argparse.Namespace) -> int:
    from .demo import run_demo

    if args.until <= args.start:
        print("tallywatch demo: --until must come after --start", file=sys.stderr)
        return 2
    run_demo(cfg, args.start, args.until, args.seconds_per_day, args.db)
    return 0


def demo_arguments(sub, common: argparse.ArgumentParser) -> None:
    demo = command(
        sub,
        common,
        "demo",
        cmd_demo,
        help="watch the daemon catch the 1,000,000 milestone live, offline",
        description="Start a loopback feed that replays the real daily reports, one day a second, and run the "
        "daemon on it with its embedded defaults: personnel passes 1,000,000 on 2025-06-12 within a minute.",
    )
    demo.add_argument(
        "--start", type=_date, default=dt.date(2025, 5, 25), help="first replayed day (default 2025-05-25)"
    )
    demo.add_argument(
        "--until", type=_date, default=dt.date(2025, 6, 15), help="last replayed day (default 2025-06-15)"
    )
    demo.add_argument("--seconds-per-day", type=float, default=1.0, help="replay speed (default 1.0)")
    demo.add_argument("--db", type=Path, help="keep the demo database here (default: a temporary folder)")


COMMANDS = [
    config_arguments,
    poll_arguments,
    run_arguments,
    status_arguments,
    events_arguments,
    deliveries_arguments,
    outbox_arguments,
    sources_arguments,
    subscribers_arguments,
    digest_arguments,
    backup_arguments,
    restore_arguments,
    chart_arguments,
    backfill_arguments,
    replay_arguments,
    demo_arguments,
]  # in the order --help lists them


def global_options(parser: argparse.ArgumentParser, **defaults: str | None) -> None:
    """``--config`` and ``--log-level``: accepted before the command and after it (and, for ``config
    check``, between the two words)."""
    parser.add_argument(
        "--config",
        metavar="PATH",
        default=defaults["config"],
        help="TOML config (default: $TALLYWATCH_CONFIG, else ./config/tallywatch.toml, else built-in defaults)",
    )
    parser.add_argument(
        "--log-level",
        default=defaults["log_level"],
        choices=["debug", "info", "warning", "error"],
        help="default: info",
    )


def build_parser() -> argparse.ArgumentParser:
    """The parser: the global options, then each command's own piece (``*_arguments``, beside it)."""
    parser = argparse.ArgumentParser(
        prog="tallywatch",
        description="Watch running tallies in feeds (the General Staff's daily loss report first) and alert on what matters.",
    )
    parser.add_argument("--version", action="version", version=f"tallywatch {__version__}")
    global_options(parser, config=None, log_level="info")
    # the same options after the command: only those given there are set (SUPPRESS), so one given
    # before the command is not overwritten by the command's default
    common = argparse.ArgumentParser(add_help=False)
    global_options(common, config=argparse.SUPPRESS, log_level=argparse.SUPPRESS)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for piece in COMMANDS:
        piece(sub, common)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.log_level)
    try:
        if args.command == "demo" and not args.config and not os.environ.get("TALLYWATCH_CONFIG"):
            cfg, origin = config.defaults(), "built-in defaults"
        else:
            cfg, origin = config.load(args.config)
    except config.ConfigError as exc:
        print(f"config error: {exc}".replace("\n", "\nconfig error: "), file=sys.stderr)
        return 2
    try:
        return args.func(cfg, origin, args)
    except Exception as exc:
        from .store import StoreError

        if not isinstance(exc, StoreError):
            raise
        print(f"tallywatch {args.command}: {exc}", file=sys.stderr)  # held by a daemon, damaged, read-only
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `tallywatch replay | head`: the reader has all it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
