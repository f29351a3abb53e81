"""The GPU side of tests/training/test_step_syncs.py: a one-epoch run and a two-member population
on the GPU under ``torch.cuda.set_sync_debug_mode("warn")``, whose warnings (one per
synchronizing CUDA call) are counted per training step. A step that is neither a Lightning
logging step, nor a diagnostics point, nor the epoch's last step must have none. Prints each
side's count and exits 1 if a step between logging points synchronized.

    python scripts/sync_check.py                      # run by scripts/gpu_check.sh
    python scripts/sync_check.py dataset=fashion_mnist
"""

from __future__ import annotations

import sys
import tempfile
import warnings
from pathlib import Path

import torch

import initlab
from initlab.config.hydra_conf import register_resolvers
from initlab.population import population_run
from initlab.population.population_module import PopulationModule
from initlab.runtime import console_noise
from initlab.training.init_module import InitModule
from initlab.training.run import run

LOG_EVERY, DIAGNOSTICS_EVERY = 10, 7


class Syncs:
    """The synchronizing calls of each training step of ``module``'s fits: {step: count}."""

    def __init__(self, module: type):
        self.step: int | None = None
        self.by_step: dict[int, int] = {}
        self.last = 0
        starts, validates = module.on_train_batch_start, module.on_validation_start
        syncs = self

        def on_train_batch_start(mod, batch, batch_idx):
            syncs.step = mod.trainer.global_step  # the optimizer step this batch makes
            syncs.last = max(syncs.last, mod.trainer.num_training_batches - 1)
            return starts(mod, batch, batch_idx)

        def on_validation_start(mod):
            syncs.step = None  # validation's synchronizations are not a training step's
            return validates(mod)

        module.on_train_batch_start = on_train_batch_start
        module.on_validation_start = on_validation_start

    def warned(self, message, category, *args, **kwargs) -> None:
        if self.step is not None and "synchronizing" in str(message):
            self.by_step[self.step] = self.by_step.get(self.step, 0) + 1

    def between_points(self) -> dict[int, int]:
        return {
            s: n
            for s, n in self.by_step.items()
            if (s + 1) % LOG_EVERY and s % DIAGNOSTICS_EVERY and s != self.last
        }


def check(name: str, module: type, fit) -> bool:
    syncs = Syncs(module)
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.showwarning = syncs.warned
        torch.cuda.set_sync_debug_mode("warn")
        try:
            fit()
        finally:
            torch.cuda.set_sync_debug_mode("default")
    between = syncs.between_points()
    print(
        f"{name}: {sum(syncs.by_step.values())} synchronizations in {len(syncs.by_step)} steps; "
        f"between logging points: {sum(between.values())} {dict(list(between.items())[:5])}"
    )
    return not between


def main() -> int:
    console_noise.silence()
    register_resolvers()
    if not torch.cuda.is_available():
        print("sync_check: no GPU; the CPU side is tests/training/test_step_syncs.py")
        return 0
    overrides = [
        "trainer=gpu",
        "dataset=digits",
        "trainer.max_epochs=1",
        "trainer.progress_bar=none",
        "trainer.enable_checkpointing=false",
        f"trainer.log_every_n_steps={LOG_EVERY}",
        f"diagnostics.every_n_steps={DIAGNOSTICS_EVERY}",
        *sys.argv[1:],
    ]
    tmp = Path(tempfile.mkdtemp())
    ok = check("run", InitModule, lambda: run(initlab.compose(*overrides), tmp / "run", overrides))
    jobs = [
        (initlab.compose(*overrides, f"init={i}"), tmp / i, [*overrides, f"init={i}"])
        for i in ("he", "xavier")
    ]
    ok &= check("population", PopulationModule, lambda: population_run.run(jobs, tmp / "p", "p"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
