"""Each member's checkpoint, as its sequential run writes it; a population resumes from them.

Lightning checkpoints the population as one module (the stacked parameters, the stacked
optimizer state, the loops' progress). :func:`member_checkpoint` cuts member i's out of it: its
own net's ``state_dict`` (``net.<path>``, as ``InitModule`` names it), its slice of the
optimizer's state (the stack keeps the net's parameter order, so the indices are its own
optimizer's), the loops' progress (the same for every member: one loop drove them all), its
config and its RNG states and sums. It is the checkpoint its sequential run would have written at
that step, in the same folder under the same name (``checkpoints/epoch=E-step=S.ckpt``): a
population sweep resumes sequentially, and a sequential one as a population.

:func:`population_checkpoint` stacks the members' checkpoints back into the population's for
``Trainer(ckpt_path=…)``. Members resume together only from checkpoints of the same step (the
launcher groups them so).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytorch_lightning as pl
import torch

from initlab.diagnostics.offload import offload
from initlab.population.stack import stacked_name
from initlab.runtime import private_api
from initlab.training.init_module import CONFIG_KEY, STATE_KEY

NET = "net."  # InitModule's prefix of its net's state_dict
CONTIGUOUS = torch.contiguous_format  # a run's own layout (the stack's may be transposed)
COMMON = ("epoch", "global_step", "pytorch-lightning_version", "loops", "lr_schedulers")


def _at_rates(groups: list[dict], rates: list[float]) -> list[dict]:
    """The optimizer's parameter groups with their learning rates set to ``rates``."""
    return [{**g, "lr": lr} for g, lr in zip(groups, rates, strict=True)]


def member_checkpoint(population: dict, stack, i: int, rates: list[float]) -> dict:
    """Member ``i``'s checkpoint from the population's (``stack``: the population's
    :class:`~initlab.population.stack.Stack`), its optimizer's groups at ``rates``, its own
    run's learning rates (the population steps at its largest member's)."""
    names, params = stack.names, set(stack.names)
    state = population["state_dict"]
    prefix = {k: "stack.params." if k in params else "stack.buffers_." for k in stack.state_names}
    optimizers = []
    for opt in population["optimizer_states"]:
        shapes = [state[f"stack.params.{stacked_name(k)}"].shape for k in names]
        optimizers.append(
            {
                "state": {
                    idx: {
                        key: v[i].clone(memory_format=CONTIGUOUS)
                        if _per_member(key, v, shapes[idx])
                        else v
                        for key, v in per_param.items()
                    }
                    for idx, per_param in opt["state"].items()
                },
                "param_groups": _at_rates(opt["param_groups"], rates),
            }
        )
    return {
        **{k: population[k] for k in COMMON if k in population},
        "state_dict": {
            NET + k: state[prefix[k] + stacked_name(k)][i].clone(memory_format=CONTIGUOUS)
            for k in stack.state_names
        },
        "optimizer_states": optimizers,
        "callbacks": {},
        CONFIG_KEY: population[CONFIG_KEY][i],
        STATE_KEY: population[STATE_KEY][i],
    }


def _per_member(key: str, v, shape: torch.Size) -> bool:
    """Whether an optimizer state entry is one per element of its parameter (Adam's moments,
    SGD's momentum), not one per parameter (Adam's ``step``, 0-d even for a 0-d parameter)."""
    return key != "step" and isinstance(v, torch.Tensor) and v.shape == shape


def population_checkpoint(
    members: list[dict], names: list[str], buffer_names: list[str], rates: list[float]
) -> dict:
    """The population's checkpoint from its members' (all of the same step), its optimizer's
    groups at ``rates``, the population's."""
    first = members[0]
    state = {}
    for prefix, keys in (("stack.params.", names), ("stack.buffers_.", buffer_names)):
        for k in keys:
            state[prefix + stacked_name(k)] = torch.stack(
                [m["state_dict"][NET + k] for m in members]
            )
    optimizers = []
    shapes = [first["state_dict"][NET + k].shape for k in names]
    for j, opt in enumerate(first["optimizer_states"]):
        per_member = [m["optimizer_states"][j]["state"] for m in members]
        optimizers.append(
            {
                "state": {
                    idx: {
                        key: torch.stack([s[idx][key] for s in per_member])
                        if _per_member(key, v, shapes[idx])
                        else v
                        for key, v in per_param.items()
                    }
                    for idx, per_param in opt["state"].items()
                },
                "param_groups": _at_rates(opt["param_groups"], rates),
            }
        )
    return {
        **{k: first[k] for k in COMMON if k in first},
        "state_dict": state,
        "optimizer_states": optimizers,
        "callbacks": {},
        CONFIG_KEY: [m[CONFIG_KEY] for m in members],
        STATE_KEY: [m[STATE_KEY] for m in members],
    }


def save(checkpoint: dict, path: Path) -> None:
    """Write atomically: a kill mid-write leaves the previous checkpoint whole."""
    tmp = path.with_name(f".{path.name}.tmp")
    torch.save(checkpoint, tmp)
    os.replace(tmp, path)


class MemberCheckpoints(pl.Callback):
    """At the end of every training epoch (as ``ModelCheckpoint(save_on_train_epoch_end=True)``
    does for a run), each active member's checkpoint in its own folder, replacing its last."""

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module) -> None:
        offload().drain()  # the members' histograms and figures so far, before their checkpoints
        population = private_api.dump_checkpoint(trainer)
        name = f"epoch={trainer.current_epoch}-step={trainer.global_step}.ckpt"
        for i, m in enumerate(pl_module.members):
            if not m.active:
                continue
            folder = Path(m.run_dir) / "checkpoints"
            folder.mkdir(parents=True, exist_ok=True)
            checkpoint = member_checkpoint(population, pl_module.stack, i, pl_module.group_rates(i))
            save(checkpoint, folder / name)
            for old in folder.glob("*.ckpt"):
                if old.name != name:
                    old.unlink()
