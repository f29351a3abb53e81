"""The package's layering, as each subpackage's docstring states it, read from the imports.

Every subpackage of ``src/initlab/`` says in its ``__init__`` docstring which modules it holds
(each named as ``name``) and, on a ``May import:`` line, which other subpackages (or single
modules, ``training.record``) its modules may import. This test reads every import of every
module with ``ast`` (those inside functions too) and fails on one the line does not allow, on
a cycle between subpackages, and on anything that imports the entry point ``train.py``. No two
source files share a name (DESIGN.md, Layout).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "initlab"
SUBPACKAGES = sorted(p.parent.name for p in PACKAGE.glob("*/__init__.py"))
ANYTHING_BUT_ENTRIES = "anything but the entry points"
ENTRIES = (
    "initlab.probe",
    "initlab.report",
    "initlab.reproduce",
    "initlab.list",
    "initlab.coord_check",
)


def docstring(sub: str) -> str:
    return ast.get_docstring(ast.parse((PACKAGE / sub / "__init__.py").read_text())) or ""


def allowed(sub: str) -> list[str] | None:
    """The subpackages (or modules) ``sub`` may import; None: anything but the entry points."""
    found = re.search(r"^May import: (.+?)\.$", docstring(sub), re.M)
    assert found, f"initlab/{sub}/__init__.py: no 'May import: ….' line in its docstring"
    said = found.group(1)
    if said == ANYTHING_BUT_ENTRIES:
        return None
    return [] if said == "nothing" else [s.strip() for s in said.split(",")]


def imported(source: str) -> list[str]:
    """Every ``initlab`` module or name ``source`` imports, wherever the import stands
    (``from a.b import c`` as ``a.b.c``: ``c`` may be a module of ``a.b``)."""
    names = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names += [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names += [a.name for a in node.names]
    return [n for n in names if n == "initlab" or n.startswith("initlab.")]


def violations(sub: str, source: str, rules: list[str] | None) -> list[str]:
    """The imports in ``source`` (a module of ``sub``) that ``rules`` does not allow."""
    bad = []
    for name in imported(source):
        parts = name.split(".")
        if len(parts) < 2 or parts[1] == sub:
            continue  # within the subpackage (or the bare package, for its import statement)
        if rules is None:
            if name.startswith(ENTRIES):
                bad.append(name)
        elif parts[1] not in rules and ".".join(parts[1:3]) not in rules:
            bad.append(name)
    return bad


@pytest.mark.parametrize("sub", SUBPACKAGES)
def test_a_subpackage_imports_only_what_its_docstring_allows(sub):
    rules = allowed(sub)
    for path in sorted((PACKAGE / sub).rglob("*.py")):
        bad = violations(sub, path.read_text(), rules)
        assert not bad, f"{path.relative_to(SRC)} imports {bad}; initlab/{sub} may import {rules}"


@pytest.mark.parametrize("sub", SUBPACKAGES)
def test_a_subpackages_docstring_names_each_of_its_modules(sub):
    text = docstring(sub)
    for path in sorted((PACKAGE / sub).glob("*.py")):
        if path.stem != "__init__":
            assert f"``{path.stem}``" in text, (
                f"initlab/{sub}/__init__.py does not name {path.stem}"
            )


def test_the_layers_have_no_cycle():
    """A topological order of the subpackages exists: each imports only those before it."""
    edges = {}
    for sub in SUBPACKAGES:
        rules = allowed(sub)
        edges[sub] = set(SUBPACKAGES if rules is None else [r.split(".")[0] for r in rules]) - {sub}
    order: list[str] = []
    while len(order) < len(edges):
        ready = [s for s in edges if s not in order and edges[s] <= set(order)]
        assert ready, f"a cycle among {sorted(set(edges) - set(order))}"
        order += sorted(ready)
    assert order.index("runtime") < order.index("models") < order.index("training")


def test_models_and_initializers_never_import_training():
    for sub in ("runtime", "config", "models", "data", "initializers", "diagnostics"):
        rules = allowed(sub)
        assert rules is not None and "training" not in rules, sub


def test_nothing_imports_the_entry_point():
    repo = SRC.parent
    for path in [
        *SRC.rglob("*.py"),
        *(repo / "tests").rglob("*.py"),
        *(repo / "scripts").glob("*.py"),
    ]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                assert "train" not in [a.name for a in node.names], path
            if isinstance(node, ast.ImportFrom):
                assert node.module != "train", path


def test_the_check_finds_an_import_that_breaks_the_layering():
    source = "def f():\n    from initlab.training.run import run\n"
    assert violations("models", source, allowed("models")) == ["initlab.training.run.run"]
    assert (
        violations("reporting", "from initlab.training import record", allowed("reporting")) == []
    )
    assert violations("reporting", "from initlab.training.spec import build", allowed("reporting"))
    assert violations("reproductions", "import initlab.probe", None) == ["initlab.probe"]


def test_no_two_source_files_share_a_name():
    names: dict[str, list[str]] = {}
    for path in SRC.rglob("*.py"):
        if path.name != "__init__.py" and "egg-info" not in str(path):
            names.setdefault(path.name, []).append(str(path.relative_to(SRC)))
    assert {n: p for n, p in names.items() if len(p) > 1} == {}
