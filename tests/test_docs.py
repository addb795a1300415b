"""The docs can't rot: every shell block in README.md and docs/*.md marked runnable runs, offline, and
prints what the docs show after it; every relative link leads somewhere; the README stays short.

The convention (docs/benchmarks.md, "Docs that run"): a ```sh block whose opening fence follows the
line ``<!-- runnable -->`` runs with bash in a fresh temporary directory, the venv's ``tallywatch``
first on PATH, and must exit 0; a plain block right after it (only blank lines between) is its output.
A block after ``<!-- file: NAME -->`` is written to NAME for the runnable blocks after it on its page.
"""

from __future__ import annotations

import itertools
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").glob("*.md"))]
RUNNABLE = "<!-- runnable -->"
FILE = re.compile(r"<!-- file: ([\w.\-]+) -->")
FENCE = re.compile(r"^(`{3,})([\w+-]*)\s*$")
OUTPUT_LANGUAGES = {"", "text"}
MAX_README_LINES = 250
# A request to any host but this machine goes to a proxy that is not there: it fails, never leaves.
NOWHERE = "http://127.0.0.1:9"


@dataclass
class Block:
    page: Path
    line: int  # of the opening fence, 1-based
    language: str
    text: str
    marker: str  # the line before the opening fence
    output: Block | None = None  # the plain block right after this one

    @property
    def name(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def blocks(page: Path) -> list[Block]:
    """The fenced code blocks of a page, each with the line before it and the plain block after it."""
    lines = page.read_text(encoding="utf-8").splitlines()
    found: list[Block] = []
    i = 0
    while i < len(lines):
        fence = FENCE.match(lines[i])
        if not fence:
            i += 1
            continue
        end = next((j for j in range(i + 1, len(lines)) if lines[j].strip() == fence.group(1)), None)
        assert end is not None, f"{page.name}:{i + 1}: a code block that is never closed"
        found.append(
            Block(page, i + 1, fence.group(2), "\n".join(lines[i + 1 : end]) + "\n", lines[i - 1] if i else "")
        )
        i = end + 1
    for before, after in itertools.pairwise(found):
        closing = before.line + before.text.count("\n")  # 0-based index of its closing fence
        between = lines[closing + 1 : after.line - 1]
        if not any(line.strip() for line in between) and after.language in OUTPUT_LANGUAGES:
            before.output = after
    return found


def runnable() -> list[Block]:
    return [b for page in PAGES for b in blocks(page) if b.marker.strip() == RUNNABLE]


def files_before(block: Block) -> dict[str, str]:
    """The blocks marked ``<!-- file: NAME -->`` on the block's page, above it."""
    out = {}
    for other in blocks(block.page):
        if other.line < block.line and (named := FILE.fullmatch(other.marker.strip())):
            out[named.group(1)] = other.text
    return out


def environment(home: Path) -> dict[str, str]:
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("TALLYWATCH_")
        and name not in {"CREDENTIALS_DIRECTORY", "STATE_DIRECTORY", "NOTIFY_SOCKET", "JOURNAL_STREAM"}
        and name.lower() not in {"http_proxy", "https_proxy", "all_proxy", "no_proxy"}
    }
    venv = Path(sys.executable).parent  # not resolved: the venv's bin, not the interpreter it links to
    pythonpath = [str(ROOT / "src"), *filter(None, env.get("PYTHONPATH", "").split(os.pathsep))]
    return {
        **env,
        "PATH": f"{venv}{os.pathsep}{env.get('PATH', '')}",
        "PYTHONPATH": os.pathsep.join(pythonpath),
        "HOME": str(home),
        "XDG_STATE_HOME": str(home / ".local" / "state"),
        "XDG_CONFIG_HOME": str(home / ".config"),
        **{
            name: NOWHERE
            for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")
        },
        **{name: "127.0.0.1,localhost,::1" for name in ("NO_PROXY", "no_proxy")},
        "PYTHONUNBUFFERED": "1",
    }


def shown(expected: str, printed: str) -> bool:
    """The expected lines appear one after another in ``printed``; ``…`` stands for any text."""
    want = [
        re.compile("".join(".*" if part == "…" else re.escape(part) for part in re.split("(…)", line.rstrip())) + r"\Z")
        for line in expected.rstrip("\n").splitlines()
    ]
    got = [line.rstrip() for line in printed.splitlines()]
    return any(
        all(w.match(g) for w, g in zip(want, got[i : i + len(want)], strict=True))
        for i in range(len(got) - len(want) + 1)
    )


@pytest.mark.parametrize("block", runnable(), ids=lambda b: b.name)
def test_a_runnable_block_runs_and_prints_what_the_docs_show(block, tmp_path):
    assert block.language == "sh", f"{block.name}: only ```sh blocks can be marked runnable, not ```{block.language}"
    assert (Path(sys.executable).parent / "tallywatch").exists(), f"no tallywatch beside {sys.executable}"
    work = tmp_path / "work"
    work.mkdir()
    for name, text in files_before(block).items():
        (work / name).write_text(text, encoding="utf-8")
    done = subprocess.run(
        ["bash", "-e", "-o", "pipefail", "-c", block.text],
        cwd=work,
        env=environment(tmp_path / "home"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, (
        f"{block.name}: exit {done.returncode}\n{block.text}\n-- stdout:\n{done.stdout[-3000:]}\n-- stderr:\n{done.stderr[-3000:]}"
    )
    if block.output:
        assert shown(block.output.text, done.stdout) or shown(block.output.text, done.stderr), (
            f"{block.name}: the docs show (line {block.output.line})\n{block.output.text}"
            f"-- but it printed on stdout:\n{done.stdout[:3000]}\n-- and on stderr:\n{done.stderr[:3000]}"
        )


def test_there_are_runnable_blocks_and_every_marker_is_spelled_right():
    """A misspelt marker would quietly leave a block untested; too few would make the test above idle."""
    names = [b.name for b in runnable()]
    assert len(names) >= 5, names
    for page in PAGES:
        for line in prose(page):
            if "<!--" in line and ("runnable" in line or "file:" in line):
                assert line.strip() == RUNNABLE or FILE.fullmatch(line.strip()), f"{page.name}: {line!r}"


def test_the_output_check_is_not_fooled():
    assert shown("# a: valid\n# b", "{\n}\n# a: valid\n# b\n")
    assert shown("# replay 2022 … 2026: 3 events", "# replay 2022 … 2026: 3 events\n")
    assert not shown("# a: valid\n# b", "# a: valid\nsomething\n# b\n")
    assert not shown("# sources: 7", "# sources: 6\n")


def slug(heading: str) -> str:
    """The anchor GitHub gives a heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    seen: dict[str, int] = {}
    out = set()
    for line in prose(page):
        if heading := re.match(r"#{1,6} (.+)", line):
            base = slug(heading.group(1))
            n = seen.get(base, 0)
            seen[base] = n + 1
            out.add(base if n == 0 else f"{base}-{n}")
        out.update(re.findall(r'<a (?:id|name)="([^"]+)"', line))
    return out


def prose(page: Path) -> list[str]:
    """The page's lines outside code blocks, with inline code taken out."""
    out, fence = [], None
    for line in page.read_text(encoding="utf-8").splitlines():
        if match := FENCE.match(line.strip()) if fence is None else None:
            fence = match.group(1)
            continue
        if fence is not None:
            if line.strip() == fence:
                fence = None
            continue
        out.append(re.sub(r"(`+)(?:(?!\1).)+?\1", "", line))
    return out


def links(page: Path) -> list[str]:
    text = "\n".join(prose(page))  # a link's text may wrap onto the next line
    return re.findall(r"\]\(([^)\s]+)\)", text)


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_leads_to_a_file_and_anchor_that_exist(page):
    wrong = []
    for target in links(page):
        if re.match(r"[a-z]+:", target):  # https:, mailto:
            continue
        path, _, anchor = target.partition("#")
        goal = (page.parent / path).resolve() if path else page
        if not goal.exists():
            wrong.append(f"{target}: no file {goal}")
        elif anchor and goal.suffix == ".md" and anchor not in anchors(goal):
            wrong.append(f"{target}: no heading #{anchor} in {goal.relative_to(ROOT)}")
    assert not wrong, f"{page.relative_to(ROOT)}:\n" + "\n".join(wrong)


@pytest.mark.parametrize("page", PAGES[1:], ids=lambda p: str(p.relative_to(ROOT)))
def test_each_docs_page_starts_with_a_contents_list_of_its_sections(page):
    lines = prose(page)
    first = next(i for i, line in enumerate(lines) if line.startswith("## "))
    listed = {m for line in lines[:first] if line.startswith("- [") for m in re.findall(r"\]\(#([^)]+)\)", line)}
    sections = {slug(line[3:]) for line in lines if line.startswith("## ")}
    assert sections and listed == sections, f"contents {sorted(listed)} ≠ sections {sorted(sections)}"


def test_the_readme_is_short_and_links_every_docs_page():
    text = README.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= MAX_README_LINES
    for page in PAGES[1:]:
        assert f"(docs/{page.name})" in text, f"README.md does not link docs/{page.name}"


def test_the_quick_start_test_command_is_the_one_ci_runs():
    quick = [b.text.strip() for b in blocks(README) if b.language == "sh"][:2]
    assert quick[0] == "python3 -m venv .venv && .venv/bin/pip install -q -e . && .venv/bin/tallywatch demo"
    assert quick[1] in (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()


def test_the_quick_start_shows_what_the_demo_prints():
    """The Quick start's sample is the output of the demo block that runs (docs/benchmarks.md)."""
    sample = next(b for b in blocks(README) if b.language == "")
    demo = next(b for b in runnable() if b.text.startswith("tallywatch demo"))
    assert demo.output and sample.text == demo.output.text
