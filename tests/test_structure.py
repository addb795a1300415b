"""The shape of the code: every module imports, no import circles, and the stages depend on each
other in the design's order (sources/extract → store → detect → channels → outbox; only the
wiring modules — pipeline, daemon, cli, bot and the tools beside them — see everything)."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "tallywatch"

# lower stages never import higher ones; a module may import its own stage and those below
STAGES = [
    (
        "base",
        [
            "models",
            "i18n",
            "format",
            "markup",
            "secrets",
            "health",
            "backoff",
            "sdnotify",
            "history",
            "ratelimit",
            "lean",
            "ptb",
            "cldr",
            "cldr_data",
        ],
    ),
    ("read", ["config", "extract", "sources"]),
    ("store", ["store"]),
    ("detect", ["detect"]),
    ("channels", ["channels"]),
    ("deliver", ["outbox", "digest", "charts", "ingest", "upkeep", "running"]),
]
WIRING = {"pipeline", "daemon", "cli", "bot", "web", "demo", "replay", "backfill", "backup", "__main__", ""}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in SRC.rglob("*.py") if "__pycache__" not in p.parts}


def imports(name: str) -> set[str]:
    """Every tallywatch module ``name`` imports anywhere in it (functions and TYPE_CHECKING included)."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
            target = ".".join([*base, node.module] if node.module else base) if node.level else node.module or ""
            for alias in node.names:
                candidate = f"{target}.{alias.name}"
                found.add(candidate if candidate in MODULES else target)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {m for m in found if m in MODULES and m != name}


def stage(name: str) -> int | None:
    short = name.removeprefix("tallywatch").removeprefix(".")
    top = short.split(".")[0]
    if top in WIRING:
        return None
    for number, (_, tops) in enumerate(STAGES):
        if top in tops:
            return number
    raise AssertionError(f"{name}: in no stage of this test; place it in STAGES or WIRING")


@pytest.mark.parametrize("name", sorted(MODULES))
def test_every_module_imports(name):
    if name.endswith("__main__"):
        return
    importlib.import_module(name)


def test_no_import_circles():
    graph = {name: imports(name) for name in MODULES}
    done: set[str] = set()

    def visit(name: str, path: list[str]) -> None:
        if name in path:
            raise AssertionError("import circle: " + " → ".join([*path[path.index(name) :], name]))
        if name in done:
            return
        for dep in sorted(graph[name]):
            visit(dep, [*path, name])
        done.add(name)

    for name in sorted(graph):
        visit(name, [])


def test_stages_depend_only_downwards():
    wrong = []
    for name in sorted(MODULES):
        own = stage(name)
        if own is None:
            continue
        for dep in sorted(imports(name)):
            theirs = stage(dep)
            if theirs is None or theirs > own:
                where = "the wiring" if theirs is None else f"stage {STAGES[theirs][0]}"
                wrong.append(f"{name} (stage {STAGES[own][0]}) imports {dep} ({where})")
    assert wrong == []


def test_channels_know_nothing_of_the_pipeline():
    for name in MODULES:
        if name.startswith("tallywatch.channels"):
            assert not {"tallywatch.pipeline", "tallywatch.ingest", "tallywatch.daemon"} & imports(name), name
