"""A grid with the population launcher against the basic and joblib launchers and the compute floor.

The grid (default): every closed-form initializer that applies to the default MLP × relu, 1 epoch
of FashionMNIST, seed 0 — each command run the way a user would (``python train.py -m …`` in a
subprocess, wall time from start to exit):

- ``population``: ``hydra/launcher=population`` (the jobs train together, one process);
- ``basic``: Hydra's basic launcher (one job after another, one process);
- ``joblib``: ``hydra/launcher=joblib`` (a worker per core);
- ``floor``: the compute alone — the same members (same seeds, initializers, batches), each trained
  for the epoch by a plain PyTorch loop in this process, no Lightning, no validation, no test, no
  logging; its time is the sum of the training loops.

Printed: each wall time, population / floor (target ≤ 1.25), joblib / population (target ≥ 1.4),
and the largest difference between each job's metrics under the population and basic launchers.
With ``--repeats N`` the order rotates and the medians of the paired ratios are shown.

    python scripts/bench_population.py
    python scripts/bench_population.py --repeats 3
    python scripts/bench_population.py --inits he,xavier dataset=digits     # a quick look
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

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from hydra import compose, initialize_config_dir

from initlab.config.hydra_conf import CONF_DIR
from initlab.data.batches import EpochShuffle
from initlab.initializers import apply
from initlab.training.spec import build

REPO = CONF_DIR.parent
# Made for other models (refused on an MLP) or data-dependent (calibrated on a batch):
NOT_CLOSED_FORM = [
    "irnn", "zero_gamma", "fixup", "skipinit", "gpt2", "t_fixup", "lsuv", "data_dependent", "dbn",
]  # fmt: skip


def sweep(launcher: str, inits: str, overrides: list[str]) -> tuple[float, dict]:
    """Wall seconds of the sweep, and each job's metrics by folder name."""
    with tempfile.TemporaryDirectory() as tmp:
        command = [
            sys.executable,
            str(REPO / "train.py"),
            "-m",
            f"init={inits}",
            "trainer.max_epochs=1",
            "trainer.progress_bar=none",
            f"hydra.sweep.dir={tmp}",
            *([f"hydra/launcher={launcher}"] if launcher != "basic" else []),
            *overrides,
        ]
        start = time.perf_counter()
        proc = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
        wall = time.perf_counter() - start
        if proc.returncode != 0:
            print(proc.stdout[-3000:], proc.stderr[-3000:], sep="\n")
            sys.exit(f"the {launcher} sweep failed (exit {proc.returncode})")
        results = {
            p.parent.name: json.loads(p.read_text()) for p in Path(tmp).glob("*/metrics.json")
        }
    return wall, results


def floor(names: list[str], overrides: list[str], nudge: bool = False) -> tuple[float, dict]:
    """Seconds of training compute: each member's epoch in a plain loop (data loaded once); and
    each member's test accuracy. ``nudge``: one weight of each member moved by one ulp first
    (how far rounding alone carries a job)."""
    torch.set_num_threads(os.cpu_count())
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        cfgs = [compose("config", [f"init={n}", "trainer.max_epochs=1", *overrides]) for n in names]
    specs = [build(c) for c in cfgs]
    dm = specs[0].datamodule
    dm.setup("fit")
    x, y = dm.splits["train"]
    total, accuracy = 0.0, {}
    for name, spec in zip(names, specs, strict=True):
        pl.seed_everything(spec.seed, verbose=False)
        net = spec.make_net()
        apply(spec.initializer, net, spec.seed, spec.datamodule.dataset.in_shape)
        if nudge:
            w = next(p for p in net.parameters() if p.dim() > 1).data
            w.view(-1)[0] = torch.nextafter(w.view(-1)[0], torch.tensor(float("inf")))
        optimizer = spec.optimizer(net.parameters())
        order = EpochShuffle(len(y), spec.seed).permutation()
        start = time.perf_counter()
        for i in range(0, len(y), dm.batch_size):
            idx = order[i : i + dm.batch_size]
            loss = F.cross_entropy(net(x[idx]), y[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        loss.item()
        total += time.perf_counter() - start
        with torch.no_grad():
            xt, yt = dm.splits["test"]
            accuracy[name] = (net(xt).argmax(1) == yt).float().mean().item()
    return total, accuracy


def differences(a: dict, b: dict) -> dict[str, float]:
    """The largest |Δ| of each metric over the jobs both sweeps ran."""
    assert set(a) == set(b), "the sweeps ran different jobs"
    worst: dict[str, float] = {}
    for name in a:
        for key, value in a[name]["metrics"].items():
            other = b[name]["metrics"].get(key)
            if value is not None and other is not None:
                worst[key] = max(worst.get(key, 0.0), abs(value - other))
    return worst


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--inits", default=None, help="comma-separated (default: closed-form)")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument(
        "--ulp", action="store_true", help="also: the floor with one weight nudged by 1 ulp"
    )
    parser.add_argument("overrides", nargs="*", help="train.py overrides, e.g. dataset=digits")
    args = parser.parse_args()
    if args.inits:
        names, inits = args.inits.split(","), args.inits
    else:
        excluded = set(NOT_CLOSED_FORM)
        names = sorted(p.stem for p in (CONF_DIR / "init").glob("*.yaml") if p.stem not in excluded)
        inits = f"glob(*,exclude=[{','.join(NOT_CLOSED_FORM)}])"
    load = os.getloadavg()[0]
    print(f"{len(names)} jobs ({', '.join(names)}), {os.cpu_count()} cores, load {load:.2f}")
    kinds = ["population", "basic", "joblib", "floor"]
    times: dict[str, list[float]] = {k: [] for k in kinds}
    results = {}
    for r in range(args.repeats):
        for kind in kinds[r % len(kinds) :] + kinds[: r % len(kinds)]:
            if kind == "floor":
                seconds, accuracy = floor(names, args.overrides)
                times[kind].append(seconds)
            else:
                wall, results[kind] = sweep(kind, inits, args.overrides)
                times[kind].append(wall)
            print(f"  repeat {r + 1}: {kind:10} {times[kind][-1]:7.1f} s")
    print(f"load after: {os.getloadavg()[0]:.2f}")
    if args.ulp:  # after the timings: it is not one of them
        _, nudged = floor(names, args.overrides, nudge=True)
        worst = max(abs(nudged[n] - accuracy[n]) for n in names)
        print(f"one weight 1 ulp off: test/acc moves by up to {worst:.4f} (plain loop)")
    print("| run | wall s (median) |")
    print("|---|---|")
    for kind in kinds:
        print(f"| {kind} | {statistics.median(times[kind]):.1f} |")
    ratio = statistics.median(
        p / f for p, f in zip(times["population"], times["floor"], strict=True)
    )
    speedup = statistics.median(
        j / p for j, p in zip(times["joblib"], times["population"], strict=True)
    )
    basic = statistics.median(
        b / p for b, p in zip(times["basic"], times["population"], strict=True)
    )
    print(f"population / floor: {ratio:.2f} (target ≤ 1.25)")
    print(f"joblib / population: {speedup:.2f} (target ≥ 1.4); basic / population: {basic:.2f}")
    # The float noise of the jobs themselves: joblib gives each job 1 thread instead of all the
    # cores, which changes the order of the sums inside a matrix product, as stacking does.
    print(f"largest |Δ| over the {len(results['basic'])} jobs (test/acc, test/loss):")
    for other in ("population", "joblib"):
        worst = differences(results["basic"], results[other])
        print(f"  {other} vs basic: {worst['test/acc']:.4f}, {worst['test/loss']:.3g}")
    print("| job | basic test/acc | population | joblib | basic test/loss | population | joblib |")
    print("|---|---|---|---|---|---|---|")
    for name in sorted(results["basic"]):
        cells = [results[k][name]["metrics"] for k in ("basic", "population", "joblib")]
        acc = " | ".join(f"{c.get('test/acc') or float('nan'):.4f}" for c in cells)
        loss = " | ".join(f"{c.get('test/loss') or float('nan'):.4g}" for c in cells)
        init = next(part for part in name.split(",") if part.startswith("init="))
        print(f"| {init} | {acc} | {loss} |")


if __name__ == "__main__":
    main()
