"""The schema room: ``MIGRATIONS``, ``SCHEMA_VERSION`` and bringing a file up to date on open.

The schema is versioned with ``PRAGMA user_version``: each entry of ``MIGRATIONS`` moves the file
one version up, all of them in one transaction under the write lock, so an old file is upgraded in
place on open and two processes opening one new file migrate it once. The entries are plain SQL,
run statement by statement. Migration 10, the one that copies a table, stays SQL too:
``sqlite_utils``' ``transform`` rebuilds a table from its columns and would drop the table's CHECK
and UNIQUE constraints (changing a CHECK is why it copies), so an old file would not upgrade the
same.
"""

from __future__ import annotations

from .db import Connection, SchemaTooNew
from .keys import token_hash

MIGRATIONS: list[str] = [
    # 1: the walking skeleton
    """
    CREATE TABLE observations (
        id INTEGER PRIMARY KEY,
        source TEXT NOT NULL,
        item TEXT NOT NULL,
        metric TEXT NOT NULL,
        as_of TEXT NOT NULL,
        value INTEGER NOT NULL,
        reported_delta INTEGER,
        observed_at TEXT NOT NULL
    );
    CREATE INDEX observations_metric ON observations (metric, as_of);
    -- the current figure per source, metric and day: what "revised" is measured against
    CREATE TABLE figures (
        source TEXT NOT NULL,
        metric TEXT NOT NULL,
        as_of TEXT NOT NULL,
        value INTEGER NOT NULL,
        reported_delta INTEGER,
        item TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        PRIMARY KEY (metric, as_of, source)
    ) WITHOUT ROWID;
    CREATE TABLE items (
        source TEXT NOT NULL,
        guid TEXT NOT NULL,
        digest TEXT NOT NULL,
        figures INTEGER NOT NULL,
        first_seen TEXT NOT NULL,
        last_seen TEXT NOT NULL,
        PRIMARY KEY (source, guid)
    ) WITHOUT ROWID;
    CREATE TABLE sources (
        name TEXT PRIMARY KEY,
        etag TEXT,
        last_modified TEXT,
        last_attempt TEXT,
        last_success TEXT,
        last_new_report TEXT,
        consecutive_failures INTEGER NOT NULL DEFAULT 0,
        last_error TEXT,
        next_poll_after TEXT,
        polls INTEGER NOT NULL DEFAULT 0,
        failures INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE events (
        id INTEGER PRIMARY KEY,
        key TEXT NOT NULL UNIQUE,
        rule TEXT NOT NULL,
        metric TEXT NOT NULL,
        as_of TEXT NOT NULL,
        value INTEGER NOT NULL,
        severity TEXT NOT NULL,
        message TEXT NOT NULL,
        data TEXT NOT NULL,
        source TEXT NOT NULL,
        notify INTEGER NOT NULL,
        created_at TEXT NOT NULL
    );
    CREATE TABLE deliveries (
        id INTEGER PRIMARY KEY,
        event_id INTEGER NOT NULL REFERENCES events (id),
        channel TEXT NOT NULL,
        recipient TEXT NOT NULL,
        idempotency_key TEXT NOT NULL UNIQUE,
        status TEXT NOT NULL DEFAULT 'pending',
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at TEXT NOT NULL,
        last_error TEXT,
        created_at TEXT NOT NULL,
        sent_at TEXT
    );
    CREATE INDEX deliveries_due ON deliveries (status, next_attempt_at);
    """,
    # 2: the series the rules see is the figures' status: per metric and day at most one source's
    #    figure is 'accepted' or 'suspect'; 'discarded' ones were found implausible, NULL ones are
    #    other sources' figures. The observations log keeps only values later revised.
    """
    ALTER TABLE figures ADD COLUMN status TEXT CHECK (status IN ('accepted', 'suspect', 'discarded'));
    UPDATE figures SET status = 'accepted' WHERE source =
        (SELECT min(f.source) FROM figures f WHERE f.metric = figures.metric AND f.as_of = figures.as_of);
    CREATE TABLE revisions (
        id INTEGER PRIMARY KEY,
        source TEXT NOT NULL,
        item TEXT NOT NULL,
        metric TEXT NOT NULL,
        as_of TEXT NOT NULL,
        value INTEGER NOT NULL,
        reported_delta INTEGER,
        observed_at TEXT NOT NULL,
        revised_at TEXT
    );
    INSERT INTO revisions (source, item, metric, as_of, value, reported_delta, observed_at)
        SELECT o.source, o.item, o.metric, o.as_of, o.value, o.reported_delta, o.observed_at FROM observations o
        WHERE NOT EXISTS (SELECT 1 FROM figures f WHERE f.metric = o.metric AND f.as_of = o.as_of
                          AND f.source = o.source AND f.value = o.value);
    DROP TABLE observations;
    CREATE INDEX revisions_metric ON revisions (metric, as_of);
    CREATE INDEX events_rule ON events (rule, source)
    """,
    # 3: subscribers and claimed deliveries (status 'sending' while a worker holds the row)
    """
    CREATE TABLE subscribers (
        id INTEGER PRIMARY KEY,
        channel TEXT NOT NULL,
        address TEXT NOT NULL,
        kind TEXT NOT NULL DEFAULT 'private',
        name TEXT NOT NULL DEFAULT '',
        choice TEXT NOT NULL DEFAULT 'all' CHECK (choice IN ('all', 'milestones', 'metrics')),
        metrics TEXT NOT NULL DEFAULT '[]',
        language TEXT NOT NULL DEFAULT 'en' CHECK (language IN ('en', 'uk')),
        quiet_from INTEGER,
        quiet_to INTEGER,
        active INTEGER NOT NULL DEFAULT 1,
        reason TEXT,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        UNIQUE (channel, address)
    );
    ALTER TABLE deliveries ADD COLUMN claimed_at TEXT;
    ALTER TABLE deliveries ADD COLUMN language TEXT NOT NULL DEFAULT 'en'
    """,
    # 4: email subscribers: digests, instant alerts, an unsubscribe token
    """
    ALTER TABLE subscribers ADD COLUMN digest TEXT CHECK (digest IN ('daily', 'weekly'));
    ALTER TABLE subscribers ADD COLUMN instant INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE subscribers ADD COLUMN token TEXT;
    CREATE UNIQUE INDEX subscribers_token ON subscribers (token)
    """,
    # 5: source health: a source failing for long is marked broken until it works again
    """
    ALTER TABLE sources ADD COLUMN broken_since TEXT
    """,
    # 6: how much of each report document was read: complete, partial, unread (NULL: not a report)
    """
    ALTER TABLE items ADD COLUMN coverage TEXT CHECK (coverage IN ('complete', 'partial', 'unread'))
    """,
    # 7: what the recipient's service calls a sent message (Telegram: "text:<message_id>"), to edit it
    #    later; a delivery that answers an earlier one (a retraction); events taken back
    """
    ALTER TABLE deliveries ADD COLUMN receipt TEXT;
    ALTER TABLE deliveries ADD COLUMN reply_to INTEGER REFERENCES deliveries (id);
    ALTER TABLE events ADD COLUMN retracted_at TEXT
    """,
    # 8: a delivery sent as several messages (a long text in pieces) remembers how many went out
    """
    ALTER TABLE deliveries ADD COLUMN pieces_sent INTEGER NOT NULL DEFAULT 0
    """,
    # 9: a source's URL that moved for good (301 / 308): the configured one and where it went
    """
    ALTER TABLE sources ADD COLUMN moved_from TEXT;
    ALTER TABLE sources ADD COLUMN moved_to TEXT
    """,
    # 10: a subscriber may choose the daily report alone ('report'); 'all' now brings the report too;
    #     any language a catalogue is bundled for (checked in code: adding one needs no migration).
    #     SQLite can't change a CHECK in place: the table is copied (same columns, same order).
    """
    CREATE TABLE subscribers_v10 (
        id INTEGER PRIMARY KEY,
        channel TEXT NOT NULL,
        address TEXT NOT NULL,
        kind TEXT NOT NULL DEFAULT 'private',
        name TEXT NOT NULL DEFAULT '',
        choice TEXT NOT NULL DEFAULT 'all' CHECK (choice IN ('report', 'all', 'milestones', 'metrics')),
        metrics TEXT NOT NULL DEFAULT '[]',
        language TEXT NOT NULL DEFAULT 'en',
        quiet_from INTEGER,
        quiet_to INTEGER,
        active INTEGER NOT NULL DEFAULT 1,
        reason TEXT,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        digest TEXT CHECK (digest IN ('daily', 'weekly')),
        instant INTEGER NOT NULL DEFAULT 0,
        token TEXT,
        UNIQUE (channel, address)
    );
    INSERT INTO subscribers_v10 SELECT id, channel, address, kind, name, choice, metrics, language, quiet_from,
        quiet_to, active, reason, created_at, updated_at, digest, instant, token FROM subscribers;
    DROP TABLE subscribers;
    ALTER TABLE subscribers_v10 RENAME TO subscribers;
    CREATE UNIQUE INDEX subscribers_token ON subscribers (token)
    """,
    # 11: email self-service. A token is found by its SHA-256 (the lookup's timing says nothing of the
    #     token) and then compared in constant time; sign-ups wait for their confirmation link (only its
    #     hash is kept) until they expire; the web app's signing key (CSRF) survives restarts.
    """
    ALTER TABLE subscribers ADD COLUMN token_hash TEXT;
    UPDATE subscribers SET token_hash = tallywatch_sha256(token) WHERE token IS NOT NULL;
    CREATE UNIQUE INDEX subscribers_token_hash ON subscribers (token_hash);
    CREATE TABLE signups (
        id INTEGER PRIMARY KEY,
        token_hash TEXT NOT NULL UNIQUE,
        address TEXT NOT NULL,
        digest TEXT CHECK (digest IN ('daily', 'weekly')),
        instant INTEGER NOT NULL DEFAULT 0,
        language TEXT NOT NULL DEFAULT 'en',
        created_at TEXT NOT NULL,
        expires_at TEXT NOT NULL,
        confirmed_at TEXT
    );
    CREATE INDEX signups_address ON signups (address, created_at);
    CREATE TABLE keys (name TEXT PRIMARY KEY, value TEXT NOT NULL)
    """,
    # 12: when the source says it published an item (a source's publication window is learned from it)
    """
    ALTER TABLE items ADD COLUMN published TEXT
    """,
    # 13: one definition of a live delivery (``LIVE_EVENT``, ``Store.settle``). An event a newer
    #     version replaced (a daily report's /2) names it; a delivery that will never go out because
    #     its event was taken back or replaced first is 'dropped' (never queued again, unlike 'dead');
    #     one recipient's deliveries go in the order they were queued (the recipient index); one put
    #     back in the queue after it was being sent (a kill, a failed round) may have arrived. A day
    #     whose report a held figure keeps back is remembered, to be told when it is settled or after
    #     ``[report] wait``.
    """
    ALTER TABLE events ADD COLUMN superseded_by INTEGER REFERENCES events (id);
    UPDATE events SET superseded_by = (SELECT min(n.id) FROM events n, json_each(n.data, '$.replaces') r
        WHERE n.rule = 'report' AND r.value = events.id) WHERE rule = 'report';
    UPDATE deliveries SET status = 'dropped'
        WHERE status = 'dead' AND last_error = 'replaced by a newer version before it was sent';
    CREATE INDEX deliveries_event ON deliveries (event_id, status);
    CREATE INDEX deliveries_recipient ON deliveries (channel, recipient, status);
    CREATE INDEX deliveries_queue ON deliveries (channel, status, id);
    CREATE INDEX events_not_live ON events (id) WHERE retracted_at IS NOT NULL OR superseded_by IS NOT NULL;
    CREATE INDEX deliveries_followups ON deliveries (status) WHERE reply_to IS NOT NULL;
    CREATE INDEX events_day ON events (metric, as_of);
    CREATE TABLE reports_held (day TEXT PRIMARY KEY, since TEXT NOT NULL) WITHOUT ROWID;
    ALTER TABLE deliveries ADD COLUMN maybe_sent INTEGER NOT NULL DEFAULT 0
    """,
    # 14: a follow-up keeps when it may go as a message of its own (the reader's quiet hours when it
    #     was queued), for when the message it answers is never sent and ``settle`` makes it one
    """
    ALTER TABLE deliveries ADD COLUMN alone_after TEXT
    """,
    # 15: since when a source has been polled successfully: one that never brought a report is silent
    #     from then (``sources.health.silence``). A file's sources polled before it: from the first item
    #     seen of theirs, else their last success (the least that is known).
    """
    ALTER TABLE sources ADD COLUMN first_success TEXT;
    UPDATE sources SET first_success = coalesce(
        min((SELECT min(first_seen) FROM items WHERE items.source = sources.name), last_success), last_success)
        WHERE last_success IS NOT NULL
    """,
    # 16: a day's report is found by its rule and day (``told``, ``report_versions``, ``held_reports``,
    #     asked once a day of a replay) without reading every report stored before, and the crossings
    #     learned of late that no report told yet (``late_untold``, asked by the newest day's first
    #     report) without reading every milestone's data (issue 28); the rule is tested first, so
    #     storing any other event reads no JSON for it. The retractions (``Store.settle``, run by each
    #     claim and at each newer version of a report) without reading every event's data either.
    """
    CREATE INDEX events_rule_day ON events (rule, as_of);
    CREATE INDEX events_late_untold ON events (rule, id) WHERE rule = 'milestone'
        AND json_extract(data, '$.late') IS NOT NULL AND json_extract(data, '$.folded') IS NULL;
    CREATE INDEX events_retracting ON events (id) WHERE json_extract(data, '$.retracts') IS NOT NULL
    """,
]

SCHEMA_VERSION = len(MIGRATIONS)


class Schema(Connection):
    """The schema's version, and its migration on open."""

    @property
    def version(self) -> int:
        return self.db.execute("PRAGMA user_version").fetchone()[0]

    def _migrate(self) -> None:
        """Bring the schema up to date under the write lock: two processes opening one new file at
        once migrate it once (the second waits, then finds it done)."""
        if self.version == SCHEMA_VERSION:
            return
        self.conn.create_function("tallywatch_sha256", 1, token_hash, deterministic=True)  # migration 11
        with self.transaction():
            current = self.version
            if current > SCHEMA_VERSION:
                raise SchemaTooNew(
                    f"{self.path}: schema version {current} is newer than this tallywatch ({SCHEMA_VERSION})"
                )
            for number in range(current, SCHEMA_VERSION):
                for statement in MIGRATIONS[number].split(";"):
                    if statement.strip():
                        self.conn.execute(statement)
                self.conn.execute(f"PRAGMA user_version = {number + 1}")
