"""Every entry the package has runs: ``python -m initlab.<entry>`` and its console script."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# pyproject.toml's [project.scripts] table (tomllib is Python ≥ 3.11; initlab supports 3.10)
TABLE = (REPO / "pyproject.toml").read_text().split("[project.scripts]")[1].split("\n[")[0]
SCRIPTS = dict(re.findall(r'^([\w-]+) = "([\w.:]+)"', TABLE, re.M))


def test_each_entry_module_has_a_console_script():
    entries = {target.split(":")[0] for target in SCRIPTS.values()}
    assert entries == {
        "initlab.probe",
        "initlab.report",
        "initlab.reproduce",
        "initlab.list",
        "initlab.coord_check",
    }
    assert set(SCRIPTS) == {
        "initlab-probe",
        "initlab-report",
        "initlab-reproduce",
        "initlab-list",
        "initlab-coord-check",
    }


@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_a_console_script_and_its_module_answer_help(script, tmp_path):
    module = SCRIPTS[script].split(":")[0]
    installed = Path(sys.executable).parent / script
    for command in ([str(installed)], [sys.executable, "-m", module]):
        proc = subprocess.run(
            [*command, "--help"], cwd=tmp_path, capture_output=True, text=True, timeout=120
        )
        assert proc.returncode == 0, (command, proc.stderr[-2000:])
        assert proc.stdout.strip(), command
    assert not list(tmp_path.iterdir())  # help writes nothing
