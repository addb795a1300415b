"""The subscribers room: who asked to be told (``subscribers``: Telegram chats, email addresses,
their choices, languages, quiet hours and unsubscribe tokens) and the email sign-ups waiting for
their confirmation link (``signups``, with their limits).

A subscriber's row is written with plain SQL: a new one is made once (its ``created_at`` kept) and
then given whichever columns the caller names, checked against ``_SUBSCRIBER_FIELDS``.
"""

from __future__ import annotations

import datetime as dt
import hmac
import json
from collections.abc import Callable
from typing import Any

from .db import Connection, _ts, _writes, utcnow
from .keys import token_hash

_SUBSCRIBER_FIELDS = {
    "kind",
    "name",
    "choice",
    "metrics",
    "language",
    "quiet_from",
    "quiet_to",
    "active",
    "reason",
    "digest",
    "instant",
    "token",
}


class Subscribers(Connection):
    """Subscribers and sign-ups."""

    def subscriber(self, channel: str, address: str) -> dict[str, Any] | None:
        rows = list(self.db.query("SELECT * FROM subscribers WHERE channel = ? AND address = ?", [channel, address]))
        if not rows:
            return None
        row = rows[0]
        row["metrics"] = json.loads(row["metrics"])
        return row

    def subscribers(self, channel: str, *, active: bool | None = True) -> list[dict[str, Any]]:
        where = "" if active is None else f" AND active = {int(active)}"
        rows = list(self.db.query(f"SELECT * FROM subscribers WHERE channel = ?{where} ORDER BY id", [channel]))
        for row in rows:
            row["metrics"] = json.loads(row["metrics"])
        return rows

    def all_subscribers(self) -> list[dict[str, Any]]:
        rows = list(self.db.query("SELECT * FROM subscribers ORDER BY channel, id"))
        for row in rows:
            row["metrics"] = json.loads(row["metrics"])
        return rows

    def save_subscriber(self, channel: str, address: str, **fields: Any) -> dict[str, Any]:
        """Create or update a subscriber; ``fields`` are columns (metrics as a list)."""
        unknown = set(fields) - _SUBSCRIBER_FIELDS
        if unknown:
            raise ValueError(f"not subscriber fields: {', '.join(sorted(unknown))}")
        if "metrics" in fields:
            fields["metrics"] = json.dumps(sorted(set(fields["metrics"])))
        if "token" in fields:
            fields["token_hash"] = token_hash(fields["token"]) if fields["token"] is not None else None
        now = _ts()
        with self.transaction():
            self.conn.execute(
                "INSERT INTO subscribers (channel, address, created_at, updated_at) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (channel, address) DO NOTHING",
                [channel, address, now, now],
            )
            if fields:
                assignments = ", ".join(f"{column} = ?" for column in fields)
                self.conn.execute(
                    f"UPDATE subscribers SET {assignments}, updated_at = ? WHERE channel = ? AND address = ?",
                    [*fields.values(), now, channel, address],
                )
        return self.subscriber(channel, address) or {}

    @_writes
    def move_subscriber(self, channel: str, old: str, new: str) -> None:
        """A chat got a new address (a group upgraded to a supergroup): its subscription and its
        queued deliveries follow it (if the new address has a subscription already, the old one ends)."""
        if self.subscriber(channel, new) is None:
            self.conn.execute(
                "UPDATE subscribers SET address = ?, updated_at = ? WHERE channel = ? AND address = ?",
                [new, _ts(), channel, old],
            )
        else:
            self.deactivate(channel, old, f"moved to {new}")
        self.conn.execute(
            "UPDATE deliveries SET recipient = ? WHERE channel = ? AND recipient = ? AND status IN ('pending', 'sending')",
            [new, channel, old],
        )

    @_writes
    def deactivate(self, channel: str, address: str, reason: str) -> bool:
        """Stop sending to a subscriber (blocked us, left the chat); False if there is none."""
        return (
            self.db.execute(
                "UPDATE subscribers SET active = 0, reason = ?, updated_at = ? WHERE channel = ? AND address = ? AND active = 1",
                [reason, _ts(), channel, address],
            ).rowcount
            > 0
        )

    @_writes
    def remove_subscriber(self, channel: str, address: str) -> bool:
        return (
            self.db.execute("DELETE FROM subscribers WHERE channel = ? AND address = ?", [channel, address]).rowcount
            > 0
        )

    def subscriber_by_token(self, token: str) -> dict[str, Any] | None:
        """The subscriber whose unsubscribe token this is: found by the token's hash, then compared
        in constant time."""
        rows = list(
            self.db.query("SELECT channel, address, token FROM subscribers WHERE token_hash = ?", [token_hash(token)])
        )
        if not rows or not hmac.compare_digest(rows[0]["token"].encode(), token.encode()):
            return None
        return self.subscriber(rows[0]["channel"], rows[0]["address"])

    @_writes
    def add_signup(  # noqa: PLR0913 — one argument per column of the sign-up it writes
        self,
        address: str,
        token: str,
        digest: str | None,
        instant: bool,
        language: str,
        expires: dt.datetime,
        limits: tuple[int, int] = (3, 60),
        mailbox: Callable[[str], str] | None = None,
    ) -> str | None:
        """Keep a sign-up waiting for its confirmation link (only the link's hash is kept), unless
        ``limits`` are reached: (per mailbox per day, in all per hour). ``mailbox``: the mailbox an
        address reaches (``channels.email.mailbox``: case, a +tag and the domain's form don't make
        another one); None: each address its own. The sign-ups of the last day are few (at most a
        day of the hourly limit) and are compared as mailboxes here, so those kept before this rule
        count too. The count and the insert are one transaction, so posts arriving together can't
        all pass. None if kept, else which limit stopped it ("address" or "hour"). Sign-ups expired
        a week ago are let go."""
        now = utcnow()
        per_address, per_hour = limits
        same = mailbox or str
        day_ago, hour_ago = _ts(now - dt.timedelta(days=1)), _ts(now - dt.timedelta(hours=1))
        recent = self.conn.execute("SELECT address FROM signups WHERE created_at >= ?", [day_ago]).fetchall()
        key = same(address)
        if sum(same(row[0]) == key for row in recent) >= per_address:
            return "address"
        if (
            self.conn.execute("SELECT count(*) FROM signups WHERE created_at >= ?", [hour_ago]).fetchone()[0]
            >= per_hour
        ):
            return "hour"
        self.conn.execute("DELETE FROM signups WHERE expires_at < ?", [_ts(now - dt.timedelta(days=7))])
        self.conn.execute(
            "INSERT INTO signups (token_hash, address, digest, instant, language, created_at, expires_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            [token_hash(token), address, digest, int(instant), language, _ts(now), _ts(expires)],
        )
        return None

    @_writes
    def drop_signup(self, token: str) -> None:
        """Its confirmation mail could not be sent: it never happened (nor counts against a limit)."""
        self.conn.execute("DELETE FROM signups WHERE token_hash = ?", [token_hash(token)])

    def signups_since(self, address: str, since: dt.datetime) -> int:
        """How many confirmation mails this address was sent since then."""
        return self.conn.execute(
            "SELECT count(*) FROM signups WHERE address = ? AND created_at >= ?", [address, _ts(since)]
        ).fetchone()[0]

    def signup(self, token: str) -> dict[str, Any] | None:
        """The sign-up this confirmation link is for, if it has not expired (confirmed or not)."""
        rows = list(
            self.db.query("SELECT * FROM signups WHERE token_hash = ? AND expires_at >= ?", [token_hash(token), _ts()])
        )
        return rows[0] if rows else None

    @_writes
    def confirm_signup(self, token: str, new_token: str) -> dict[str, Any] | None:
        """Follow a confirmation link: the address is subscribed as it asked (an existing
        subscription is changed and keeps its unsubscribe token; ``new_token`` is for a new one).
        None if the link is unknown or expired; a second use changes nothing."""
        found = self.signup(token)
        if found is None:
            return None
        if found["confirmed_at"] is None:
            old = self.subscriber("email", found["address"])
            self.save_subscriber(
                "email",
                found["address"],
                digest=found["digest"],
                instant=found["instant"],
                language=found["language"],
                token=(old or {}).get("token") or new_token,
                active=1,
                reason=None,
            )
            self.conn.execute("UPDATE signups SET confirmed_at = ? WHERE id = ?", [_ts(), found["id"]])
        return self.subscriber("email", found["address"])
