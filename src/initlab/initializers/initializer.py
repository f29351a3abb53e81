"""What a run's ``init`` group becomes: :func:`get_initializer` turns a name (from
:data:`~initlab.initializers.catalog.INITIALIZERS`) and its parameters into a checked
:class:`Initializer` before any compute."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field

from torch import nn

from initlab.config.errors import ConfigError, call_with, choice, number
from initlab.initializers import coverage, residual_schemes, structural
from initlab.initializers.calibrated import Calibrated, Calibration
from initlab.initializers.catalog import INITIALIZERS
from initlab.initializers.fans import Draw, Rule
from initlab.initializers.mean_field_rule import WithBias
from initlab.initializers.residual_schemes import Residual
from initlab.initializers.structural import Recurrent

BIASES = ("zeros", "default")  # or a number
RECURRENT = ("same", "orthogonal", "identity")  # init.recurrent


@dataclass(frozen=True, kw_only=True)
class Initializer:
    """A weight rule and a bias setting: ``"zeros"``, ``"default"`` (each layer type's own torch
    default for its biases, e.g. U(±1/√fan_in) for Linear and direct convolutions), a number
    (constant) or, for ``init=mean_field``, a :class:`Draw` (N(0, σ_b²)); the rule for the
    hidden-to-hidden blocks of recurrent layers (``None``: the weight rule); for the
    data-dependent methods, the calibration that follows on a batch."""

    name: str
    weight: Rule
    bias: str | float | Draw = "zeros"
    calibration: Calibration | None = None
    uncovered: str = "error"  # parameters no rule sets: refuse, or keep torch's default
    recurrent: Rule | None = None
    forget_bias: float | None = None  # an LSTM's forget-gate rows of bias_ih; None: init.bias
    needs_recurrent: bool = False  # made for recurrent nets (irnn): a model without is refused
    recurrent_option: str = "same"  # init.recurrent as given (not same: a model without refused)
    residual: str | None = None  # a residual init's scheme (zero_gamma, fixup, …): its branches
    residual_start: float = 0.0  # the start value of the scalars the scheme adds
    # What a parametrization other than SP does to the plan (initlab.parametrization: μP's
    # scales by width); None: the plan as the rule draws it.
    parametrization: Callable[[list], list] | None = field(default=None, compare=False)

    @property
    def bias_text(self) -> str:
        """The bias setting as a plan's heading says it."""
        if isinstance(self.bias, Draw):
            return f"N(0, {self.bias.std:.4g}²)"
        return str(self.bias)

    @property
    def needs_residual(self) -> bool:
        """Made for residual nets (zero_gamma, fixup, skipinit): a model without is refused."""
        return self.residual is not None and residual_schemes.SCHEMES[self.residual].required

    def prepare(self, net: nn.Module) -> nn.Module:
        """``net`` with the structure the initializer needs added in place (Fixup's scalar
        biases and multipliers, SkipInit's α; :mod:`.residual_schemes`). Raises :class:`ConfigError`
        for a model the initializer cannot work on."""
        if self.residual is None:
            return net
        return residual_schemes.prepare(self.name, self.residual, self.residual_start, net)

    def rule_for(self, role: str) -> Rule:
        """The rule for a block of this role (``weight`` or ``recurrent``)."""
        return self.recurrent if role == "recurrent" and self.recurrent else self.weight


def _recurrent_rule(recurrent) -> Rule | None:
    choice("recurrent", recurrent, RECURRENT)
    return None if recurrent == "same" else getattr(structural, recurrent)()


def get_initializer(
    name: str | Callable[..., Rule],
    *,
    bias: str | float | None = None,
    recurrent: str = "same",
    forget_bias: float | None = None,
    uncovered: str = "error",
    activation_gain: float | None = None,
    **params,
) -> Initializer:
    """Look an initializer up by name (or take a rule factory) and check its parameters.

    ``gain="auto"`` becomes ``activation_gain``, the chosen activation's gain. ``bias`` defaults
    to ``"default"`` for ``init=default`` and ``"zeros"`` otherwise. ``recurrent``: ``same``
    (the initializer's own rule: the weight rule, or ``irnn``'s scaled identity),
    ``orthogonal`` (Saxe et al., 2013; Keras' default recurrent initializer) or ``identity``
    (the IRNN of Le, Jaitly & Hinton, 2015), for every hidden-to-hidden gate block.
    ``forget_bias``: a number for the forget-gate rows of every LSTM's ``bias_ih`` (1: Gers et
    al., 2000; Jozefowicz et al., 2015), ``None`` to leave them to ``bias``. Raises
    :class:`ConfigError` naming the parameter for any bad value or unknown parameter.
    """
    if callable(name):
        fn, name = name, getattr(name, "__name__", "custom")
    else:
        fn = INITIALIZERS.get(name)
    # "auto" becomes the activation's gain where the rule takes a gain; elsewhere the unknown
    # key is refused below with the value as typed.
    if params.get("gain") == "auto" and "gain" in inspect.signature(fn).parameters:
        if activation_gain is None:
            raise ConfigError("gain", "auto", "needs an activation to take the gain from")
        params["gain"] = activation_gain
    if bias is None:
        bias = _default_bias(name)
    if bias not in BIASES:
        try:
            bias = number("bias", bias)
        except ConfigError:
            raise ConfigError("bias", bias, "must be zeros, default or a number") from None
    uncovered = coverage.check_policy(uncovered)
    recurrent_rule = _recurrent_rule(recurrent)
    if forget_bias is not None:
        forget_bias = number("forget_bias", forget_bias)
    made = call_with(fn, params, also=("bias", "uncovered", "recurrent", "forget_bias"))
    calibration = None
    if isinstance(made, Calibrated):
        made, calibration = made.rule, made.calibration
    scheme, start = None, 0.0
    if isinstance(made, Residual):
        made, scheme, start = made.rule, made.scheme, made.start
    if isinstance(made, WithBias):  # init=mean_field: a sigma_b2 > 0 draws the biases
        if made.bias is not None and bias != "zeros":
            raise ConfigError(
                "bias",
                bias,
                f"init={name} draws every bias from N(0, sigma_b2): leave bias at zeros",
            )
        made, bias = made.rule, made.bias or bias
    needs_recurrent = isinstance(made, Recurrent)
    if needs_recurrent:
        made, recurrent_rule = made.rule, recurrent_rule or made.recurrent
    return Initializer(
        name=name,
        weight=made,
        bias=bias,
        calibration=calibration,
        uncovered=uncovered,
        recurrent=recurrent_rule,
        forget_bias=forget_bias,
        needs_recurrent=needs_recurrent,
        recurrent_option=recurrent,
        residual=scheme,
        residual_start=start,
    )


SHARED_KEYS = ("bias", "recurrent", "forget_bias", "uncovered")  # every init's, after its own


def _default_bias(name: str) -> str:
    return "default" if name == "default" else "zeros"


def config_node(name: str) -> dict:
    """The ``init`` config of ``name`` with every key at its default: ``name``, the rule's own
    parameters (its signature), then :data:`SHARED_KEYS` (:func:`get_initializer`'s). Each
    ``conf/init/<name>.yaml`` starts from it (Hydra's config store, ``init_defaults/<name>``),
    so a default is written once, in Python. A parameter without a default is ``???``: the
    config must set it."""
    rule = INITIALIZERS.get(name)
    own = {
        key: "???" if p.default is inspect.Parameter.empty else p.default
        for key, p in inspect.signature(rule).parameters.items()
    }
    shared = inspect.signature(get_initializer).parameters
    return {
        "name": name,
        **own,
        **{key: shared[key].default for key in SHARED_KEYS},
        "bias": _default_bias(name),
    }
