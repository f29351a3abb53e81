"""scripts/gpu_check.sh, small, on the CPU: the GPU check's own code runs end to end and prints
its table (on a GPU machine the same script runs the full grid; docs/benchmarks.md: GPU)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from conftest import REPO


@pytest.mark.slow
def test_the_gpu_check_runs_small_on_a_cpu(tmp_path):
    env = {
        **os.environ,
        "PYTHON": sys.executable,
        "ACCEL": "cpu",
        "GPU_JOBS": "2",
        "DATASET": "digits",
        "EPOCHS": "1",
        "ACTIVATIONS": "relu,tanh",
        "INITS": "he,xavier",
        "SEQUENTIAL": "2",
        "OUT": str(tmp_path),
    }
    proc = subprocess.run(
        ["bash", str(REPO / "scripts" / "gpu_check.sh")],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    rows = [line for line in proc.stdout.splitlines() if line.startswith("| ")][1:]
    jobs = {row.split("|")[1].strip(): row.split("|")[2:4] for row in rows}
    assert [(n.strip(), s.strip()) for n, s in jobs.values()] == [
        ("1", "1 completed"),
        ("3", "3 completed"),
        ("4", "4 completed"),  # he, xavier × relu, tanh: two populations of two
        ("2", "2 completed"),
    ]
    assert "population throughput / sequential:" in proc.stdout
    log = (tmp_path / "population.log").read_text()
    assert "4 jobs as 2 populations" in log
