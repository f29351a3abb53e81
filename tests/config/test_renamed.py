"""A renamed option is refused with a pointer to its new name, on the command line (before Hydra
fails to find its file) and from Python, and the new name works."""

from __future__ import annotations

import pytest
from conftest import train

import initlab
from initlab.config.errors import ConfigError
from initlab.config.renamed import check_overrides

POINTER = "init=zero: renamed init=zero_hadamard: ZerO (Zhao et al., 2022)"


@pytest.mark.parametrize(
    "args",
    [
        ["init=zero"],
        ["-m", "init=he,zero", "activation=relu"],
        ["+x=1", "init=zero", "--cfg", "job"],
    ],
)
def test_the_old_name_is_refused_with_a_pointer(args, capsys):
    with pytest.raises(SystemExit) as stopped:
        check_overrides(args)
    assert stopped.value.code == 2
    assert capsys.readouterr().err.startswith(f"initlab: invalid config: {POINTER}")


@pytest.mark.parametrize(
    "args", [["init=zeros"], ["init=zero_hadamard"], ["-m", "init=glob(*)"], ["init=he,"], []]
)
def test_other_names_and_hydras_own_syntax_errors_pass(args):
    check_overrides(args)  # Hydra reports a syntax error itself


def test_from_python_the_old_name_points_at_the_new_one():
    with pytest.raises(ConfigError, match="renamed init=zero_hadamard"):
        initlab.get_initializer("zero")
    assert initlab.get_initializer("zero_hadamard").name == "zero_hadamard"


def test_the_command_line_refuses_the_old_name_and_runs_the_new_one(tmp_path):
    proc = train(tmp_path, "init=zero")
    assert proc.returncode == 2 and proc.stderr.startswith(f"initlab: invalid config: {POINTER}")
    assert list(tmp_path.iterdir()) == []
    proc = train(tmp_path, "init=zero_hadamard", "dry_run=true")
    assert proc.returncode == 0, proc.stderr
