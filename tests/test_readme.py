"""The README's commands run as written: every ``python train.py …`` line in its code blocks is
checked exactly as a run would check it, with ``dry_run=true`` (so nothing trains), and exits 0
— or, where the README shows a refusal (``$ command`` then its output), exits 2 with that
output. The pages' single-run commands pass the same check in-process, and the getting-started
page's set-up commands are the README's."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO, hydra_cfg

from initlab.training.spec import ValidateBeforeRun

FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.S | re.M)


def code_lines(page: Path) -> list[str]:
    """The lines of ``page``'s code blocks, a command continued with ``\\`` joined into one."""
    blocks = (block.replace("\\\n", " ") for block in FENCE.findall(page.read_text()))
    return [line for block in blocks for line in block.splitlines()]


def commands(page: Path, program: str) -> list[tuple[list[str], str | None]]:
    """``program``'s command lines in ``page``'s code blocks, as argument lists (comments
    dropped), each with the output the page shows after a ``$ `` prompt (or None)."""
    lines = code_lines(page)
    found = []
    for i, line in enumerate(lines):
        shown = line.removeprefix("$ ")
        if not shown.startswith(program):
            continue
        args = shlex.split(shown, comments=True)[len(program.split()) :]
        output = lines[i + 1] if line.startswith("$ ") and i + 1 < len(lines) else None
        found.append((args, output))
    return found


README_RUNS = commands(REPO / "README.md", "python train.py")


def test_the_readme_shows_the_commands_that_matter():
    assert len(README_RUNS) >= 6
    assert any("-m" in args for args, _ in README_RUNS)  # a sweep
    assert any(out for _, out in README_RUNS)  # a refusal, with its message
    others = [line for line in code_lines(REPO / "README.md") if line.startswith("python -m ")]
    assert {line.split()[2] for line in others} >= {"initlab.report", "initlab.reproduce"}


@pytest.mark.slow
@pytest.mark.parametrize("args, output", README_RUNS, ids=[" ".join(a) for a, _ in README_RUNS])
def test_every_readme_run_passes_its_check_as_written(tmp_path, args, output):
    dry = [] if "dry_run=true" in args else ["dry_run=true"]
    proc = subprocess.run(
        [sys.executable, str(REPO / "train.py"), *args, *dry],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if output is not None:  # the README shows it refused
        assert proc.returncode == 2 and output in proc.stderr, proc.stderr
    else:
        assert proc.returncode == 0, proc.stderr
        assert "dry run: " in proc.stdout
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_the_readmes_list_command_runs_as_written():
    (args, _), *_ = commands(REPO / "README.md", "python -m initlab.list")
    proc = subprocess.run(
        [sys.executable, "-m", "initlab.list", *args], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("init=")


# What this machine may lack (a GPU, files that need a download) is checked where the command
# runs; the extending page's commands use what its recipes add (tests/test_extending.py).
ELSEWHERE = ("trainer=gpu", "trainer=ddp", "dataset=cifar10", "dataset=mnist")


def _single_runs() -> list[tuple[str, list[str]]]:
    found = []
    for page in sorted((REPO / "docs").glob("*.md")):
        if page.name == "extending.md":
            continue
        for args, output in commands(page, "python train.py"):
            if "--cfg" in args:  # Hydra's own flag and its value
                i = args.index("--cfg")
                args = args[:i] + args[i + 2 :]
            elsewhere = set(ELSEWHERE) & set(args) or any("<" in a for a in args)
            if output is None and "-m" not in args and not elsewhere:
                found.append((page.name, args))
    return found


@pytest.mark.parametrize("page, args", _single_runs(), ids=lambda v: str(v))
def test_every_single_run_in_the_pages_passes_the_runs_check(page, args, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # a relative data_dir or target is the reader's, not ours
    overrides = [a for a in args if a != "dry_run=true"]
    ValidateBeforeRun().check(hydra_cfg(*overrides))


def test_the_getting_started_page_sets_up_as_the_readme_does():
    def setup(page: Path) -> list[str]:
        return [line for line in code_lines(page) if line.startswith("sudo apt-get update")]

    assert setup(REPO / "docs" / "getting-started.md") == setup(REPO / "README.md")
    assert len(setup(REPO / "README.md")) == 2
