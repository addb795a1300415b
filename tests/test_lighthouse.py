"""Lighthouse 100 in all four categories (issue 29, item 6): performance, accessibility, best
practices and SEO, as a phone sees them (Lighthouse's mobile form factor, its simulated slow 4G
and CPU), on ``/`` and ``/uk/`` of a page with a report (the real June 2025 data, served on
127.0.0.1 by the real web server).

The npm package ``lighthouse``, pinned to 12.2.3 (the newest that runs on Debian's Node 20),
drives Debian's chromium. ``.ci/run`` installs both, as it installs chromium for the page's
browser test; here::

    npm install --prefix .cache/lighthouse --no-audit --no-fund lighthouse@12.2.3

The test never installs anything (a test stays off the internet): without node, that install or
chromium it is skipped, saying which is missing. One Lighthouse run per address; a failure lists
every audit that cost points, with what it measured, and the full report is left in the test's
temporary folder. The page's pictures are fetched once before: the daemon draws them once per
report version, for its first visitor, and Lighthouse stands for the visitors after."""

from __future__ import annotations

import asyncio
import html
import json
import os
import re
import shutil
import signal
from pathlib import Path

import pytest
from webapp import june_database, serve

VERSION = "12.2.3"
INSTALLED = Path(os.environ.get("TALLYWATCH_LIGHTHOUSE", Path(__file__).resolve().parents[1] / ".cache" / "lighthouse"))
CLI = INSTALLED / "node_modules" / "lighthouse" / "cli" / "index.js"
NODE = shutil.which("node")
CHROMIUM = os.environ.get("CHROME_PATH") or shutil.which("chromium") or shutil.which("chromium-browser")
PATHS = ("/", "/uk/")
CATEGORIES = ("performance", "accessibility", "best-practices", "seo")


def _missing() -> str | None:
    if NODE is None:
        return "no node here (Debian's nodejs; .ci/run installs it with npm and lighthouse)"
    if CHROMIUM is None:
        return "no chromium here (.ci/run installs Debian's)"
    if not CLI.is_file():
        return f"lighthouse is not installed in {INSTALLED} (npm install --prefix {INSTALLED} lighthouse@{VERSION})"
    found = json.loads((CLI.parents[1] / "package.json").read_text())["version"]
    if found != VERSION:
        return (
            f"lighthouse {found} in {INSTALLED}, not {VERSION} (npm install --prefix {INSTALLED} lighthouse@{VERSION})"
        )
    return None


def lost_points(report: dict) -> dict[str, list[str]]:
    """For each category under 100: its score and each audit in it that scored under 1, with what it found."""
    lost = {}
    for name, category in report["categories"].items():
        if category["score"] == 1:
            continue
        lines = [f"score {round(100 * (category['score'] or 0))}"]
        for ref in category["auditRefs"]:
            audit = report["audits"][ref["id"]]
            if audit["score"] is not None and audit["score"] < 1 and audit["scoreDisplayMode"] != "informative":
                shown = f" ({audit['displayValue']})" if audit.get("displayValue") else ""
                lines.append(f"{ref['id']} [weight {ref['weight']}]: {audit['score']}{shown} — {audit['title']}")
        lost[name] = lines
    return lost


async def lighthouse(url: str, out: Path) -> dict:
    """One Lighthouse run (mobile, the default form factor) on ``url``; its JSON report."""
    proc = await asyncio.create_subprocess_exec(
        NODE,
        str(CLI),
        url,
        "--output=json",
        f"--output-path={out}",
        f"--only-categories={','.join(CATEGORIES)}",
        "--form-factor=mobile",
        "--quiet",
        # as root in CI; headless; /dev/shm is small in containers
        "--chrome-flags=--headless=new --no-sandbox --disable-gpu --disable-dev-shm-usage --no-first-run",
        env={**os.environ, "CHROME_PATH": CHROMIUM},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=True,  # its chromium in its process group: both ended if it hangs
    )
    try:
        _out, stderr = await asyncio.wait_for(proc.communicate(), timeout=240)
    finally:
        if proc.returncode is None:
            os.killpg(proc.pid, signal.SIGKILL)
            await proc.wait()
    assert proc.returncode == 0, f"lighthouse on {url} exited {proc.returncode}:\n{stderr.decode()[-3000:]}"
    return json.loads(out.read_text())


@pytest.mark.skipif(_missing() is not None, reason=_missing() or "")
def test_lighthouse_gives_the_page_100_in_every_category_in_both_languages(tmp_path):
    june = june_database(tmp_path)

    async def steps(client, pipeline):
        origin = str(client.base_url).rstrip("/")
        for path in PATHS:  # drawn once per report version, as the daemon does for its first visitor
            page = (await client.get(path)).text
            for picture in re.findall(r'<img[^>]* src="(/[^"]+)"', page):
                assert (await client.get(html.unescape(picture))).status_code == 200, picture
        return {
            path: await lighthouse(origin + path, tmp_path / f"lighthouse{path.replace('/', '-')}json")
            for path in PATHS
        }

    reports = serve(june, steps)
    problems = []
    for path, report in reports.items():
        assert report["lighthouseVersion"] == VERSION
        assert report["configSettings"]["formFactor"] == "mobile"
        assert set(report["categories"]) == set(CATEGORIES)
        if report.get("runtimeError"):
            problems.append(f"{path}: {report['runtimeError']}")
        for name, lines in lost_points(report).items():
            problems.append(f"{path} {name}: " + "\n    ".join(lines))
    assert not problems, "\n".join(problems) + f"\n(the reports: {tmp_path})"
