"""A population's training step under Lightning against its stacked step alone.

The population: ``--members`` jobs of the tiny MLP (784-16-16-10, FashionMNIST) that differ in
their initializer, trained one epoch by :func:`initlab.population.population_run.run` (what a
population launcher's worker runs) with the diagnostics off; its step is the training epoch's
time (first to last batch) over its steps. The stacked step alone: the same
:class:`~initlab.population.stack.Stack` of the same members, on the same batches, in a plain
loop — the vmapped forward, the members' losses, backward, the Adam step — nothing else. Both run
back to back in this process, ``--repeats`` times, alternating; printed: the median of the paired
ratios (target ≤ 1.5).

    python scripts/bench_population_step.py
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
    def on_train_epoch_start(self, trainer, pl_module):
        self.start = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.seconds, self.steps = time.perf_counter() - self.start, batch_idx + 1


def lightning_step(cfgs) -> float:
    """Seconds per step of the population's training epoch, under Lightning."""
    timer = EpochTimer()
    real = population_run.make_trainer

    def with_timer(*args, callbacks, **kwargs):
        return real(*args, callbacks=[*callbacks, timer], **kwargs)

    population_run.make_trainer = with_timer
    try:
        with tempfile.TemporaryDirectory() as tmp:
            jobs = [(cfg, Path(tmp) / str(i), []) for i, cfg in enumerate(cfgs)]
            population_run.run(jobs, Path(tmp) / "p", "p")
    finally:
        population_run.make_trainer = real
    return timer.seconds / timer.steps


def stacked_step(cfgs) -> float:
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
    stack = Stack(nets, [MemberRNG(rng_states(torch.device("cpu"))) for _ in nets])
    params, _ = stack.stacked()
    optimizer = specs[0].optimizer(list(params.values()))
    order = EpochShuffle(len(y), specs[0].seed).permutation()
    active = [True] * len(nets)
    steps = 0
    start = time.perf_counter()
    for i in range(0, len(y), dm.batch_size):
        idx = order[i : i + dm.batch_size]
        logits, _ = stack(x[idx], True, active)
        losses, _ = population_module._losses(logits, y[idx], True)
        optimizer.zero_grad()
        losses.sum().backward()
        optimizer.step()
        steps += 1
    losses.sum().item()
    return (time.perf_counter() - start) / steps


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--members", type=int, default=26)
    parser.add_argument("--repeats", type=int, default=4)
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
        f"{len(cfgs)} members, {' '.join(overrides)}; threads {torch.get_num_threads()}; "
        f"load {os.getloadavg()[0]:.2f}"
    )
    sides = {"stacked step alone": stacked_step, "population under Lightning": lightning_step}
    times: dict[str, list[float]] = {k: [] for k in sides}
    for r in range(args.repeats):
        for name in list(sides)[r % 2 :] + list(sides)[: r % 2]:
            times[name].append(sides[name](cfgs))
        shown = ", ".join(f"{k} {v[-1] * 1e3:.3f} ms" for k, v in times.items())
        print(f"  repeat {r + 1}: {shown}")
    ratios = sorted(p / s for s, p in zip(*times.values(), strict=True))
    print(
        f"population step / stacked step alone: {statistics.median(ratios):.2f} "
        f"({ratios[0]:.2f}-{ratios[-1]:.2f}), target ≤ 1.5; load after {os.getloadavg()[0]:.2f}"
    )


if __name__ == "__main__":
    main()
