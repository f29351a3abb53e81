"""Nothing a user sees changes: a fixed set of runs ends with the very numbers recorded in
``tests/fixtures/fixed_runs.json`` — every metric in ``metrics.json``, every TensorBoard scalar,
``init_plan.json``, the probe's table and the report's summary, compared bit for bit, and the
names of the files each run leaves.

The set: one digits run per model (``train.py``), a population sweep of 4 jobs, a probe and the
report of that sweep. Timings (``fit_seconds``, the report's fit-time column) are left out: they
are measured, not computed. Torch runs on one thread so that the numbers do not depend on the
machine's core count, with AVX2's kernels (ATen's, MKL's and oneDNN's) so that they do not
depend on its instruction set (an AVX-512 machine sums in wider vectors, in another order, and
training magnifies the last bit: a deep net's mean activation moved by 5%), and with MKL's
``MKL_CBWR=COMPATIBLE`` so that its matrix products do not depend on the CPU's maker. A
reference recorded on an AVX2 machine reproduced bit for bit on an AVX-512 AMD EPYC under the
first two; the reference is recorded under all three.

Regenerate the reference only when a change is *meant* to change a number, and say so in the
commit: ``python tests/training/test_fixed_runs.py --record``.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

REPO = Path(__file__).resolve().parents[2]
REFERENCE = REPO / "tests" / "fixtures" / "fixed_runs.json"
QUICK = ["dataset=digits", "trainer.max_epochs=1", "trainer.progress_bar=none"]
SMALL = {  # each model small enough for a one-epoch digits run in seconds
    "mlp": ["model.hidden=[32,16]"],
    "deep_mlp": ["model.depth=4", "model.width=32", "model.batch_norm=true"],
    "cnn": ["model.channels=[4,8]", "model.hidden=16", "model.dropout=0.25"],
    "resnet": ["model.depth=8", "model.width=4", "model.norm=none", "init=fixup"],
    "vit": ["model.depth=2", "model.width=16", "model.heads=2"],
    "rnn": ["model.cell=lstm", "model.hidden=16", "init=orthogonal"],
}
POPULATION = ["-m", "hydra/launcher=population", "init=he,xavier", "seed=0,1"]
VOLATILE = {"fit_seconds"}  # measured, not computed
PINNED = {  # one thread, and AVX2's kernels on every x86 machine (see the docstring)
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "ATEN_CPU_CAPABILITY": "avx2",
    "MKL_ENABLE_INSTRUCTIONS": "AVX2",
    "MKL_CBWR": "COMPATIBLE",  # MKL's reproducibility mode across Intel and other CPUs
    "ONEDNN_MAX_CPU_ISA": "AVX2",
}


def _run(args: list[str], cwd: Path) -> None:
    env = {**os.environ, **PINNED}
    proc = subprocess.run(
        [sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=900
    )
    assert proc.returncode == 0, f"{' '.join(args)}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"


def _scalars(folder: Path) -> dict[str, list[list]]:
    events = EventAccumulator(str(folder), size_guidance={"scalars": 0})
    events.Reload()
    return {
        tag: [[e.step, e.value] for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]
    }


def _record(folder: Path) -> dict:
    record = json.loads((folder / "metrics.json").read_text())
    for key in VOLATILE:
        record.pop(key, None)
    if "population" in record:  # its time, and its torch threads: the machine's cores
        record["population"].pop("fit_seconds", None)
        record["population"].pop("threads", None)
    return record


def _files(folder: Path) -> list[str]:
    """Every file the run left, by path; an event file's name holds a time and a pid."""
    names = []
    for path in folder.rglob("*"):
        if path.is_file():
            name = path.relative_to(folder).as_posix()
            names.append("events.out.tfevents.*" if ".tfevents." in name else name)
    return sorted(names)


def _run_folder(folder: Path) -> dict:
    return {
        "files": _files(folder),
        "record": _record(folder),
        "plan": json.loads((folder / "init_plan.json").read_text()),
        "scalars": _scalars(folder),
    }


def _csv(path: Path, drop: tuple[str, ...] = ()) -> list[dict]:
    with path.open() as f:
        return [{k: v for k, v in row.items() if k not in drop} for row in csv.DictReader(f)]


def fixed_runs(root: Path) -> dict:
    """Run the fixed set into ``root`` and return everything it recorded."""
    train = str(REPO / "train.py")
    results: dict = {"runs": {}}
    for model, extra in SMALL.items():
        folder = root / "runs" / model
        _run([train, *QUICK, f"model={model}", *extra, f"hydra.run.dir={folder}"], REPO)
        results["runs"][model] = _run_folder(folder)

    sweep = root / "population"
    _run([train, *POPULATION, *QUICK, "model.hidden=[32]", f"hydra.sweep.dir={sweep}"], REPO)
    results["population"] = {
        job.name: _run_folder(job)
        for job in sorted(sweep.iterdir())
        if job.is_dir()
        if (job / "metrics.json").exists()
    }

    probe = root / "probe"
    _run(
        [
            "-m", "initlab.probe", "dataset=digits", "model=deep_mlp", "model.depth=5",
            "model.width=64", "init=small_normal", "activation=tanh", f"hydra.run.dir={probe}",
        ],
        REPO,
    )  # fmt: skip
    results["probe"] = {
        "files": _files(probe),
        "table": _csv(probe / "probe.csv"),
        "record": _record(probe),
    }

    _run(["-m", "initlab.report", str(sweep)], REPO)
    summary = _csv(sweep / "report" / "summary.csv")
    timing = [k for k in (summary[0] if summary else {}) if "fit" in k]
    results["report"] = [{k: v for k, v in row.items() if k not in timing} for row in summary]
    return results


def test_the_fixed_runs_compute_with_avx2_kernels_on_any_x86_machine():
    code = "import torch; print(torch.backends.cpu.get_cpu_capability())"
    env = {**os.environ, **PINNED}
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert proc.stdout.strip() == "AVX2", proc.stdout + proc.stderr


@pytest.mark.slow
def test_the_fixed_runs_end_with_the_recorded_numbers(tmp_path):
    expected = json.loads(REFERENCE.read_text())
    got = json.loads(json.dumps(fixed_runs(tmp_path)))  # the same types as the file's
    assert got.keys() == expected.keys()
    for part in expected:
        if isinstance(expected[part], dict):
            assert got[part].keys() == expected[part].keys(), part
            for name in expected[part]:
                assert got[part][name] == expected[part][name], f"{part}/{name} changed"
        else:
            assert got[part] == expected[part], f"{part} changed"


if __name__ == "__main__":
    if sys.argv[1:] != ["--record"]:
        sys.exit("usage: python tests/training/test_fixed_runs.py --record")
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        REFERENCE.parent.mkdir(exist_ok=True)
        REFERENCE.write_text(json.dumps(fixed_runs(Path(tmp)), indent=1, sort_keys=True) + "\n")
    print(f"wrote {REFERENCE}")
