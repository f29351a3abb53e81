"""The documentation: the MkDocs site builds with ``--strict`` (no broken link or anchor, no page
missing from the nav, no warning), the README stays a five-minute read with the test command
``.ci/run`` reads, and every relative link in the README and the pages reaches a file."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO

MARKER = "<!-- test-command -->"
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")  # [text](target) and ![alt](target)
FENCE = re.compile(r"^```.*?^```", re.S | re.M)


def pages() -> list[Path]:
    return [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]


def relative_links(page: Path) -> list[str]:
    text = FENCE.sub("", page.read_text())  # links inside code blocks are code
    targets = [m.group(1) for m in LINK.finditer(text)]
    return [t for t in targets if not re.match(r"[a-z]+:|#|/", t)]


def test_the_site_builds_strictly(tmp_path):
    pytest.importorskip("mkdocs")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert (tmp_path / "index.html").is_file()
    api = (tmp_path / "python-api" / "index.html").read_text()
    assert 'id="initlab.initializers.rules.variance_scaling"' in api  # mkdocstrings resolved it


def test_the_readme_is_short_and_keeps_the_test_command():
    text = (REPO / "README.md").read_text()
    assert len(text.splitlines()) <= 250
    after = text.split(MARKER, 1)[1].lstrip("\n").splitlines()
    assert after[0] == "```bash" and after[1].startswith("sudo apt-get update && ")
    assert after[1].endswith(".venv/bin/python -m pytest") and after[2] == "```"


def anchors(page: Path) -> set[str]:
    """The ids of a page's headings, as GitHub and MkDocs both make them for plain words."""
    headings = re.findall(r"^#+ (.+)$", FENCE.sub("", page.read_text()), re.M)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in headings}


@pytest.mark.parametrize("page", pages(), ids=lambda p: str(p.relative_to(REPO)))
def test_every_relative_link_reaches_a_file(page):
    """Also the heading a README link names."""
    missing = []
    for target in relative_links(page):
        path, _, anchor = target.partition("#")
        file = page.parent / path
        checked = anchor and page.name == "README.md"  # MkDocs checks the pages' own
        if not file.exists() or (checked and anchor not in anchors(file)):
            missing.append(target)
    assert not missing, missing
