"""Numbers as reports print them: ``1,002,690``, ``1 002 690``, ``+1,130``, ``−2`` → int."""

from __future__ import annotations

import re

from ..markup import ODD_SPACES

_NUMBER = re.compile(r"\d{1,3}(?:[ ,.'’]\d{3})+(?!\d)|\d+")
NUMBER_PATTERN = f"(?:{_NUMBER.pattern})"


def parse_int(text: str) -> int:
    """``1,002,690``, ``1 002 690``, ``1002690``, ``+1,130``, ``−2`` → int. ValueError otherwise."""
    s = text.strip().translate(ODD_SPACES).replace("\u2212", "-").replace("\u2013", "-")
    sign = 1
    if s[:1] in "+-":
        sign = -1 if s[0] == "-" else 1
        s = s[1:].strip()
    if not _NUMBER.fullmatch(s):
        raise ValueError(f"not a number: {text!r}")
    return sign * int(re.sub(r"\D", "", s))
