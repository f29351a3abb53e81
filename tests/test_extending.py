"""The Extending recipes of docs/extending.md, followed literally: each code block is applied to a
copy of the repository by the file its first line names (a new file, "add at the end", "add to
NAME"), then the recipe's commands run there and must succeed; before the recipe, the same name
is refused."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO

BLOCK = re.compile(r"```(\w+)\n(.*?)```", re.S)
TARGET = re.compile(r"# (\S+)(?: — (.+))?$")
RECIPES = {  # heading -> an override that names what the recipe adds
    "A new initializer": "init=scaled_normal",
    "A new model": "model=wide",
    "A new dataset": "dataset=iris",
}


def recipe(heading: str) -> list[tuple[str, str]]:
    """The (language, body) of each code block under ``### heading`` in docs/extending.md."""
    text = (REPO / "docs" / "extending.md").read_text()
    start = text.index(f"### {heading}\n")
    end = min(i for i in (text.find("\n## ", start), text.find("\n### ", start + 1)) if i > 0)
    return BLOCK.findall(text[start:end])


def apply_block(root: Path, body: str) -> None:
    first, rest = body.split("\n", 1)
    path, action = TARGET.match(first).groups()
    target = root / path
    if action is None:  # a new file
        assert not target.exists(), path
        target.write_text(rest)
    elif action == "add at the end":
        target.write_text(target.read_text().rstrip("\n") + "\n\n\n" + rest)
    else:
        name = re.fullmatch(r"add to (\w+)", action).group(1)
        lines = target.read_text().splitlines(keepends=True)
        at = next(i for i, line in enumerate(lines) if re.match(rf"{name}\b.* = [\[{{]", line))
        target.write_text("".join(lines[: at + 1]) + rest + "".join(lines[at + 1 :]))


def run(root: Path, command: str) -> subprocess.CompletedProcess:
    argv = shlex.split(command)
    if argv[0] == "python":
        argv[0] = sys.executable
    env = {**os.environ, "PYTHONPATH": str(root / "src")}
    return subprocess.run(argv, cwd=root, env=env, capture_output=True, text=True, timeout=600)


@pytest.fixture
def copy(tmp_path) -> Path:
    root = tmp_path / "initlab"
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", ".pytest_cache")
    for part in ("src", "conf", "tests"):
        shutil.copytree(REPO / part, root / part, ignore=ignore)
    for part in ("train.py", "pyproject.toml", "README.md"):
        shutil.copy(REPO / part, root / part)
    return root


@pytest.mark.slow
@pytest.mark.parametrize("heading", list(RECIPES))
def test_the_recipe_works_as_written(heading, copy):
    blocks = recipe(heading)
    assert [lang for lang, _ in blocks][-1] == "bash"
    quick = "dataset=digits trainer.max_epochs=1 trainer.progress_bar=none"
    before = run(copy, f"python train.py {quick} {RECIPES[heading]}")
    assert before.returncode == 1 and "Could not find" in before.stderr, before.stderr[-2000:]
    for lang, body in blocks:
        if lang != "bash":
            apply_block(copy, body)
    for lang, body in blocks:
        if lang == "bash":
            for command in body.strip().splitlines():
                done = run(copy, command)
                assert done.returncode == 0, (command, done.stdout[-3000:], done.stderr[-3000:])
                if command.startswith("python -m pytest"):
                    assert re.search(r"\d+ passed", done.stdout) and "skipped" not in done.stdout
                else:
                    assert "] - completed: " in done.stdout, done.stdout[-2000:]
