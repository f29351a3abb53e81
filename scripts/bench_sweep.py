"""Per-job overhead of a sweep: what a job costs beyond its own training.

Runs ``python train.py -m seed=range(0,N) trainer.max_epochs=1 [overrides]`` (N = ``--jobs``,
default 20) in a subprocess, the way a user would, and compares the wall time with the training
time the jobs report (``fit_seconds`` in each metrics.json: setup, training, validation):

    overhead per job = (wall time × workers − Σ fit_seconds) / jobs

which counts process start-up, imports, data loading, testing and writing results, spread over
the jobs. Workers: 1 for the basic launcher, ``hydra.launcher.n_jobs`` (default: the cores) for
joblib, whose workers stay alive between jobs. The same split into the one-time start-up (from
the command to the first job's start, when Hydra writes its ``.hydra/config.yaml``) and the
per-job part (from the first job's start to the last ``metrics.json``) shows what each job
costs once the sweep is running:

    per-job overhead = ((last end − first start) × workers − Σ fit_seconds) / jobs

    python scripts/bench_sweep.py                         # basic launcher, FashionMNIST
    python scripts/bench_sweep.py --launcher joblib
    python scripts/bench_sweep.py --jobs 10 dataset=digits
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import joblib

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=20)
    parser.add_argument("--launcher", choices=["basic", "joblib"], default="basic")
    parser.add_argument("--n-jobs", type=int, default=-1, help="joblib workers (-1: cores)")
    parser.add_argument("overrides", nargs="*", help="train.py overrides, e.g. dataset=digits")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        command = [
            sys.executable,
            str(REPO / "train.py"),
            "-m",
            f"seed=range(0,{args.jobs})",
            "trainer.max_epochs=1",
            "trainer.progress_bar=none",
            f"hydra.sweep.dir={tmp}",
            *args.overrides,
        ]
        workers = 1
        if args.launcher == "joblib":
            command += ["hydra/launcher=joblib", f"hydra.launcher.n_jobs={args.n_jobs}"]
            workers = joblib.effective_n_jobs(args.n_jobs)
        start, began = time.perf_counter(), time.time()
        proc = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
        wall = time.perf_counter() - start
        records = [json.loads(p.read_text()) for p in Path(tmp).glob("*/metrics.json")]
        first = min(p.stat().st_mtime for p in Path(tmp).glob("*/.hydra/config.yaml"))
        last = max(p.stat().st_mtime for p in Path(tmp).glob("*/metrics.json"))
    summary = [line for line in proc.stdout.splitlines() if line.startswith("sweep:")]
    if proc.returncode != 0 or len(records) != args.jobs:
        print(proc.stdout[-3000:], proc.stderr[-3000:], sep="\n")
        sys.exit(f"the sweep failed (exit {proc.returncode}, {len(records)} results)")
    fit = sum(r["fit_seconds"] for r in records)
    overhead = (wall * workers - fit) / args.jobs
    print(
        f"{args.jobs} jobs, {args.launcher} launcher, {workers} worker(s), {os.cpu_count()} cores"
    )
    print(*summary, sep="\n")
    print(f"wall {wall:.1f} s; training (Σ fit_seconds) {fit:.1f} s, {fit / args.jobs:.2f} s a job")
    print(f"overhead per job, start-up included: {overhead:.2f} s")
    running = ((last - first) * workers - fit) / args.jobs
    print(f"one-time start-up {first - began:.1f} s; then overhead per job {running:.2f} s")


if __name__ == "__main__":
    main()
