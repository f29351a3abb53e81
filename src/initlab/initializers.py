"""Weight initializers: one registry, one variance-scaling function, a few structural methods.

An initializer is described in two steps so that a bad config fails before any compute:

1. ``get_initializer(name)(**params)`` checks the scalar parameters and returns an
   :class:`Initializer` — a *rule* ``Fans -> Draw`` for weights plus a bias setting.
2. :func:`plan` walks the model's weight layers (Linear, Conv2d) in order, reads each layer's
   fans from the layer itself and turns the rule into a :class:`Draw` per layer: the
   distribution and its numbers. Impossible combinations (``sparse`` with ``k`` > fan_in) raise
   here. This works on a model built on the ``meta`` device, so validation costs nothing.
3. :func:`apply` fills the tensors from one ``torch.Generator`` seeded by ``seed``, through
   ``torch.nn.init`` wherever torch has the method. Same seed, same model: bit-identical weights.

The variance-scaling family (Glorot, He, LeCun, the "general rule") is one function with three
arguments, as in JAX: ``std = gain * sqrt(scale / fan)`` where ``fan`` is fan_in, fan_out or
their mean. Presets are argument sets of it (see ``INITIALIZERS``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import partial

import torch
from scipy.linalg import hadamard
from torch import nn

from initlab import coverage
from initlab.errors import ConfigError, call_with, number, positive_int
from initlab.layer_order import forward_order
from initlab.tables import markdown_table

# Standard deviation of N(0, 1) truncated to [-2, 2]; dividing by it makes a truncated normal
# have the variance asked for (JAX's variance_scaling uses the same constant).
TRUNCATED_STD = 0.87962566103423978

MODES = ("fan_in", "fan_out", "fan_avg")
DISTRIBUTIONS = ("uniform", "normal", "truncated_normal")


@dataclass(frozen=True)
class Fans:
    """Connections into and out of one unit of a layer.

    Linear(in, out): fan_in = in, fan_out = out.
    Conv2d(in, out, k×k, groups=g): each output unit sees in/g channels over k·k taps, and each
    input unit feeds out/g channels over k·k taps, so fan_in = in/g·k·k and fan_out = out/g·k·k.
    (``torch.nn.init`` guesses fans from the weight's shape and so counts fan_out = out·k·k for
    grouped convolutions; for groups=1 the two agree.)
    """

    fan_in: int
    fan_out: int
    units: int  # output features or channels: the rows of the weight flattened to (units, fan_in)

    @classmethod
    def of(cls, layer: nn.Module) -> Fans:
        if isinstance(layer, nn.Linear):
            return cls(layer.in_features, layer.out_features, layer.out_features)
        if isinstance(layer, nn.Conv2d):
            taps = math.prod(layer.kernel_size)
            return cls(
                layer.in_channels // layer.groups * taps,
                layer.out_channels // layer.groups * taps,
                layer.out_channels,
            )
        raise TypeError(f"no fans for {type(layer).__name__}: only Linear and Conv2d have weights")

    def get(self, mode: str) -> float:
        return {
            "fan_in": self.fan_in,
            "fan_out": self.fan_out,
            "fan_avg": (self.fan_in + self.fan_out) / 2,
        }[mode]


@dataclass(frozen=True)
class Draw:
    """How one tensor is filled: a method and its numbers (``None`` where they do not apply).

    ``std`` is the standard deviation the method gives each entry (for uniform, bound/√3; for
    the structural methods, that of the resulting matrix), so layers compare at a glance.
    """

    # normal | uniform | truncated_normal | constant | orthogonal | sparse | identity
    # | delta_orthogonal | zero | reset_parameters
    method: str
    mean: float | None = None
    std: float | None = None
    low: float | None = None
    high: float | None = None
    value: float | None = None
    gain: float | None = None
    k: int | None = None


Rule = Callable[[Fans], Draw]


@dataclass(frozen=True)
class Calibration:
    """A data-dependent step after the rule: a method of :mod:`initlab.calibrate`, its
    parameters, and how many training examples it measures on."""

    method: str  # a key of initlab.calibrate.CALIBRATIONS
    params: dict
    batch_size: int


@dataclass(frozen=True)
class Calibrated:
    """What a data-dependent initializer's factory returns: the rule, then the calibration."""

    rule: Rule
    calibration: Calibration


@dataclass(frozen=True)
class Initializer:
    """A weight rule and a bias setting: ``"zeros"``, ``"default"`` (U(±1/√fan_in), torch's own
    bias init for Linear and Conv) or a number (constant); for the data-dependent methods, the
    calibration that follows on a training batch."""

    name: str
    weight: Rule
    bias: str | float = "zeros"
    calibration: Calibration | None = None
    uncovered: str = "error"  # parameters no rule sets: refuse, or keep torch's default


# ----------------------------------------------------------------------------------------------
# Argument checks: every failure names the parameter and the value.


def _choice(key: str, value, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ConfigError(key, value, f"must be one of {', '.join(choices)}")
    return value


# ----------------------------------------------------------------------------------------------
# The variance-scaling family.


def variance_scaling(
    scale: float = 1.0,
    mode: str = "fan_in",
    distribution: str = "truncated_normal",
    gain: float = 1.0,
) -> Rule:
    """Draw weights with variance ``gain² · scale / fan`` (JAX's ``variance_scaling``).

    ``fan`` is fan_in, fan_out or fan_avg = (fan_in + fan_out)/2, read from the layer.

    - ``normal``: N(0, std²), std = gain·√(scale/fan).
    - ``uniform``: U(−b, b), b = √3·std (a uniform on ±b has variance b²/3).
    - ``truncated_normal``: N(0, σ²) cut at ±2σ with σ = std / 0.8796…, so that the truncated
      distribution has exactly the variance std².

    Presets: LeCun (LeCun et al., 1998, "Efficient BackProp") is fan_in with gain 1; Glorot &
    Bengio (2010) is fan_avg with gain 1; He et al. (2015) is fan_in with gain √2 for ReLU; the
    "general rule" U(±1/√fan_in) is uniform fan_in with scale 1/3.
    """
    scale = number("scale", scale, positive=True)
    gain = number("gain", gain, positive=True)
    _choice("mode", mode, MODES)
    _choice("distribution", distribution, DISTRIBUTIONS)

    def rule(fans: Fans) -> Draw:
        std = gain * math.sqrt(scale / fans.get(mode))
        if distribution == "normal":
            return Draw("normal", mean=0.0, std=std, gain=gain)
        if distribution == "uniform":
            bound = math.sqrt(3.0) * std
            return Draw("uniform", std=std, low=-bound, high=bound, gain=gain)
        sigma = std / TRUNCATED_STD
        return Draw(
            "truncated_normal", mean=0.0, std=std, low=-2 * sigma, high=2 * sigma, gain=gain
        )

    return rule


xavier = partial(variance_scaling, scale=1.0, mode="fan_avg", distribution="uniform", gain=1.0)
xavier_normal = partial(
    variance_scaling, scale=1.0, mode="fan_avg", distribution="normal", gain=1.0
)
he = partial(variance_scaling, scale=1.0, mode="fan_in", distribution="normal", gain=math.sqrt(2))
he_uniform = partial(
    variance_scaling, scale=1.0, mode="fan_in", distribution="uniform", gain=math.sqrt(2)
)
lecun = partial(variance_scaling, scale=1.0, mode="fan_in", distribution="normal", gain=1.0)
lecun_uniform = partial(
    variance_scaling, scale=1.0, mode="fan_in", distribution="uniform", gain=1.0
)
uniform_rule = partial(
    variance_scaling, scale=1 / 3, mode="fan_in", distribution="uniform", gain=1.0
)


# ----------------------------------------------------------------------------------------------
# Fixed distributions.


def normal(mean: float = 0.0, std: float = 1.0) -> Rule:
    """N(mean, std²), the same for every layer whatever its fan."""
    mean = number("mean", mean)
    std = number("std", std, positive=True)
    return lambda fans: Draw("normal", mean=mean, std=std)


small_normal = partial(normal, mean=0.0, std=0.01)
large_normal = partial(normal, mean=0.0, std=0.5)


def uniform(a: float = 0.0, b: float = 1.0) -> Rule:
    """U[a, b), the same for every layer. The default U[0, 1) is the classic bad choice: all
    weights positive, so every unit of a layer moves together."""
    if number("a", a) >= number("b", b):
        raise ConfigError("a", a, f"must be < b (b={b})")
    a, b = float(a), float(b)
    return lambda fans: Draw("uniform", std=(b - a) / math.sqrt(12), low=a, high=b)


def trunc_normal(mean: float = 0.0, std: float = 0.02) -> Rule:
    """N(mean, std²) redrawn outside mean ± 2·std (``torch.nn.init.trunc_normal_``, as in ViT)."""
    mean = number("mean", mean)
    std = number("std", std, positive=True)
    # ``std`` is the parent normal's (torch's meaning); the truncated draw's own std is smaller.
    return lambda fans: Draw(
        "truncated_normal",
        mean=mean,
        std=TRUNCATED_STD * std,
        low=mean - 2 * std,
        high=mean + 2 * std,
    )


def constant(value: float = 0.1) -> Rule:
    """Every weight equal to ``value``. All units of a layer then compute the same function and
    receive the same gradient: symmetry is never broken."""
    value = number("value", value)
    return lambda fans: Draw("constant", mean=value, std=0.0, value=value)


def zeros() -> Rule:
    """Every weight 0 (a constant with no parameter to set)."""
    return constant(0.0)


def ones() -> Rule:
    """Every weight 1 (a constant with no parameter to set)."""
    return constant(1.0)


# ----------------------------------------------------------------------------------------------
# Structural methods.


def orthogonal(gain: float = 1.0) -> Rule:
    """A (semi-)orthogonal matrix times ``gain`` (Saxe, McClelland & Ganguli, 2013).

    The weight, flattened to (out, fan_in), has orthonormal rows (out ≤ fan_in) or columns:
    ``torch.nn.init.orthogonal_`` takes the QR decomposition of a gaussian matrix.
    """
    gain = number("gain", gain, positive=True)

    def rule(fans: Fans) -> Draw:
        # Flattened to (units, fan_in): ‖W‖²_F = gain²·min(rows, cols) over rows·cols entries.
        return Draw("orthogonal", std=gain / math.sqrt(max(fans.units, fans.fan_in)), gain=gain)

    return rule


def sparse(k: int = 15, std: float = 1.0) -> Rule:
    """Sparse init (Martens, 2010, "Deep learning via Hessian-free optimization"): each unit
    gets exactly ``k`` non-zero incoming weights drawn from N(0, std²), the rest zero, so the
    scale of a unit's input does not depend on the layer's width.

    Not ``torch.nn.init.sparse_``, which zeros a fraction of each *column* (outgoing weights).
    """
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ConfigError("k", k, "must be an integer ≥ 1")
    std = number("std", std, positive=True)

    def rule(fans: Fans) -> Draw:
        if k > fans.fan_in:
            raise ConfigError(
                "k", k, f"must be ≤ fan_in of every layer (a layer has fan_in {fans.fan_in})"
            )
        return Draw("sparse", mean=0.0, std=std * math.sqrt(k / fans.fan_in), k=k)

    return rule


def identity() -> Rule:
    """The identity map: ``eye`` for Linear (ones on the diagonal of the (out, in) matrix) and
    ``dirac`` for Conv2d (a one at the centre tap of channel i → i), as used to initialise
    recurrent and residual nets (Le et al., 2015)."""

    def rule(fans: Fans) -> Draw:
        return Draw("identity")

    return rule


def delta_orthogonal(gain: float = 1.0) -> Rule:
    """Delta-orthogonal (Xiao et al., 2018, "Dynamical isometry and a mean field theory of
    CNNs"): every Conv2d kernel is zero except its spatial centre tap, which holds an orthogonal
    (out, in) channel matrix times ``gain`` (one per group), so at initialisation the convolution
    maps each pixel's channels by an orthogonal matrix and nothing else: a 10 000-layer vanilla
    CNN stays trainable. Linear layers get an orthogonal matrix (Saxe et al., 2013).

    The paper assumes out ≥ in (orthonormal columns: an isometry). With out < in the centre tap
    has orthonormal rows instead (W Wᵀ = gain²·I), the closest a narrowing layer can get.
    """
    gain = number("gain", gain, positive=True)

    def rule(fans: Fans) -> Draw:
        # std is reported as for orthogonal; for a conv it is spread over the centre tap only.
        return Draw("delta_orthogonal", std=None, gain=gain)

    return rule


def zero() -> Rule:
    """ZerO (Zhao, Schäfer & Anandkumar, 2022, "ZerO initialization: initializing neural
    networks with only zeros and ones", Algorithm 1): deterministic, no randomness at all. For a
    weight matrix of P outputs and Q inputs:

    - P ≤ Q: the (partial) identity I*, ones on the diagonal (P = Q: the identity);
    - P > Q: c·H[:P, :Q], the top-left block of the 2^m × 2^m Hadamard matrix (Sylvester's
      construction, entries ±1), m = ⌈log₂ P⌉, c = 2^(−(m−1)/2): the Hadamard rows spread the
      Q inputs over all P outputs, where an identity would leave P − Q units dead.

    Conv2d: the same matrix at the spatial centre tap of each group, the other taps zero.
    """

    def rule(fans: Fans) -> Draw:
        return Draw("zero")

    return rule


def zero_matrix(rows: int, cols: int) -> torch.Tensor:
    """ZerO's (rows, cols) matrix, Algorithm 1 of Zhao et al. (2022) (see :func:`zero`)."""
    if rows <= cols:
        return torch.eye(rows, cols)
    m = math.ceil(math.log2(rows))
    return 2 ** (-(m - 1) / 2) * torch.from_numpy(hadamard(2**m)).float()[:rows, :cols]


def lsuv(tol: float = 0.1, max_iter: int = 10, batch_size: int = 1000) -> Calibrated:
    """LSUV, Layer-Sequential Unit-Variance (Mishkin & Matas, 2016): an orthonormal pre-init
    (Saxe et al., 2013), then, layer by layer in forward order, the weights are scaled by
    1/√Var(output) until the variance of the layer's output on ``batch_size`` training examples
    is within ``tol`` of 1, at most ``max_iter`` times (:func:`initlab.calibrate.lsuv`)."""
    tol = number("tol", tol, positive=True)
    max_iter = positive_int("max_iter", max_iter)
    calibration = Calibration(
        "lsuv", {"tol": tol, "max_iter": max_iter}, positive_int("batch_size", batch_size)
    )
    return Calibrated(orthogonal(), calibration)


def data_dependent(std: float = 1.0, batch_size: int = 1000) -> Calibrated:
    """Krähenbühl et al. (2016), within-layer data-dependent init: a random N(0, std²/fan_in)
    draw, then per output unit a scale and shift so that its pre-activation on ``batch_size``
    training examples has mean 0 and variance 1 (:func:`initlab.calibrate.within_layer`). A
    layer without a bias (a batch norm follows it, which centres it) is only scaled."""
    std = number("std", std, positive=True)
    calibration = Calibration("within_layer", {}, positive_int("batch_size", batch_size))
    return Calibrated(variance_scaling(1.0, "fan_in", "normal", std), calibration)


def dbn(
    epochs_per_layer: int = 5,
    lr: float = 0.01,
    k: int = 1,
    batch_size: int = 100,
    examples: int = 10000,
) -> Calibrated:
    """Deep-belief-net pretraining (Hinton, Osindero & Teh, 2006): small random weights
    N(0, 0.01²) (Hinton, 2010), then each hidden Linear layer trained greedily as an RBM by
    CD-``k`` on ``examples`` training examples, ``epochs_per_layer`` passes each, mini-batches of
    ``batch_size`` at learning rate ``lr`` (:func:`initlab.calibrate.dbn`). MLPs only."""
    params = {
        "epochs": positive_int("epochs_per_layer", epochs_per_layer),
        "lr": number("lr", lr, positive=True),
        "k": positive_int("k", k),
        "batch_size": positive_int("batch_size", batch_size),
    }
    return Calibrated(
        normal(0.0, 0.01), Calibration("dbn", params, positive_int("examples", examples))
    )


def default() -> Rule:
    """The framework's own ``reset_parameters`` (for Linear and Conv2d: Kaiming-uniform with
    a=√5, i.e. weights U(±1/√fan_in)), run under this initializer's seed."""

    def rule(fans: Fans) -> Draw:
        bound = 1 / math.sqrt(fans.fan_in)
        return Draw("reset_parameters", std=bound / math.sqrt(3), low=-bound, high=bound)

    return rule


INITIALIZERS: dict[str, Callable[..., Rule | Calibrated]] = {}


def register(name: str, fn: Callable[..., Rule | Calibrated]) -> None:
    """Add an initializer; a duplicate name raises."""
    if name in INITIALIZERS:
        raise KeyError(f"initializer {name!r} is already registered")
    INITIALIZERS[name] = fn


for _name, _fn in {
    "default": default,
    "zeros": zeros,
    "ones": ones,
    "constant": constant,
    "uniform": uniform,
    "uniform_rule": uniform_rule,
    "normal": normal,
    "small_normal": small_normal,
    "large_normal": large_normal,
    "trunc_normal": trunc_normal,
    "xavier": xavier,
    "xavier_normal": xavier_normal,
    "he": he,
    "he_uniform": he_uniform,
    "lecun": lecun,
    "lecun_uniform": lecun_uniform,
    "variance_scaling": variance_scaling,
    "orthogonal": orthogonal,
    "sparse": sparse,
    "identity": identity,
    "delta_orthogonal": delta_orthogonal,
    "zero": zero,
    "lsuv": lsuv,
    "data_dependent": data_dependent,
    "dbn": dbn,
}.items():
    register(_name, _fn)


def get_initializer(
    name: str | Callable[..., Rule],
    *,
    bias: str | float | None = None,
    uncovered: str = "error",
    activation_gain: float | None = None,
    **params,
) -> Initializer:
    """Look an initializer up by name (or take a rule factory) and check its parameters.

    ``gain="auto"`` becomes ``activation_gain``, the chosen activation's gain. ``bias`` defaults
    to ``"default"`` for ``init=default`` and ``"zeros"`` otherwise. Raises :class:`ConfigError`
    naming the parameter for any bad value or unknown parameter.
    """
    if callable(name):
        fn, name = name, getattr(name, "__name__", "custom")
    elif name in INITIALIZERS:
        fn = INITIALIZERS[name]
    else:
        raise ConfigError(
            "name", name, f"unknown initializer; choose from {', '.join(INITIALIZERS)}"
        )
    if params.get("gain") == "auto":
        if activation_gain is None:
            raise ConfigError("gain", "auto", "needs an activation to take the gain from")
        params["gain"] = activation_gain
    if bias is None:
        bias = "default" if name == "default" else "zeros"
    if bias not in ("zeros", "default"):
        try:
            bias = number("bias", bias)
        except ConfigError:
            raise ConfigError("bias", bias, "must be zeros, default or a number") from None
    uncovered = coverage.check_policy(uncovered)
    made = call_with(fn, params)
    if isinstance(made, Calibrated):
        return Initializer(name, made.rule, bias, made.calibration, uncovered)
    return Initializer(name, made, bias, uncovered=uncovered)


# ----------------------------------------------------------------------------------------------
# Planning and applying.


@dataclass(frozen=True)
class LayerPlan:
    """What the initializer does to one weight layer; rows of the run's ``init_plan``."""

    layer: str  # layerK, K-th weight layer from the input, from 1
    module: str  # the module's name inside the net
    kind: str  # e.g. Linear(784→256) or Conv2d(1→32, 3×3, groups=1)
    fan_in: int
    fan_out: int
    weight: Draw
    bias: Draw | None

    def row(self) -> dict:
        """Flat dict for tables: layer, shape, fans, method, std, bound, gain, bias."""
        w = self.weight
        bound = None if w.low is None else max(abs(w.low), abs(w.high))
        return {
            "layer": self.layer,
            "module": self.module,
            "kind": self.kind,
            "fan_in": self.fan_in,
            "fan_out": self.fan_out,
            "method": w.method,
            "mean": w.mean,
            "std": w.std,
            "bound": bound,
            "gain": w.gain,
            "k": w.k,
            "bias": _describe_bias(self.bias),
        }


def layer_kind(layer: nn.Module) -> str:
    """How the plan and the calibration records name a layer: ``Linear(784→256)``,
    ``Conv2d(1→32, 3×3, groups=1)``."""
    if isinstance(layer, nn.Linear):
        return f"Linear({layer.in_features}→{layer.out_features})"
    kh, kw = layer.kernel_size
    return f"Conv2d({layer.in_channels}→{layer.out_channels}, {kh}×{kw}, groups={layer.groups})"


def _bias_draw(bias: str | float, fans: Fans) -> Draw:
    if bias == "zeros":
        return Draw("constant", mean=0.0, std=0.0, value=0.0)
    if bias == "default":
        bound = 1 / math.sqrt(fans.fan_in)
        return Draw("uniform", std=bound / math.sqrt(3), low=-bound, high=bound)
    return Draw("constant", mean=float(bias), std=0.0, value=float(bias))


def _describe_bias(draw: Draw | None) -> str:
    if draw is None:
        return "none"
    if draw.method == "constant":
        return f"constant {draw.value:g}"
    return f"U(±{draw.high:.4g})"


def plan(
    init: Initializer, net: nn.Module, in_shape: tuple[int, ...] | None = None
) -> list[LayerPlan]:
    """Per weight layer, ``layerK`` in forward order for an input of ``in_shape`` (registration
    order without it; :mod:`initlab.layer_order`): fans from the layer, and the draws for weight
    and bias.

    Works on a model on the ``meta`` device. Raises :class:`ConfigError` where the rule cannot
    apply to a layer.
    """
    rows = []
    for k, (name, layer) in enumerate(forward_order(net, in_shape), start=1):
        fans = Fans.of(layer)
        bias = None if layer.bias is None else _bias_draw(init.bias, fans)
        rows.append(
            LayerPlan(
                f"layer{k}",
                name,
                layer_kind(layer),
                fans.fan_in,
                fans.fan_out,
                init.weight(fans),
                bias,
            )
        )
    return rows


@torch.no_grad()
def apply(
    init: Initializer, net: nn.Module, seed: int, in_shape: tuple[int, ...] | None = None
) -> list[LayerPlan]:
    """Initialise every weight layer of ``net`` in place from one generator seeded by ``seed``
    (``layerK`` as :func:`plan` numbers them for ``in_shape``).

    Layers are filled in order, so the same seed and model give bit-identical weights. The
    generator lives on the CPU: call this before moving the net (Lightning's ``setup`` runs
    before the model is moved), so a seed means the same weights on every device.
    """
    layers = plan(init, net, in_shape)
    generator = torch.Generator().manual_seed(seed)
    modules = dict(net.named_modules())
    for row in layers:
        layer = modules[row.module]
        _fill_weight(layer, row.weight, generator)
        if layer.bias is not None:
            _fill(layer.bias, row.bias, generator)
    coverage.fill_norms(net)
    return layers


def _fill_weight(layer: nn.Module, draw: Draw, generator: torch.Generator) -> None:
    w = layer.weight
    if draw.method == "reset_parameters":
        # torch's reset_parameters draws from the global RNG: run it under a seed taken from our
        # generator, inside fork_rng so the caller's global RNG state is untouched.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(torch.randint(2**62, (1,), generator=generator)))
            layer.reset_parameters()  # the bias is then drawn again from the plan's bias draw
        return
    if draw.method == "identity":
        if isinstance(layer, nn.Conv2d):
            nn.init.dirac_(w, groups=layer.groups)
        else:
            nn.init.eye_(w)
        return
    if draw.method in ("delta_orthogonal", "zero"):
        if isinstance(layer, nn.Linear):
            _centre_matrix(w, draw, generator)
            return
        # Conv2d (out, in/g, kh, kw): zero everywhere but the centre tap, one matrix per group.
        w.zero_()
        per_group = w.shape[0] // layer.groups
        for g in range(layer.groups):
            block = w[g * per_group : (g + 1) * per_group, :, w.shape[2] // 2, w.shape[3] // 2]
            _centre_matrix(block, draw, generator)
        return
    if draw.method == "sparse":
        # (out, fan_in) view: choose k inputs per output unit, fill them from N(0, std²).
        flat = w.view(w.shape[0], -1)
        flat.zero_()
        std = draw.std * math.sqrt(flat.shape[1] / draw.k)  # back from per-entry std
        for row in flat:
            idx = torch.randperm(flat.shape[1], generator=generator)[: draw.k]
            row[idx] = torch.randn(draw.k, generator=generator, dtype=w.dtype) * std
        return
    _fill(w, draw, generator)


def _centre_matrix(t: torch.Tensor, draw: Draw, generator: torch.Generator) -> None:
    """Fill the (out, in) matrix ``t``: orthogonal × gain, or ZerO's deterministic matrix."""
    if draw.method == "zero":
        t.copy_(zero_matrix(*t.shape))
    else:
        t.copy_(nn.init.orthogonal_(torch.empty(t.shape), draw.gain, generator=generator))


def _fill(t: torch.Tensor, draw: Draw, g: torch.Generator) -> None:
    if draw.method == "normal":
        nn.init.normal_(t, draw.mean, draw.std, generator=g)
    elif draw.method == "uniform":
        nn.init.uniform_(t, draw.low, draw.high, generator=g)
    elif draw.method == "truncated_normal":
        sigma = (draw.high - draw.low) / 4  # the parent normal's std: cut at ±2σ
        nn.init.trunc_normal_(t, draw.mean, sigma, draw.low, draw.high, generator=g)
    elif draw.method == "constant":
        nn.init.constant_(t, draw.value)
    elif draw.method == "orthogonal":
        nn.init.orthogonal_(t, gain=draw.gain, generator=g)
    else:
        raise ValueError(f"cannot fill a tensor with method {draw.method!r}")


def plan_table(layers: list[LayerPlan]) -> str:
    """The plan as a markdown table (TensorBoard's text plugin renders it)."""
    rows = [lp.row() for lp in layers]
    cols = [
        "layer",
        "module",  # the module path: what layerK is in this model
        "kind",
        "fan_in",
        "fan_out",
        "method",
        "mean",
        "std",
        "bound",
        "gain",
        "k",
        "bias",
    ]
    return markdown_table(cols, ([r[c] for c in cols] for r in rows))


def plan_records(layers: list[LayerPlan]) -> list[dict]:
    """The plan as JSON-ready records (weight and bias draws in full)."""
    return [
        {**lp.row(), "weight": asdict(lp.weight), "bias": asdict(lp.bias) if lp.bias else None}
        for lp in layers
    ]
