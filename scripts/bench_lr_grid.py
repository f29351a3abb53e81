"""The yang2021 width × learning-rate grid with the population launcher against one job after
another (Hydra's basic launcher): wall time of each, and how far each job's training loss is
apart between the two.

The grid (default: the reproduction's whole grid, 180 nets): ``experiment=yang2021`` (an MLP of
two hidden layers on FashionMNIST, Adam, 300 steps), ``parametrization=sp,mup``, widths 64 to
1024, learning rates 2⁻¹⁴ … 2⁻⁶, seeds 0 and 1. Each sweep runs as a user runs it (``python
train.py -m …`` in a subprocess, wall time from start to exit), one after the other; run it on a
quiet machine (``uptime`` below ~0.5) with nothing else running.

    python scripts/bench_lr_grid.py
    python scripts/bench_lr_grid.py --widths 64 1024 --seeds 0            # an 18-job slice
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from initlab.reproductions.yang2021 import LOG2_LRS, WIDTHS

REPO = Path(__file__).resolve().parent.parent


def sweep(launcher: str, args) -> tuple[float, dict[str, float]]:
    """Wall seconds of the sweep, and each job's train/loss by its folder (its overrides)."""
    with tempfile.TemporaryDirectory() as tmp:
        command = [
            sys.executable,
            str(REPO / "train.py"),
            "-m",
            f"hydra/launcher={launcher}",
            "experiment=yang2021",
            f"parametrization={','.join(args.parametrizations)}",
            f"model.width={','.join(map(str, args.widths))}",
            f"optimizer.lr={','.join(map(repr, args.lrs))}",
            f"seed={','.join(map(str, args.seeds))}",
            f"hydra.sweep.dir={tmp}",
        ]
        start = time.perf_counter()
        subprocess.run(command, check=True, cwd=tmp, capture_output=True)
        wall = time.perf_counter() - start
        losses = {}
        for path in Path(tmp).glob("*/metrics.json"):
            losses[path.parent.name] = json.loads(path.read_text())["metrics"]["train/loss"]
    return wall, losses


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--widths", type=int, nargs="+", default=list(WIDTHS))
    parser.add_argument("--lrs", type=float, nargs="+", default=[2.0**k for k in LOG2_LRS])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--parametrizations", nargs="+", default=["sp", "mup"])
    parser.add_argument("--launchers", nargs="+", default=["population", "basic"])
    parser.add_argument(
        "--largest", type=int, default=5, help="how many of the largest gaps to print"
    )
    args = parser.parse_args()
    jobs = len(args.widths) * len(args.lrs) * len(args.seeds) * len(args.parametrizations)
    print(f"{jobs} jobs; load at the start: {os.getloadavg()[0]:.2f}")
    found = {}
    for launcher in args.launchers:
        found[launcher] = sweep(launcher, args)
        wall, losses = found[launcher]
        print(f"{launcher:>11}: {wall:7.1f} s ({len(losses)} jobs)")
    if len(found) == 2:
        (a, (wall_a, la)), (b, (wall_b, lb)) = found.items()
        gaps = {k: abs(la[k] - lb[k]) / max(abs(lb[k]), 1e-12) for k in la}
        print(f"{a} / {b}: {wall_a / wall_b:.2f}")
        print(f"largest relative train/loss gaps ({a} against {b}):")
        for job in sorted(gaps, key=gaps.get, reverse=True)[: args.largest]:
            print(f"  {gaps[job]:.1e}  {la[job]:.6g} {lb[job]:.6g}  {job}")
        print(f"median gap {statistics.median(gaps.values()):.1e}")
    print(f"load at the end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
