"""``python -m initlab.theory``: ``name = value`` lines a script can read; bad values exit 2."""

import subprocess
import sys
from pathlib import Path

import pytest

from initlab.theory import phase_diagram
from initlab.theory.command import main

REPO = Path(__file__).resolve().parents[2]


def values(text: str) -> dict[str, str]:
    return dict(line.split(" = ", 1) for line in text.strip().splitlines())


def test_the_edge_of_chaos_from_the_command_line():
    done = subprocess.run(
        [sys.executable, "-m", "initlab.theory", "--activation", "tanh", "--sigma-b2", "0.05"],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert done.returncode == 0, done.stderr
    assert values(done.stdout) == {"critical_sigma_w2": "1.76095"}


def test_a_point_prints_every_prediction(capsys):
    args = ["--activation", "tanh", "--sigma-b2", "0.05", "--sigma-w2", "1.5", "--depth", "20"]
    assert main(args) == 0
    got = values(capsys.readouterr().out)
    assert got["phase"] == "ordered"
    assert float(got["chi1"]) == pytest.approx(0.939, abs=5e-4)
    assert float(got["xi_c"]) == pytest.approx(15.8, abs=0.05)
    assert float(got["trainable_depth"]) == pytest.approx(6 * float(got["xi_c"]), rel=1e-5)
    for key in ("q_star", "c_star", "xi_q", "jacobian_variance_orthogonal"):
        float(got[key])
    assert float(got["jacobian_variance_orthogonal"]) < float(got["jacobian_variance_gaussian"])


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--activation", "tanhh"], "--activation='tanhh': unknown; choose from relu,"),
        (["--sigma-b2", "-0.1"], "--sigma-b2=-0.1: must be a finite number ≥ 0"),
        (["--sigma-w2", "nan"], "--sigma-w2=nan"),
        (["--depth", "5"], "--depth=5: needs --sigma-w2"),
        (["--sigma-w2", "1", "--depth", "0"], "--depth=0: must be a whole number ≥ 1"),
    ],
)
def test_bad_values_exit_2_naming_the_option(args, said, capsys, tmp_path):
    plot = tmp_path / "phase.png"
    assert main([*args, "--plot", str(plot)]) == 2
    captured = capsys.readouterr()
    assert said in captured.err and captured.out == ""
    assert not plot.exists()  # refused before anything is computed or written


def test_the_phase_diagram_is_written(tmp_path):
    path = phase_diagram.save("tanh", tmp_path / "figures" / "tanh.png", columns=6, rows=3)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    g = phase_diagram.grid("relu", columns=5, rows=2)
    unbounded = g["sigma_w2"] > 2
    assert (g["xi_c"][:, unbounded] != g["xi_c"][:, unbounded]).all()  # nan: no fixed point
    assert (g["xi_c"][:, ~unbounded] > 0).all()
