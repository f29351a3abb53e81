"""A population's training step under Lightning against its stacked step alone.

The population: ``--members`` jobs of the tiny MLP (784-16-16-10, FashionMNIST) that differ in
their initializer, trained one epoch by :func:`initlab.population.population_run.run` (what a
population launcher's worker runs) with the diagnostics off; its step is the training epoch's
time over its steps, from the end of the first step to the end of the one before last (with
``--compile``, the steps that compile: the first and the shorter last batch, are left out).
The stacked step alone: the same :class:`~initlab.population.stack.Stack` of the same
members, on the same batches, in a plain loop — the vmapped forward, the members' losses,
backward, the Adam step — nothing else. Both run back to back in this process, ``--repeats``
times, alternating; printed: the median of the paired ratios (target ≤ 1.5). ``--compile``:
both compiled (``hydra.launcher.compile=true``).

    python scripts/bench_population_step.py
    python scripts/bench_population_step.py --compile
    python scripts/bench_population_step.py --members 8 dataset=digits
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import pytorch_lightning as pl
import torch
from hydra import compose, initialize_config_dir

from initlab.config.hydra_conf import CONF_DIR, register_resolvers
from initlab.data.batches import EpochShuffle
from initlab.initializers import apply
from initlab.population import population_module, population_run
from initlab.population.compiled import compiled
from initlab.population.dropout import MemberRNG
from initlab.population.stack import Stack
from initlab.runtime import console_noise
from initlab.training.init_module import rng_states
from initlab.training.spec import build

INITS = [
    "he", "xavier", "lecun", "orthogonal", "normal", "zeros", "ones", "he_uniform",
    "xavier_normal", "lecun_uniform", "small_normal", "large_normal", "uniform", "uniform_rule",
    "trunc_normal", "variance_scaling", "sparse", "identity", "default", "bert", "constant",
    "delta_orthogonal", "zero_hadamard", "lsuv", "dbn", "data_dependent",
]  # fmt: skip


class EpochTimer(pl.Callback):
    """From the end of the first step to the end of the one before last."""

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if batch_idx == 0:
            self.start = time.perf_counter()
        elif batch_idx == trainer.num_training_batches - 2:
            self.seconds, self.steps = time.perf_counter() - self.start, batch_idx


def lightning_step(cfgs, compile: bool) -> float:
    """Seconds per step of the population's training epoch, under Lightning."""
    timer = EpochTimer()
    real = population_run.make_trainer

    def with_timer(*args, callbacks, **kwargs):
        return real(*args, callbacks=[*callbacks, timer], **kwargs)

    population_run.make_trainer = with_timer
    try:
        with tempfile.TemporaryDirectory() as tmp:
            jobs = [(cfg, Path(tmp) / str(i), []) for i, cfg in enumerate(cfgs)]
            population_run.run(jobs, Path(tmp) / "p", "p", compile=compile)
    finally:
        population_run.make_trainer = real
    return timer.seconds / timer.steps


def stacked_step(cfgs, compile: bool) -> float:
    """Seconds per step of the same members' stacked step alone, on the same batches."""
    specs = [build(cfg) for cfg in cfgs]
    dm = specs[0].datamodule
    dm.setup("fit")
    x, y = dm.splits["train"]
    nets = []
    for spec in specs:
        pl.seed_everything(spec.seed, verbose=False)
        net = spec.make_net()
        apply(spec.initializer, net, spec.seed, dm.dataset.in_shape)
        nets.append(net)
    rngs = [MemberRNG(rng_states(torch.device("cpu"))) for _ in nets]
    stack = Stack(nets, rngs, in_shape=dm.dataset.in_shape)  # as the population lays it out
    params, _ = stack.stacked()
    optimizer = specs[0].optimizer(list(params.values()))
    order = EpochShuffle(len(y), specs[0].seed).permutation()
    active = [True] * len(nets)

    def objective(xb, yb):
        logits, _ = stack(xb, True, active)
        return population_module._losses(logits, yb, True)

    if compile:
        objective = compiled(objective, torch.device("cpu"))
    starts = list(range(0, len(y), dm.batch_size))
    for k, i in enumerate(starts[:-1]):
        idx = order[i : i + dm.batch_size]
        losses, _ = objective(x[idx], y[idx])
        optimizer.zero_grad()
        losses.sum().backward()
        optimizer.step()
        if k == 0:
            losses.sum().item()
            start = time.perf_counter()
    losses.sum().item()
    return (time.perf_counter() - start) / (len(starts) - 2)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--members", type=int, default=26)
    parser.add_argument("--repeats", type=int, default=4)
    parser.add_argument("--compile", action="store_true", help="both sides compiled")
    parser.add_argument("overrides", nargs="*", help="train.py overrides")
    args = parser.parse_args()
    console_noise.silence()
    register_resolvers()
    overrides = [
        "model.hidden=[16,16]",
        "trainer.max_epochs=1",
        "trainer.progress_bar=none",
        "diagnostics.enabled=false",
        *args.overrides,
    ]
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        cfgs = [compose("config", [f"init={i}", *overrides]) for i in INITS[: args.members]]
    print(
        f"{len(cfgs)} members, {' '.join(overrides)}; compile {args.compile}; "
        f"threads {torch.get_num_threads()}; load {os.getloadavg()[0]:.2f}"
    )
    sides = {"stacked step alone": stacked_step, "population under Lightning": lightning_step}
    times: dict[str, list[float]] = {k: [] for k in sides}
    for r in range(args.repeats):
        for name in list(sides)[r % 2 :] + list(sides)[: r % 2]:
            times[name].append(sides[name](cfgs, args.compile))
        shown = ", ".join(f"{k} {v[-1] * 1e3:.3f} ms" for k, v in times.items())
        print(f"  repeat {r + 1}: {shown}")
    ratios = sorted(p / s for s, p in zip(*times.values(), strict=True))
    print(
        f"population step / stacked step alone: {statistics.median(ratios):.2f} "
        f"({ratios[0]:.2f}-{ratios[-1]:.2f}), target ≤ 1.5; load after {os.getloadavg()[0]:.2f}"
    )


if __name__ == "__main__":
    main()
