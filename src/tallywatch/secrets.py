"""Secrets come from the environment or a credentials file, never from the config file.

``secret("telegram_token")`` looks, in order, at ``$TALLYWATCH_TELEGRAM_TOKEN``, at
``$CREDENTIALS_DIRECTORY/telegram_token`` (systemd's ``LoadCredential=``), and at the file named
by ``$TALLYWATCH_CREDENTIALS`` (``name = value`` lines). Values are never logged or printed.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

KNOWN = ("telegram_token", "smtp_password", "webhook_secret")


def _from_file(path: Path, name: str) -> str | None:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return None
    for line in lines:
        key, sep, value = line.partition("=")
        if sep and key.strip() == name:
            return value.strip().strip("\"'") or None
    return None


def lookup(name: str) -> tuple[str | None, str]:
    """(value, where it came from) — where is safe to print, the value is not."""
    env = f"TALLYWATCH_{name.upper()}"
    if os.environ.get(env):
        return os.environ[env].strip(), f"environment ${env}"
    creds = os.environ.get("CREDENTIALS_DIRECTORY")
    if creds:
        path = Path(creds) / name
        if path.is_file():
            return path.read_text(encoding="utf-8").strip() or None, f"credential {path}"
    file = os.environ.get("TALLYWATCH_CREDENTIALS")
    if file:
        value = _from_file(Path(file), name)
        if value:
            return value, f"credentials file {file}"
    return None, "not set"


def secret(name: str) -> str | None:
    return lookup(name)[0]


def mask(value: str) -> str:
    """A secret's value as it may be shown: nothing of it (eight stars; nothing where it is empty)."""
    return "*" * 8 if value else ""


def mask_address(address: str) -> str:
    """j•••@example.com: enough for its owner to recognise, little for anyone a page or a log is shown to."""
    local, _, domain = address.partition("@")
    return f"{local[:1]}•••@{domain}"


_BOT_TOKEN = re.compile(r"\d{5,}:[A-Za-z0-9_-]{20,}")
_USERINFO = re.compile(r"(?<=://)[^/@\s]+@")  # https://user:password@host/
_QUERY_SECRET = re.compile(
    r"(?i)([?&;](?:token|access_token|api_?key|key|secret|password|passwd|pass|pwd|auth|sig|signature)=)[^&;#\s\"']+"
)


def values() -> list[str]:
    """The secrets set now (long enough to be told from ordinary words)."""
    return [v for v in (secret(name) for name in KNOWN) if v and len(v) >= 6]


def redact(text: str, known: list[str] | None = None) -> str:
    """Hide secrets in any text about to be logged, stored or printed: the values set (``known``,
    by default all of them), anything shaped like a bot token (``bot123:ABC…`` in API URLs), the
    password of a URL (``user:pass@``) and secret-looking query parameters (``?token=…``)."""
    for value in values() if known is None else known:
        text = text.replace(value, "<redacted>")
    text = _BOT_TOKEN.sub("<redacted>", text)
    text = _USERINFO.sub("***@", text)
    return _QUERY_SECRET.sub(r"\1<redacted>", text)


class RedactingFormatter(logging.Formatter):
    """Formats a record, traceback included, then removes secrets from the whole text."""

    def __init__(self, fmt: str) -> None:
        super().__init__(fmt)
        self.values = values()

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record), self.values)
