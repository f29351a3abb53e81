"""``dry_run=true``: what a run would do, after exactly the checks a run makes, with nothing
written. The entry points' validation callback prints :func:`describe_run` and exits 0 instead
of starting the run (Hydra has created no folder yet); a sweep's is described by the sweeper.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

import torch
from omegaconf import DictConfig, OmegaConf

from initlab.config.errors import ConfigError
from initlab.config.hydra_conf import GROUPS
from initlab.initializers import plan
from initlab.initializers.plan import plan_table

if TYPE_CHECKING:  # spec imports this module
    from initlab.training.spec import RunSpec

# the config groups a run's description names, in the order of conf/config.yaml
CHOICES = (*GROUPS, "experiment")


def show(text: str) -> None:
    """Print ``text``; a reader that stops early (``| head``) is not an error."""
    try:
        print(text, flush=True)
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no error at exit


def requested(cfg: DictConfig) -> bool:
    """Whether ``cfg`` asks for a dry run: its ``dry_run`` key, true or false (else refused)."""
    value = cfg.get("dry_run", False)
    if not isinstance(value, bool):
        raise ConfigError("dry_run", value, "must be true or false")
    return value


def choices(cfg: DictConfig) -> str:
    """The composed option of each config group, ``init=he activation=relu …`` (Hydra's
    runtime choices where the config has them; else each group's ``name``)."""
    picked = OmegaConf.select(cfg, "hydra.runtime.choices", default=None) or {}
    shown = []
    for group in CHOICES:
        name = picked.get(group)
        if name is None and group != "experiment":
            name = OmegaConf.select(cfg, f"{group}.name", default=None)
        if name is not None:
            shown.append(f"{group}={name}")
    return " ".join(shown)


def describe_run(cfg: DictConfig, spec: RunSpec, folder: str, overrides: list[str]) -> str:
    """A single run's dry run: its overrides, the composed choices, the training it would do,
    where it would write and the init plan (every layer's fans and draws)."""
    with torch.device("meta"):  # shapes only: the plan needs no weights
        net = spec.make_net()
    in_shape = spec.datamodule.dataset.in_shape
    layers = plan(spec.initializer, net, in_shape)
    epochs = spec.trainer.get("max_epochs")
    lines = [
        "dry run: the config is valid; nothing was run or written.",
        f"overrides: {' '.join(overrides) or '(none)'}",
        f"choices: {choices(cfg)}",
        f"seed {spec.seed}; {epochs} epochs" if epochs is not None else f"seed {spec.seed}",
        f"would write to: {folder}",
        "",
        f"init plan: init={spec.initializer.name}, bias {spec.initializer.bias_text}"
        + (
            f", then {spec.initializer.calibration.method} on a training batch"
            if spec.initializer.calibration is not None
            else ""
        )
        + (f", {spec.parametrization}" if spec.parametrization is not None else ""),
        plan_table(layers),
    ]
    return "\n".join(lines)
