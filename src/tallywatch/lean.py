"""Third-party packages imported without the optional parts tallywatch never uses.

Some packages import an optional package at their own import when it is installed, to offer
something tallywatch does not use. The daemon would carry it for as long as it runs (measured
with ``bench/footprint.py``, idle resident memory, docs/benchmarks.md):

- python-telegram-bot imports ``cryptography`` (and cffi) for Telegram Passport: about 7.5 MB
  (``ptb.py``);
- httpx imports ``pygments`` (after click, which uvicorn brings) for its command-line client,
  which then gives up for want of ``rich``: about 1.3 MB (``sources/http.py``).

Neither is a dependency of tallywatch, but a server may have them (the test extras bring both).
``without`` imports a package as if those were not installed, the way Python itself documents
(``None`` in ``sys.modules`` makes an import raise ``ImportError``), which both packages expect
and handle; afterwards the names are importable again, so anything else that wants them gets them.
``tests/test_footprint.py`` checks the idle daemon has neither, nor Babel (``cldr.py``).
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator


@contextlib.contextmanager
def without(*names: str) -> Iterator[None]:
    """Imports inside see ``names`` as not installed (those already imported stay as they are)."""
    absent = [name for name in names if name not in sys.modules]
    for name in absent:
        sys.modules[name] = None  # type: ignore[assignment]
    try:
        yield
    finally:
        for name in absent:
            if name in sys.modules and sys.modules[name] is None:
                del sys.modules[name]
