"""Third-party packages imported without the optional parts tallywatch never uses.

Some packages import an optional package at their own import when it is installed, to offer
something tallywatch does not use. The daemon would carry it for as long as it runs (measured
with ``bench/footprint.py``, idle resident memory, docs/benchmarks.md):

- python-telegram-bot imports ``cryptography`` (and cffi) for Telegram Passport: about 7.5 MB
  (``ptb.py``);
- httpx imports ``pygments`` (after click, which uvicorn brings) for its command-line client,
  which then gives up for want of ``rich``: about 1.3 MB (``sources/http.py``).

And two import ``multiprocessing`` (with ``concurrent.futures.process``) for what tallywatch
never starts — about 0.5 MB for as long as the daemon runs, measured idle: APScheduler's base
scheduler, for its thread and process pool executors (the daemon's AsyncIOScheduler runs its jobs
on the event loop), and uvicorn, for its reloading and multi-process supervisors (tallywatch runs
one ``uvicorn.Server`` in its own loop). ``standing_in`` lets a module find such a module as a
stand-in whose names import the real one when first called (``later``).

Neither optional package is a dependency of tallywatch, but a server may have them (the test extras bring both).
``without`` imports a package as if those were not installed, the way Python itself documents
(``None`` in ``sys.modules`` makes an import raise ``ImportError``), which both packages expect
and handle; afterwards the names are importable again, so anything else that wants them gets them.
``tests/test_footprint.py`` checks the idle daemon has none of them, nor Babel (``cldr.py``).
"""

from __future__ import annotations

import contextlib
import importlib
import sys
import types
from collections.abc import Callable, Iterator
from typing import Any


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


@contextlib.contextmanager
def standing_in(name: str, **names: Callable[..., Any]) -> Iterator[None]:
    """Imports inside find the module ``name`` (unless it is imported already) as a stand-in that
    holds only ``names``; afterwards the real module is importable again."""
    if name in sys.modules:
        yield
        return
    stand_in = types.ModuleType(name, f"a stand-in for {name} (tallywatch.lean)")
    stand_in.__dict__.update(names)
    sys.modules[name] = stand_in
    try:
        yield
    finally:
        if sys.modules.get(name) is stand_in:
            del sys.modules[name]


def later(module: str, name: str) -> Callable[..., Any]:
    """A stand-in for the class ``module.name``: calling it imports the real one and calls that."""

    def made(*args: Any, **kwargs: Any) -> Any:
        return getattr(importlib.import_module(module), name)(*args, **kwargs)

    made.__qualname__ = made.__name__ = name
    return made
