"""The ``parametrization`` config group's registry: ``sp`` (the standard parametrization:
every layer as its ``init`` draws it, one learning rate; the default) and ``mup`` (the maximal
update parametrization, :mod:`.mup`). An option's builder checks its keys; its ``bind`` reads a
model's widths and returns what a run applies (``None``: nothing to apply)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from torch import nn

from initlab.config.errors import ConfigError, NotApplicable, number, positive_int
from initlab.config.registry import Registry
from initlab.initializers import Initializer, plan
from initlab.parametrization import mup as rules
from initlab.parametrization.attention import logit_scales
from initlab.parametrization.parametrized import SCALABLE, Parametrized
from initlab.parametrization.widths import WIDTH_KEYS, shapes

PARAMETRIZATIONS: Registry[Callable] = Registry("parametrization")
# Models μP is refused on, and why.
REFUSED = {
    "rnn": "a recurrent matrix applied at every step has no rule that Tensor Programs V or the "
    "mup package checks (they cover MLPs, ResNets and Transformers)",
}


@dataclass(frozen=True)
class Standard:
    """SP: nothing to apply."""

    def bind(self, **_) -> None:
        return None


@dataclass(frozen=True)
class Maximal:
    """μP's settings, checked; :meth:`bind` applies them to one model."""

    base_width: int
    output_mult: float
    readout_zero: bool
    width_key: tuple[str, ...] | None

    def bind(
        self,
        *,
        model: str,
        model_params: dict,
        build: Callable[[dict], nn.Module],
        initializer: Initializer,
        in_shape: Sequence[int],
        optimizer: str,
        lr: float,
        weight_decay: float,
    ) -> Parametrized:
        """μP for the model ``build(model_params)`` builds (on the meta device) trained by
        ``optimizer``. Raises :class:`ConfigError` naming the key that cannot work."""
        if model in REFUSED:
            raise NotApplicable("name", "mup", f"model={model}: {REFUSED[model]}")
        keys = self.width_key or WIDTH_KEYS.get(model)
        if keys is None:
            raise ConfigError(
                "width_key",
                None,
                f"model={model}: name the model key that is its width "
                "(parametrization.width_key=width), so μP can read which dimensions grow",
            )
        if initializer.calibration is not None:
            raise NotApplicable(
                "name",
                "mup",
                f"init={initializer.name} rescales every layer on data after drawing it, which "
                "undoes μP's scales: choose an i.i.d. init or parametrization=sp",
            )
        if optimizer not in rules.OPTIMIZERS:
            raise ConfigError("name", "mup", f"has rules for optimizer={rules.OPTIMIZERS}")
        found, net, base, delta = shapes(build, model_params, keys, self.base_width)
        base_plan = plan(initializer, base, in_shape)
        for row in base_plan:
            if row.weight.method not in SCALABLE:
                raise NotApplicable(
                    "name",
                    "mup",
                    f"init={initializer.name} draws {row.weight.method} matrices, whose scale "
                    "their shape fixes; μP scales i.i.d. draws: choose an i.i.d. init "
                    "(default, he, lecun, xavier, normal, …) or parametrization=sp",
                )
        scales = {}
        for name in found:
            owner, _, tensor = name.rpartition(".")
            module = net.get_submodule(owner)
            role = rules.role(module, tensor, found[name])
            scales[name] = rules.scale(role, found[name], optimizer, self.output_mult)
        return Parametrized(
            name="mup",
            base_width=self.base_width,
            width_key=tuple(keys),
            output_mult=self.output_mult,
            readout_zero=self.readout_zero,
            scales=scales,
            logit_scales=logit_scales(model, net, base, delta),
            base_plan=base_plan,
            lr=lr,
            weight_decay=weight_decay,
        )


@PARAMETRIZATIONS.register
def sp() -> Standard:
    """The standard parametrization: every layer as its ``init`` draws it, one learning rate
    for every parameter."""
    return Standard()


@PARAMETRIZATIONS.register
def mup(
    base_width: int = 64,
    output_mult: float = 1.0,
    readout_zero: bool = False,
    width_key: str | list[str] | None = None,
) -> Maximal:
    """The maximal update parametrization (Yang & Hu, 2021; Yang et al., 2021): at
    ``base_width`` the same as SP; at other widths the output layer's initial scale and every
    hidden and output weight's learning rate follow the width, so a learning rate tuned at one
    width stays best at another. ``output_mult`` multiplies the output layer, ``readout_zero``
    starts it at zero, ``width_key`` names the model keys that are its width (a custom model's;
    the built-in models' are known)."""
    base_width = positive_int("base_width", base_width)
    output_mult = number("output_mult", output_mult, positive=True)
    if not isinstance(readout_zero, bool):
        raise ConfigError("readout_zero", readout_zero, "must be true or false")
    if width_key is not None:
        keys = [width_key] if isinstance(width_key, str) else width_key
        if not isinstance(keys, list) or not keys or not all(isinstance(k, str) for k in keys):
            raise ConfigError("width_key", width_key, "must be a model key or a list of them")
        width_key = tuple(keys)
    return Maximal(base_width, output_mult, readout_zero, width_key)
