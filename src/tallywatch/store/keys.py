"""The keys room: an installation's long-lived secrets (the ``keys`` table: the web app's signing
key), and how a token is looked up (``token_hash``: subscribers' unsubscribe tokens, sign-ups'
confirmation links and migration 11 all find a token by its SHA-256)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from .db import Connection, _writes


def token_hash(token: str) -> str:
    """How a token is looked up: its SHA-256 (a lookup's timing can't reveal a token's prefix)."""
    return hashlib.sha256(token.encode()).hexdigest()


class Keys(Connection):
    """Secrets made once and kept."""

    @_writes
    def key(self, name: str, make: Callable[[], str]) -> str:
        """A long-lived secret of this installation (the web app's signing key): made once, kept."""
        keys = self.db["keys"]
        keys.insert({"name": name, "value": make()}, ignore=True)
        return keys.get(name)["value"]
