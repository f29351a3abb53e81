"""A parametrization bound to one model: each parameter's :class:`~.mup.Scale`, the draws the
chosen ``init`` gives the model built at the base width, and from them the run's plan and its
optimizer's parameter groups."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

import torch

from initlab.config.errors import ConfigError
from initlab.initializers.fans import constant_draw, scaled
from initlab.initializers.plan import LayerPlan
from initlab.parametrization.attention import set_logit_scales
from initlab.parametrization.mup import Scale

# Draws whose every entry scales with the draw: μP multiplies them. A structural method
# (orthogonal, identity, sparse, ZerO) builds a matrix whose scale its shape fixes.
SCALABLE = ("normal", "uniform", "truncated_normal", "constant")


def qualified(module: str, tensor: str) -> str:
    """A parameter's name in the net: ``0.weight``, ``bias`` for the net's own."""
    return f"{module}.{tensor}" if module else tensor


@dataclass(frozen=True, kw_only=True)
class Parametrized:
    """μP for one model and optimizer. Calling it on the ``init``'s plan of the model gives
    the plan μP applies (:meth:`__call__`); :meth:`param_groups` gives the optimizer's groups."""

    name: str
    base_width: int
    width_key: tuple[str, ...]  # the model keys that are its width
    output_mult: float
    readout_zero: bool
    scales: dict[str, Scale]  # by parameter name
    # each attention's logit scale where its head dimension grows (.attention), by module name
    logit_scales: dict[str, float]
    base_plan: list[LayerPlan]  # the init's plan for the model at the base width
    lr: float
    weight_decay: float

    def __str__(self) -> str:
        said = f"parametrization {self.name} (base width {self.base_width}"
        if self.output_mult != 1:
            said += f", output × {self.output_mult:g}"
        return said + (", output from zero)" if self.readout_zero else ")")

    def __call__(self, rows: list[LayerPlan]) -> list[LayerPlan]:
        """``rows`` (the plan of the model being run) with each block's draws the base model's,
        scaled for its role, and each row's role, width multiplier and lr multiplier."""
        if len(rows) != len(self.base_plan):
            raise ConfigError(
                "width_key",
                list(self.width_key),
                "the model has other weight blocks at the base width",
            )
        made = []
        for row, base in zip(rows, self.base_plan, strict=True):
            tensor = row.block.tensor if row.block is not None else row.tensor
            if (row.module, tensor) != (base.module, base.block.tensor):
                raise ConfigError(
                    "width_key",
                    list(self.width_key),
                    f"{qualified(row.module, tensor)} has no counterpart at the base width",
                )
            s = self.scales[qualified(row.module, tensor)]
            zero = s.role == "output" and self.readout_zero
            weight = constant_draw(0.0) if zero else scaled(base.weight, s.std_mult)
            biases = tuple(
                (b, constant_draw(0.0) if zero else d)
                for (b, _), (_, d) in zip(row.biases, base.biases, strict=True)
            )
            made.append(
                replace(
                    row,
                    weight=weight,
                    bias=biases[0][1] if biases else None,
                    biases=biases,
                    width_role=s.role,
                    width_mult=s.width_mult,
                    lr_mult=s.lr_mult,
                )
            )
        return made

    def prepare(self, net: torch.nn.Module) -> torch.nn.Module:
        """``net`` as μP runs it: each attention with its logit scale."""
        return set_logit_scales(net, self.logit_scales)

    def param_groups(
        self,
        named: Iterable[tuple[str, torch.Tensor]],
        lr: float | None = None,
        slow: Mapping[str, float] | None = None,
    ) -> list[dict]:
        """The optimizer's parameter groups: one per (lr, weight decay) pair, each parameter in
        the net's own order (so a resumed run's optimizer state lines up). ``lr``: the rate the
        multipliers apply to (None: the run's ``optimizer.lr``); ``slow``: the init's own
        multipliers, by parameter name (:func:`optimizer_params`)."""
        lr = self.lr if lr is None else lr
        slow = slow or {}
        groups: dict[tuple[float, float], dict] = {}
        for name, p in named:
            s = self.scales[name]
            key = (lr * s.lr_mult * slow.get(name, 1.0), self.weight_decay * s.wd_mult)
            group = groups.setdefault(key, {"params": [], "lr": key[0], "weight_decay": key[1]})
            group["params"].append(p)
        return list(groups.values())

    def record(self) -> dict:
        """What ``init_plan.json`` says of it: the settings and every parameter's scale."""
        return {
            "name": self.name,
            "base_width": self.base_width,
            "width_key": list(self.width_key),
            "output_mult": self.output_mult,
            "readout_zero": self.readout_zero,
            "parameters": {
                name: {
                    "role": s.role,
                    "width_mult": s.width_mult,
                    "std_mult": s.std_mult,
                    "lr_mult": s.lr_mult,
                    "weight_decay_mult": s.wd_mult,
                }
                for name, s in self.scales.items()
            },
            "attention_logit_scales": self.logit_scales,
        }


def optimizer_params(
    parametrized: Parametrized | None,
    named: Iterable[tuple[str, torch.Tensor]],
    lr: float | None = None,
    slow: Mapping[str, float] | None = None,
) -> list:
    """What the optimizer is built on: the parameters, in the net's order (SP, ``None``), or
    μP's groups (:meth:`Parametrized.param_groups`, at ``lr``). ``slow``: learning-rate
    multipliers the init's reference recipe sets, by parameter name (Fixup's scalars and
    biases, 0.1: :func:`initlab.initializers.residual_schemes.lr_multipliers`); under SP they
    make a group of their own at ``lr`` × the multiplier (``lr`` then required)."""
    if parametrized is not None:
        return parametrized.param_groups(named, lr, slow)
    if not slow:
        return [p for _, p in named]
    if lr is None:
        raise ValueError("a learning-rate multiplier needs the base learning rate")
    groups: dict[float, dict] = {}
    for name, p in named:
        rate = lr * slow.get(name, 1.0)
        groups.setdefault(rate, {"params": [], "lr": rate})["params"].append(p)
    return list(groups.values())
