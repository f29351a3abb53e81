"""Weight initializers: statistics against the formulas, torch parity, seeds, plans, configs.

Every expected number here is written out from the published formula (Glorot & Bengio, He et
al., LeCun et al., Saxe et al., Martens) or taken from ``torch.nn.init`` / scipy, never from
``initlab.initializers`` itself. Tests loop over ``INITIALIZERS`` so that a new entry is covered
(and fails until it gets a reference below).
"""

from __future__ import annotations

import inspect
import json
import math
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
import yaml
from conftest import make_cfg
from omegaconf import OmegaConf
from scipy import stats
from torch import nn

from initlab.config.errors import ConfigError
from initlab.initializers import (
    INITIALIZERS,
    apply,
    get_initializer,
    plan,
    plan_records,
    plan_table,
)
from initlab.initializers.initializer import SHARED_KEYS
from initlab.initializers.weight_blocks import fans_of
from initlab.models.builders import resnet

CONF_INIT = Path(__file__).resolve().parents[2] / "conf" / "init"
NAMES = sorted(INITIALIZERS)
# Initializers made for recurrent or residual nets (irnn, zero_gamma, fixup, …) refuse the plain
# Linear and Conv layers the tests here draw on; tests/models/test_recurrent.py and
# tests/models/test_residual.py check them.
LAYER_NAMES = [
    n
    for n in NAMES
    if not (get_initializer(n).needs_recurrent or get_initializer(n).needs_residual)
]

# Standard deviation of N(0, 1) truncated to [-2, 2], computed by scipy (not the module's constant).
TRUNC_STD = float(stats.truncnorm(-2, 2).std())
# P(|Z| < 1), Z ~ N(0, 1). The fraction of draws within one std of the centre tells the shapes
# apart at equal std: normal 0.683, uniform 1/√3 = 0.577, normal cut at ±2σ 0.683/0.954.
P_NORMAL_1SD = math.erf(1 / math.sqrt(2))
SQRT2 = math.sqrt(2.0)


@pytest.fixture(autouse=True)
def _fixed_global_seed():
    """Layers are constructed from the global RNG: fix it so every test is reproducible."""
    torch.manual_seed(0)


# ----------------------------------------------------------------------------------------------
# Reference distributions, written from the formulas.


@dataclass(frozen=True)
class Normal:
    mean: float
    std: float


@dataclass(frozen=True)
class Uniform:
    low: float
    high: float


@dataclass(frozen=True)
class TruncNormal:
    """Parent N(mean, sigma²) cut to [mean - 2 sigma, mean + 2 sigma]."""

    mean: float
    sigma: float


@dataclass(frozen=True)
class Constant:
    value: float


@dataclass(frozen=True)
class Orthogonal:
    gain: float


@dataclass(frozen=True)
class Sparse:
    k: int
    std: float


@dataclass(frozen=True)
class Identity:
    pass


@dataclass(frozen=True)
class DeltaOrthogonal:
    """Conv2d: zero but an orthogonal × gain centre tap per group; Linear: orthogonal."""

    gain: float


@dataclass(frozen=True)
class ZerO:
    """Zhao et al. (2022), Algorithm 1: identity / partial identity / scaled Hadamard."""


@dataclass(frozen=True)
class TorchDefault:
    """U(±1/√fan_in), torch's reset_parameters for Linear/Conv2d."""

    bound: float


def _fan(mode: str, fan_in: int, fan_out: int) -> float:
    return {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[mode]


def variance_scaling_ref(scale=1.0, mode="fan_in", distribution="truncated_normal", gain=1.0):
    def ref(fi, fo):
        std = gain * math.sqrt(scale / _fan(mode, fi, fo))
        if distribution == "normal":
            return Normal(0.0, std)
        if distribution == "uniform":
            return Uniform(-math.sqrt(3) * std, math.sqrt(3) * std)
        # the truncated draw has std `std`: its parent normal is wider by 1/TRUNC_STD
        return TruncNormal(0.0, std / TRUNC_STD)

    return ref


# name -> (params -> (fan_in, fan_out) -> reference). Defaults are the documented ones.
REFERENCE = {
    "default": lambda: lambda fi, fo: TorchDefault(1 / math.sqrt(fi)),
    "zeros": lambda: lambda fi, fo: Constant(0.0),
    "ones": lambda: lambda fi, fo: Constant(1.0),
    "constant": lambda value=0.1: lambda fi, fo: Constant(value),
    "uniform": lambda a=0.0, b=1.0: lambda fi, fo: Uniform(a, b),
    "uniform_rule": lambda: lambda fi, fo: Uniform(-1 / math.sqrt(fi), 1 / math.sqrt(fi)),
    "normal": lambda mean=0.0, std=1.0: lambda fi, fo: Normal(mean, std),
    "small_normal": lambda: lambda fi, fo: Normal(0.0, 0.01),
    "large_normal": lambda: lambda fi, fo: Normal(0.0, 0.5),
    "trunc_normal": lambda mean=0.0, std=0.02: lambda fi, fo: TruncNormal(mean, std),
    # Devlin et al. (2019): TensorFlow's truncated normal, stddev 0.02 cut at ±2 stddev
    "bert": lambda mean=0.0, std=0.02: lambda fi, fo: TruncNormal(mean, std),
    # Glorot & Bengio (2010): U(±gain·√(6/(fan_in+fan_out))) and N(0, gain²·2/(fan_in+fan_out))
    "xavier": lambda gain=1.0: (
        lambda fi, fo: Uniform(-gain * math.sqrt(6 / (fi + fo)), gain * math.sqrt(6 / (fi + fo)))
    ),
    "xavier_normal": lambda gain=1.0: lambda fi, fo: Normal(0.0, gain * math.sqrt(2 / (fi + fo))),
    # He et al. (2015): N(0, 2/fan_in) and U(±√(6/fan_in))
    "he": lambda gain=SQRT2: lambda fi, fo: Normal(0.0, gain / math.sqrt(fi)),
    "he_uniform": lambda gain=SQRT2: (
        lambda fi, fo: Uniform(-gain * math.sqrt(3 / fi), gain * math.sqrt(3 / fi))
    ),
    # LeCun et al. (1998): N(0, 1/fan_in) and U(±√(3/fan_in))
    "lecun": lambda gain=1.0: lambda fi, fo: Normal(0.0, gain / math.sqrt(fi)),
    "lecun_uniform": lambda gain=1.0: (
        lambda fi, fo: Uniform(-gain * math.sqrt(3 / fi), gain * math.sqrt(3 / fi))
    ),
    "variance_scaling": variance_scaling_ref,
    "orthogonal": lambda gain=1.0: lambda fi, fo: Orthogonal(gain),
    "sparse": lambda k=15, std=1.0: lambda fi, fo: Sparse(k, std),
    "identity": lambda: lambda fi, fo: Identity(),
    "delta_orthogonal": lambda gain=1.0: lambda fi, fo: DeltaOrthogonal(gain),
    # mean-field theory's parametrization (its biases: tests/initializers/test_mean_field_rule.py)
    "mean_field": lambda sigma_w2=1.0, sigma_b2=0.0, weights="normal": (
        lambda fi, fo: (
            Normal(0.0, math.sqrt(sigma_w2 / fi))
            if weights == "normal"
            else Orthogonal(math.sqrt(sigma_w2))
        )
    ),
    "zero_hadamard": lambda: lambda fi, fo: ZerO(),
    # Le et al. (2015): N(0, input_std²) but the hidden-to-hidden blocks
    # (tests/initializers/test_weight_blocks.py)
    "irnn": lambda input_std=0.001, scale=1.0: lambda fi, fo: Normal(0.0, input_std),
    # Goyal et al. (2017): the base rule (he) but the branches' last γ
    # (tests/models/test_residual.py)
    "zero_gamma": lambda base="he": lambda fi, fo: Normal(0.0, SQRT2 / math.sqrt(fi)),
    # Zhang et al. (2019), De & Smith (2020): the base rule, then the branches' scaling, zero
    # layers and scalars (tests/models/test_residual.py)
    "fixup": lambda base="he", scale=1.0: lambda fi, fo: Normal(0.0, SQRT2 / math.sqrt(fi)),
    "skipinit": lambda base="he", alpha=0.0: lambda fi, fo: Normal(0.0, SQRT2 / math.sqrt(fi)),
    # Radford et al. (2019), Huang et al. (2020): the base draw before the residual projections'
    # and branches' factors (tests/models/test_transformer.py)
    "gpt2": lambda std=0.02: lambda fi, fo: Normal(0.0, std),
    "t_fixup": lambda base="xavier": (
        lambda fi, fo: Uniform(-math.sqrt(6 / (fi + fo)), math.sqrt(6 / (fi + fo)))
    ),
    # Data-dependent: their rule before the calibration on a batch
    # (tests/initializers/test_calibration.py).
    "lsuv": lambda tol=0.1, max_iter=10, batch_size=1000: lambda fi, fo: Orthogonal(1.0),
    "data_dependent": lambda std=1.0, batch_size=1000: (
        lambda fi, fo: Normal(0.0, std / math.sqrt(fi))
    ),
    "dbn": lambda epochs_per_layer=5, lr=0.01, k=1, batch_size=100, examples=10000: (
        lambda fi, fo: Normal(0.0, 0.01)
    ),
}

# Non-default parameter sets, on top of every initializer's defaults.
EXTRA_CASES = [
    ("constant", {"value": -0.7}),
    ("uniform", {"a": -0.5, "b": 2.0}),
    ("normal", {"mean": 0.3, "std": 2.0}),
    ("trunc_normal", {"mean": 0.1, "std": 0.3}),
    ("xavier", {"gain": 1.3}),
    ("xavier_normal", {"gain": 1.3}),
    ("he", {"gain": 1.1}),
    ("he_uniform", {"gain": 1.1}),
    ("lecun", {"gain": 0.8}),
    ("lecun_uniform", {"gain": 0.8}),
    ("orthogonal", {"gain": 1.7}),
    ("delta_orthogonal", {"gain": 1.7}),
    ("sparse", {"k": 40, "std": 0.3}),
    ("mean_field", {"sigma_w2": 1.76, "sigma_b2": 0.05}),
    ("mean_field", {"sigma_w2": 2.0, "weights": "orthogonal"}),
] + [
    ("variance_scaling", {"scale": 2.0, "mode": mode, "distribution": dist, "gain": 1.3})
    for mode in ("fan_in", "fan_out", "fan_avg")
    for dist in ("normal", "uniform", "truncated_normal")
]

CASES = [(name, {}) for name in LAYER_NAMES] + EXTRA_CASES


def _case_id(case) -> str:
    name, params = case
    return name + "".join(f"-{k}={v}" for k, v in params.items())


def big_linear() -> nn.Linear:
    return nn.Linear(2000, 1000)  # 2M weights; fan_in 2000, fan_out 1000


def big_conv() -> nn.Conv2d:
    return nn.Conv2d(64, 128, 3)  # 73,728 weights; fan_in 576, fan_out 1152


BIG_LAYERS = {"linear": big_linear, "conv": big_conv}


# ----------------------------------------------------------------------------------------------
# Checks of a tensor against a reference.


def _flat(w: torch.Tensor) -> torch.Tensor:
    return w.detach().double().flatten()


def _check_mean_std(x: torch.Tensor, mean: float, std: float) -> None:
    n = x.numel()
    # 5 standard errors: about 0.25 % relative on the std for 2M samples, 1.3 % for 74k
    assert abs(x.mean().item() - mean) < 5 * std / math.sqrt(n)
    assert x.std().item() == pytest.approx(std, rel=5 / math.sqrt(2 * n))


def _check_fraction_within(x: torch.Tensor, centre: float, half_width: float, p: float) -> None:
    n = x.numel()
    frac = ((x - centre).abs() < half_width).double().mean().item()
    assert abs(frac - p) < 5 * math.sqrt(p * (1 - p) / n)


def check_normal(w, ref: Normal) -> None:
    x = _flat(w)
    _check_mean_std(x, ref.mean, ref.std)
    _check_fraction_within(x, ref.mean, ref.std, P_NORMAL_1SD)


def check_uniform(w, low: float, high: float) -> None:
    x = _flat(w)
    n, width = x.numel(), high - low
    lo, hi = x.min().item(), x.max().item()
    eps = 1e-6 * max(abs(low), abs(high))  # float32 rounding of the bounds
    assert low - eps <= lo and hi <= high + eps
    # the extremes of n uniform draws lie within ~width/n of the bounds
    assert lo - low < 20 * width / n and high - hi < 20 * width / n
    _check_mean_std(x, (low + high) / 2, width / math.sqrt(12))
    _check_fraction_within(x, (low + high) / 2, width / math.sqrt(12), 1 / math.sqrt(3))


def check_trunc_normal(w, ref: TruncNormal) -> None:
    x = _flat(w)
    n = x.numel()
    low, high = ref.mean - 2 * ref.sigma, ref.mean + 2 * ref.sigma
    lo, hi = x.min().item(), x.max().item()
    eps = 1e-6 * (abs(ref.mean) + 2 * ref.sigma)  # float32 rounding of the cut points
    assert low - eps <= lo and hi <= high + eps
    # density at the cut is φ(2)/(σ·Z): extremes lie within ~σZ/(nφ(2)) of it
    mass = stats.norm.cdf(2) - stats.norm.cdf(-2)
    gap = 20 * ref.sigma * mass / (n * stats.norm.pdf(2))
    assert lo - low < gap and high - hi < gap
    _check_mean_std(x, ref.mean, ref.sigma * TRUNC_STD)
    _check_fraction_within(x, ref.mean, ref.sigma, P_NORMAL_1SD / mass)


def check_orthogonal(w, gain: float) -> None:
    m = w.detach().double().reshape(w.shape[0], -1)
    rows, cols = m.shape
    # wide: orthonormal rows; tall: orthonormal columns
    gram = m @ m.T if rows <= cols else m.T @ m
    eye = torch.eye(min(rows, cols), dtype=torch.float64)
    torch.testing.assert_close(gram, gain**2 * eye, rtol=0, atol=1e-5 * gain**2)
    assert (m != 0).double().mean().item() > 0.99  # a dense rotation, not a permutation


def check_sparse(w, ref: Sparse) -> None:
    m = w.detach().double().reshape(w.shape[0], -1)
    nonzero = m != 0
    assert nonzero.sum(dim=1).tolist() == [ref.k] * m.shape[0]
    # the k inputs differ from unit to unit
    assert nonzero.any(dim=0).double().mean().item() > 0.9
    assert not all(torch.equal(nonzero[0], row) for row in nonzero[1:])
    check_normal(m[nonzero], Normal(0.0, ref.std))


def dirac_reference(out_ch: int, in_per_group: int, kh: int, kw: int, groups: int):
    """Output channel g·(out/g) + d reads input channel d of group g at the centre tap."""
    e = torch.zeros(out_ch, in_per_group, kh, kw)
    per_group = out_ch // groups
    for g in range(groups):
        for d in range(min(per_group, in_per_group)):
            e[g * per_group + d, d, kh // 2, kw // 2] = 1.0
    return e


def check_identity(layer) -> None:
    w = layer.weight.detach()
    if isinstance(layer, nn.Linear):
        assert torch.equal(w, torch.eye(layer.out_features, layer.in_features))
    else:
        expected = dirac_reference(w.shape[0], w.shape[1], *w.shape[2:], layer.groups)
        assert torch.equal(w, expected)


def centre_taps(layer: nn.Module) -> list[torch.Tensor]:
    """The (out/g, in/g) matrix of each group at the kernel's centre; after checking every other
    tap is zero. A Linear layer is one group with its whole weight."""
    w = layer.weight.detach()
    if isinstance(layer, nn.Linear):
        return [w]
    kh, kw = w.shape[2:]
    off_centre = w.clone()
    off_centre[:, :, kh // 2, kw // 2] = 0
    assert torch.all(off_centre == 0)
    per_group = w.shape[0] // layer.groups
    return [
        w[g * per_group : (g + 1) * per_group, :, kh // 2, kw // 2] for g in range(layer.groups)
    ]


def sylvester_hadamard(n: int) -> torch.Tensor:
    """H_1 = [1]; H_2k = [[H_k, H_k], [H_k, -H_k]]: the Hadamard matrix ZerO takes blocks of."""
    h = torch.ones(1, 1)
    while h.shape[0] < n:
        h = torch.cat([torch.cat([h, h], 1), torch.cat([h, -h], 1)], 0)
    return h


def zero_reference(rows: int, cols: int) -> torch.Tensor:
    if rows <= cols:  # identity, or the partial identity I* of a narrowing layer
        return torch.eye(rows, cols)
    m = math.ceil(math.log2(rows))  # widening: c·I*·H_m·I*, c = 2^(-(m-1)/2)
    return sylvester_hadamard(2**m)[:rows, :cols] / 2 ** ((m - 1) / 2)


def check(layer: nn.Module, ref) -> None:
    w = layer.weight
    if isinstance(ref, Normal):
        check_normal(w, ref)
    elif isinstance(ref, Uniform):
        check_uniform(w, ref.low, ref.high)
    elif isinstance(ref, TruncNormal):
        check_trunc_normal(w, ref)
    elif isinstance(ref, Constant):
        assert torch.all(w == ref.value)
    elif isinstance(ref, Orthogonal):
        check_orthogonal(w, ref.gain)
    elif isinstance(ref, Sparse):
        check_sparse(w, ref)
    elif isinstance(ref, Identity):
        check_identity(layer)
    elif isinstance(ref, DeltaOrthogonal):
        for block in centre_taps(layer):
            check_orthogonal(block, ref.gain)
    elif isinstance(ref, ZerO):
        for block in centre_taps(layer):
            torch.testing.assert_close(block, zero_reference(*block.shape), rtol=0, atol=1e-7)
    elif isinstance(ref, TorchDefault):
        check_uniform(w, -ref.bound, ref.bound)
    else:  # pragma: no cover - a new reference type needs a check
        raise AssertionError(f"no check for {ref!r}")


# ----------------------------------------------------------------------------------------------
# 1. Statistics of every initializer against its formula.


def test_every_initializer_has_a_reference():
    assert set(REFERENCE) == set(INITIALIZERS)


@pytest.mark.parametrize("layer_kind", sorted(BIG_LAYERS))
@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_weights_follow_the_formula(case, layer_kind):
    name, params = case
    layer = BIG_LAYERS[layer_kind]()
    fans = fans_of(layer)
    apply(get_initializer(name, **params), layer, seed=1234)
    check(layer, REFERENCE[name](**params)(fans.fan_in, fans.fan_out))


@pytest.mark.parametrize("layer_kind", sorted(BIG_LAYERS))
@pytest.mark.parametrize("name", LAYER_NAMES)
def test_plan_std_is_the_std_of_the_weights(name, layer_kind):
    """Draw.std is documented as the std each entry gets (for structural methods, that of the
    resulting matrix): it must match what apply() produces."""
    layer = BIG_LAYERS[layer_kind]()
    (row,) = apply(get_initializer(name), layer, seed=3)
    if row.weight.std is not None:
        empirical = layer.weight.detach().double().std().item()
        assert empirical == pytest.approx(row.weight.std, rel=0.05, abs=1e-12)


def test_variance_scaling_truncation_is_compensated():
    """JAX semantics: the *truncated* draw has std gain·√(scale/fan); cut at ±2σ, σ = std/0.8796."""
    assert abs(TRUNC_STD - 0.87962566103423978) < 1e-12
    layer = big_linear()
    apply(get_initializer("variance_scaling", scale=2.0, gain=1.5), layer, seed=0)
    x = _flat(layer.weight)
    std = 1.5 * math.sqrt(2.0 / 2000)
    assert x.std().item() == pytest.approx(std, rel=5 / math.sqrt(2 * x.numel()))
    sigma = std / 0.87962566103423978
    assert x.abs().max().item() <= 2 * sigma * (1 + 1e-6)
    assert x.abs().max().item() > 2 * sigma * 0.999


def test_trunc_normal_uses_torch_semantics():
    """``std`` is the parent normal's: values in mean ± 2·std, actual std ≈ 0.88·std."""
    layer = big_linear()
    apply(get_initializer("trunc_normal", mean=0.5, std=0.1), layer, seed=0)
    x = _flat(layer.weight)
    assert x.min().item() >= 0.3 - 1e-7 and x.max().item() <= 0.7 + 1e-7
    assert x.std().item() == pytest.approx(0.1 * TRUNC_STD, rel=0.005)


@pytest.mark.parametrize("gain", [1.0, 2.5])
@pytest.mark.parametrize(
    "shape", [(300, 100), (100, 300), (40, 10), (10, 40)], ids=lambda s: f"in{s[0]}-out{s[1]}"
)
def test_orthogonal_linear(shape, gain):
    layer = nn.Linear(*shape)
    apply(get_initializer("orthogonal", gain=gain), layer, seed=5)
    check_orthogonal(layer.weight, gain)
    w = layer.weight.detach().double()
    if layer.out_features <= layer.in_features:  # W Wᵀ = gain² I
        gram, size = w @ w.T, layer.out_features
    else:  # Wᵀ W = gain² I
        gram, size = w.T @ w, layer.in_features
    torch.testing.assert_close(gram, gain**2 * torch.eye(size, dtype=w.dtype), rtol=0, atol=1e-5)


@pytest.mark.parametrize(
    "layer",
    [nn.Conv2d(16, 32, 3), nn.Conv2d(2, 64, 3), nn.Conv2d(8, 16, 3, groups=4)],
    ids=["wide", "tall", "grouped"],
)
def test_orthogonal_conv(layer):
    apply(get_initializer("orthogonal", gain=1.3), layer, seed=5)
    check_orthogonal(layer.weight, 1.3)


@pytest.mark.parametrize(
    "make",
    [
        big_linear,
        lambda: nn.Linear(30, 50),
        big_conv,
        lambda: nn.Conv2d(8, 16, 3, groups=4),
    ],
    ids=["linear", "small-linear", "conv", "grouped-conv"],
)
@pytest.mark.parametrize("k", [1, 15])
def test_sparse_has_exactly_k_inputs_per_unit(make, k):
    layer = make()
    apply(get_initializer("sparse", k=k, std=0.7), layer, seed=9)
    m = layer.weight.detach().reshape(layer.weight.shape[0], -1)
    assert m.shape[1] == fans_of(layer).fan_in
    assert (m != 0).sum(dim=1).tolist() == [k] * m.shape[0]


def test_sparse_k_equal_to_fan_in_is_dense():
    layer = nn.Linear(15, 100)
    apply(get_initializer("sparse", k=15), layer, seed=0)
    assert bool((layer.weight != 0).all())


@pytest.mark.parametrize(
    "layer",
    [
        nn.Linear(10, 10),
        nn.Linear(10, 6),
        nn.Linear(6, 10),
        nn.Conv2d(4, 4, 3, padding=1),
        nn.Conv2d(4, 4, 5, padding=2),
        nn.Conv2d(4, 8, 3, padding=1),
        nn.Conv2d(8, 8, 3, padding=1, groups=4),
        nn.Conv2d(8, 16, 3, padding=1, groups=4),
    ],
    ids=lambda m: repr(m).replace(" ", ""),
)
def test_identity_is_eye_or_dirac(layer):
    apply(get_initializer("identity"), layer, seed=0)
    check_identity(layer)
    if isinstance(layer, nn.Linear):
        x = torch.randn(3, layer.in_features)
    else:
        x = torch.randn(3, layer.in_channels, 7, 7)
    with torch.no_grad():
        y = layer(x)
    # with zero bias the layer passes its inputs through: output channel of group g, index d,
    # is input channel d of group g (channels beyond the smaller side are zero)
    if isinstance(layer, nn.Linear):
        n = min(layer.in_features, layer.out_features)
        torch.testing.assert_close(y[:, :n], x[:, :n])
        assert torch.all(y[:, n:] == 0)
    else:
        g = layer.groups
        out_pg, in_pg = layer.out_channels // g, layer.in_channels // g
        for o in range(layer.out_channels):
            grp, d = divmod(o, out_pg)
            if d < in_pg:
                torch.testing.assert_close(y[:, o], x[:, grp * in_pg + d])
            else:
                assert torch.all(y[:, o] == 0)


# ----------------------------------------------------------------------------------------------
# 2. Fans.


@pytest.mark.parametrize(
    ("layer", "fan_in", "fan_out"),
    [
        (nn.Linear(7, 3), 7, 3),
        (nn.Linear(2000, 1000, device="meta"), 2000, 1000),
        (nn.Conv2d(64, 128, 3), 64 * 9, 128 * 9),
        (nn.Conv2d(3, 5, (3, 5)), 3 * 15, 5 * 15),
        (nn.Conv2d(8, 16, 3, groups=4), 8 // 4 * 9, 16 // 4 * 9),
        (nn.Conv2d(6, 6, 3, groups=6), 9, 9),
    ],
    ids=lambda v: repr(v).replace(" ", "") if isinstance(v, nn.Module) else None,
)
def test_fans(layer, fan_in, fan_out):
    fans = fans_of(layer)
    assert (fans.fan_in, fans.fan_out) == (fan_in, fan_out)
    assert fans.get("fan_in") == fan_in
    assert fans.get("fan_out") == fan_out
    assert fans.get("fan_avg") == pytest.approx((fan_in + fan_out) / 2)
    torch_in, torch_out = nn.init._calculate_fan_in_and_fan_out(layer.weight)
    assert fans.fan_in == torch_in  # fan_in from the weight shape is right even when grouped
    if getattr(layer, "groups", 1) == 1:
        assert fans.fan_out == torch_out


def test_fans_of_a_layer_without_weights():
    with pytest.raises(TypeError):
        fans_of(nn.ReLU())


def test_grouped_conv_uses_grouped_fans():
    layer = nn.Conv2d(256, 512, 3, groups=8)  # fan_in = 32·9 = 288, fan_out = 64·9 = 576
    apply(get_initializer("he"), layer, seed=0)
    check_normal(layer.weight, Normal(0.0, math.sqrt(2) / math.sqrt(256 // 8 * 9)))
    apply(get_initializer("xavier"), layer, seed=0)
    bound = math.sqrt(6 / (256 // 8 * 9 + 512 // 8 * 9))
    check_uniform(layer.weight, -bound, bound)


# ----------------------------------------------------------------------------------------------
# 3. Parity with torch.nn.init.

TORCH_EQUIVALENT = {
    "xavier": lambda t, g: nn.init.xavier_uniform_(t, generator=g),
    "xavier_normal": lambda t, g: nn.init.xavier_normal_(t, generator=g),
    "he": lambda t, g: nn.init.kaiming_normal_(t, nonlinearity="relu", generator=g),
    "he_uniform": lambda t, g: nn.init.kaiming_uniform_(t, nonlinearity="relu", generator=g),
    "lecun": lambda t, g: nn.init.kaiming_normal_(t, nonlinearity="linear", generator=g),
    "lecun_uniform": lambda t, g: nn.init.kaiming_uniform_(t, nonlinearity="linear", generator=g),
    # torch's own default, Kaiming-uniform with a=√5, is the "general rule" U(±1/√fan_in)
    "uniform_rule": lambda t, g: nn.init.kaiming_uniform_(t, a=math.sqrt(5), generator=g),
    "normal": lambda t, g: nn.init.normal_(t, 0.0, 1.0, generator=g),
    "small_normal": lambda t, g: nn.init.normal_(t, 0.0, 0.01, generator=g),
    "large_normal": lambda t, g: nn.init.normal_(t, 0.0, 0.5, generator=g),
    "uniform": lambda t, g: nn.init.uniform_(t, 0.0, 1.0, generator=g),
    "trunc_normal": lambda t, g: nn.init.trunc_normal_(t, 0.0, 0.02, -0.04, 0.04, generator=g),
    "variance_scaling": lambda t, g: nn.init.trunc_normal_(
        t,
        0.0,
        1 / math.sqrt(nn.init._calculate_fan_in_and_fan_out(t)[0]) / TRUNC_STD,
        -2 / math.sqrt(nn.init._calculate_fan_in_and_fan_out(t)[0]) / TRUNC_STD,
        2 / math.sqrt(nn.init._calculate_fan_in_and_fan_out(t)[0]) / TRUNC_STD,
        generator=g,
    ),
    "orthogonal": lambda t, g: nn.init.orthogonal_(t, generator=g),
    "zeros": lambda t, g: nn.init.zeros_(t),
    "ones": lambda t, g: nn.init.ones_(t),
    "constant": lambda t, g: nn.init.constant_(t, 0.1),
    "identity": lambda t, g: nn.init.eye_(t) if t.dim() == 2 else nn.init.dirac_(t),
}


def test_torch_equivalents_are_registered():
    assert set(TORCH_EQUIVALENT) <= set(INITIALIZERS)


@pytest.mark.parametrize("layer_kind", sorted(BIG_LAYERS))
@pytest.mark.parametrize("name", sorted(TORCH_EQUIVALENT))
def test_same_draw_as_torch_with_the_same_seed(name, layer_kind):
    """The weight is the first thing drawn from a generator seeded by ``seed``: with torch's
    function on an identically seeded generator the values agree (up to the last bit of the
    bound/std, computed by a different but equivalent formula)."""
    layer = BIG_LAYERS[layer_kind]()
    apply(get_initializer(name), layer, seed=2024)
    expected = torch.empty_like(layer.weight)
    TORCH_EQUIVALENT[name](expected, torch.Generator().manual_seed(2024))
    scale = max(expected.abs().max().item(), 1e-30)
    torch.testing.assert_close(layer.weight.detach(), expected, rtol=1e-6, atol=1e-6 * scale)


@pytest.mark.parametrize("layer_kind", sorted(BIG_LAYERS))
@pytest.mark.parametrize("name", sorted(TORCH_EQUIVALENT))
def test_same_distribution_as_torch(name, layer_kind):
    """Independent draws (different seeds): same mean, std and extremes within sampling error."""
    ours, theirs = BIG_LAYERS[layer_kind](), BIG_LAYERS[layer_kind]()
    apply(get_initializer(name), ours, seed=1)
    with torch.no_grad():
        TORCH_EQUIVALENT[name](theirs.weight, torch.Generator().manual_seed(2))
    a, b = _flat(ours.weight), _flat(theirs.weight)
    n = a.numel()
    sd = b.std().item()
    assert abs(a.mean().item() - b.mean().item()) <= 7 * sd / math.sqrt(n) + 1e-12
    assert a.std().item() == pytest.approx(sd, rel=7 / math.sqrt(n), abs=1e-12)
    # the whole shape: two-sample Kolmogorov-Smirnov on up to 2^17 entries each, at α = 1e-4
    # (D_crit = 2.15·√(2/m)); a normal vs a uniform of the same std differ by D ≈ 0.07
    m = min(n, 2**17)
    d = stats.ks_2samp(a[:m].numpy(), b[:m].numpy()).statistic
    assert d < 2.15 * math.sqrt(2 / m)


@pytest.mark.parametrize("make", [big_linear, big_conv], ids=["linear", "conv"])
def test_default_matches_torch_reset_parameters(make):
    """``default`` is the framework's own init: compare with a freshly constructed layer."""
    ours, theirs = make(), make()  # `theirs` keeps the constructor's reset_parameters
    apply(get_initializer("default"), ours, seed=0)
    a, b = _flat(ours.weight), _flat(theirs.weight)
    bound = 1 / math.sqrt(fans_of(ours).fan_in)
    # (float32 rounding: torch's own draw may equal float32(bound), a hair above the exact bound)
    assert a.abs().max().item() <= bound * (1 + 1e-6)
    assert b.abs().max().item() <= bound * (1 + 1e-6)
    assert a.abs().max().item() == pytest.approx(b.abs().max().item(), rel=1e-3)
    assert a.std().item() == pytest.approx(b.std().item(), rel=7 / math.sqrt(a.numel()))
    assert not torch.equal(ours.weight, theirs.weight)


# ----------------------------------------------------------------------------------------------
# 4. Biases.


@pytest.mark.parametrize("name", NAMES)
def test_default_bias_setting(name):
    init = get_initializer(name)
    assert init.bias == ("default" if name == "default" else "zeros")


@pytest.mark.parametrize("name", LAYER_NAMES)
def test_bias_follows_the_initializers_default(name):
    # 40k biases where their distribution is checked; bound 1/√16 = 0.25
    layer = nn.Linear(16, 40000 if name == "default" else 500)
    apply(get_initializer(name), layer, seed=0)
    if name == "default":
        check_uniform(layer.bias, -0.25, 0.25)
    else:
        assert torch.all(layer.bias == 0)


@pytest.mark.parametrize(
    "make", [lambda: nn.Linear(64, 40000), lambda: nn.Conv2d(4, 20000, 4)], ids=["linear", "conv"]
)
def test_bias_default_is_uniform_one_over_sqrt_fan_in(make):
    layer = make()  # fan_in 64 for both
    apply(get_initializer("he", bias="default"), layer, seed=0)
    check_uniform(layer.bias, -1 / 8, 1 / 8)
    check_normal(layer.weight, Normal(0.0, math.sqrt(2 / 64)))


@pytest.mark.parametrize("value", [0.25, -1, 0, 3.5])
def test_bias_constant(value):
    net = nn.Sequential(nn.Linear(5, 7), nn.Conv2d(3, 4, 3))
    rows = apply(get_initializer("xavier", bias=value), net, seed=0)
    assert torch.all(net[0].bias == value) and torch.all(net[1].bias == value)
    assert all(r.bias.value == value for r in rows)


def test_bias_zeros_overwrites_existing_bias():
    layer = nn.Linear(10, 50)
    nn.init.constant_(layer.bias, 3.0)
    apply(get_initializer("he", bias="zeros"), layer, seed=0)
    assert torch.all(layer.bias == 0)


@pytest.mark.parametrize("name", LAYER_NAMES)
def test_layers_without_bias(name):
    net = nn.Sequential(
        nn.Conv2d(3, 16, 3, bias=False),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(16, 20, bias=False),
        nn.Linear(20, 5),
    )
    rows = apply(get_initializer(name, bias="default"), net, seed=0)
    assert [r.bias is None for r in rows] == [True, True, False]
    assert net[0].bias is None and net[3].bias is None
    json.dumps(plan_records(rows))
    assert len(plan_table(rows).splitlines()) == 2 + 3


@pytest.mark.parametrize("bias", ["ones", "", "Zeros", True, float("nan"), float("inf"), [0.1]])
def test_bad_bias_raises(bias):
    with pytest.raises(ConfigError) as info:
        get_initializer("he", bias=bias)
    assert info.value.key == "bias"
    assert str(info.value).startswith(f"bias={bias!r}: ")


# ----------------------------------------------------------------------------------------------
# 5, 6. Seeds and the global RNG.


def small_mlp() -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(20, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10)
    )


def small_cnn() -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(16, 16, 3, padding=1, groups=2),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(16 * 4 * 4, 10),
    )


MODELS = {"mlp": small_mlp, "cnn": small_cnn}
# Initializers whose weights do not depend on the seed at all.
SEED_FREE = {"zeros", "ones", "constant", "identity", "zero_hadamard"}


def _weights(net: nn.Module) -> list[torch.Tensor]:
    return [
        m.weight.detach().clone() for m in net.modules() if isinstance(m, (nn.Linear, nn.Conv2d))
    ]


@pytest.mark.parametrize("model", sorted(MODELS))
@pytest.mark.parametrize("name", LAYER_NAMES)
def test_same_seed_same_weights(name, model):
    torch.manual_seed(0)
    a = MODELS[model]()
    torch.manual_seed(1)  # different starting weights and a different global RNG state
    b = MODELS[model]()
    apply(get_initializer(name), a, seed=7)
    apply(get_initializer(name), b, seed=7)
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for key in sa:
        assert torch.equal(sa[key], sb[key]), key


@pytest.mark.parametrize("model", sorted(MODELS))
@pytest.mark.parametrize("name", LAYER_NAMES)
def test_different_seed_different_weights(name, model):
    a, b = MODELS[model](), MODELS[model]()
    apply(get_initializer(name), a, seed=7)
    apply(get_initializer(name), b, seed=8)
    for wa, wb in zip(_weights(a), _weights(b), strict=True):
        if name in SEED_FREE:
            assert torch.equal(wa, wb)
        else:
            assert not torch.equal(wa, wb)


@pytest.mark.parametrize("model", sorted(MODELS))
@pytest.mark.parametrize("name", LAYER_NAMES)
def test_apply_leaves_global_rng_alone(name, model):
    net = MODELS[model]()
    torch.manual_seed(123)
    before = torch.get_rng_state()
    apply(get_initializer(name, bias="default"), net, seed=5)
    assert torch.equal(before, torch.get_rng_state())
    first = _weights(net)
    # and the weights do not depend on the global RNG's state
    torch.manual_seed(456)
    torch.rand(17)
    apply(get_initializer(name, bias="default"), net, seed=5)
    for wa, wb in zip(first, _weights(net), strict=True):
        assert torch.equal(wa, wb)


# ----------------------------------------------------------------------------------------------
# 7. gain="auto" and bad inputs.

WITH_GAIN = [n for n in NAMES if "gain" in inspect.signature(INITIALIZERS[n]).parameters]


def test_the_gain_family_is_what_we_expect():
    # guards the parametrization below against an empty list
    assert {"xavier", "he", "lecun", "orthogonal", "variance_scaling"} <= set(WITH_GAIN)


@pytest.mark.parametrize("name", WITH_GAIN)
def test_gain_auto_takes_the_activation_gain(name):
    auto = get_initializer(name, gain="auto", activation_gain=1.37)
    explicit = get_initializer(name, gain=1.37)
    net_a, net_b = small_mlp(), small_mlp()
    assert apply(auto, net_a, seed=3) == apply(explicit, net_b, seed=3)
    for wa, wb in zip(_weights(net_a), _weights(net_b), strict=True):
        assert torch.equal(wa, wb)


def test_gain_auto_he_std():
    layer = big_linear()
    apply(get_initializer("he", gain="auto", activation_gain=1.37), layer, seed=0)
    check_normal(layer.weight, Normal(0.0, 1.37 / math.sqrt(2000)))


@pytest.mark.parametrize("name", WITH_GAIN)
def test_gain_auto_without_an_activation(name):
    with pytest.raises(ConfigError) as info:
        get_initializer(name, gain="auto")
    assert info.value.key == "gain"
    assert "'auto'" in str(info.value)


@pytest.mark.parametrize(
    ("name", "params", "key", "value"),
    [
        ("normal", {"std": 0}, "std", 0),
        ("normal", {"std": -1.0}, "std", -1.0),
        ("normal", {"std": "1"}, "std", "1"),
        ("normal", {"mean": float("inf")}, "mean", float("inf")),
        ("small_normal", {"std": -0.01}, "std", -0.01),
        ("large_normal", {"std": 0.0}, "std", 0.0),
        ("trunc_normal", {"std": 0.0}, "std", 0.0),
        ("trunc_normal", {"std": -0.02}, "std", -0.02),
        ("uniform", {"a": 1.0, "b": 1.0}, "a", 1.0),
        ("uniform", {"a": 2.0, "b": 1.0}, "a", 2.0),
        ("uniform", {"b": -1.0}, "a", 0.0),
        ("constant", {"value": float("inf")}, "value", float("inf")),
        ("variance_scaling", {"mode": "fan_sum"}, "mode", "fan_sum"),
        ("variance_scaling", {"distribution": "cauchy"}, "distribution", "cauchy"),
        ("variance_scaling", {"scale": 0.0}, "scale", 0.0),
        ("variance_scaling", {"scale": -2.0}, "scale", -2.0),
        ("variance_scaling", {"gain": 0.0}, "gain", 0.0),
        ("he", {"mode": "FAN_IN"}, "mode", "FAN_IN"),
        ("xavier", {"distribution": "gaussian"}, "distribution", "gaussian"),
        ("lecun", {"scale": -1}, "scale", -1),
        ("orthogonal", {"gain": -1.0}, "gain", -1.0),
        ("sparse", {"k": 0}, "k", 0),
        ("sparse", {"k": 2.5}, "k", 2.5),
        ("sparse", {"k": True}, "k", True),
        ("sparse", {"std": 0.0}, "std", 0.0),
    ],
)
def test_bad_values_raise_naming_key_and_value(name, params, key, value):
    with pytest.raises(ConfigError) as info:
        get_initializer(name, **params)
    assert info.value.key == key
    assert str(info.value).startswith(f"{key}={value!r}: ")


@pytest.mark.parametrize(
    "name", [n for n in NAMES if "mode" in inspect.signature(INITIALIZERS[n]).parameters]
)
@pytest.mark.parametrize(
    ("key", "value"), [("mode", "fan_sum"), ("distribution", "cauchy"), ("scale", 0.0)]
)
def test_variance_scaling_family_rejects_bad_arguments(name, key, value):
    with pytest.raises(ConfigError) as info:
        get_initializer(name, **{key: value})
    assert info.value.key == key
    assert str(info.value).startswith(f"{key}={value!r}: ")


def _two_layer(fan_in_2: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(100, fan_in_2), nn.ReLU(), nn.Linear(fan_in_2, 10))


@pytest.mark.parametrize("device", ["cpu", "meta"])
def test_sparse_k_above_a_layers_fan_in_raises_in_plan(device):
    init = get_initializer("sparse", k=60)  # fine until it meets a layer with fan_in 50
    with torch.device(device):
        net = _two_layer(50)
    with pytest.raises(ConfigError) as info:
        plan(init, net)
    assert info.value.key == "k"
    assert str(info.value).startswith("k=60: ")
    assert "50" in info.value.reason


def test_sparse_k_above_fan_in_leaves_weights_untouched():
    net = _two_layer(50)
    before = _weights(net)
    with pytest.raises(ConfigError):
        apply(get_initializer("sparse", k=60), net, seed=0)
    for wa, wb in zip(before, _weights(net), strict=True):
        assert torch.equal(wa, wb)
    plan(get_initializer("sparse", k=50), net)  # k = fan_in is allowed


@pytest.mark.parametrize("name", LAYER_NAMES)
def test_unknown_parameter_is_named(name):
    with pytest.raises(ConfigError) as info:
        get_initializer(name, foo=1)
    assert info.value.key == "foo"
    assert str(info.value).startswith("foo=1: ")


def test_he_unknown_parameter():
    with pytest.raises(ConfigError, match=r"^foo=1: "):
        get_initializer("he", foo=1)


@pytest.mark.parametrize("name", ["kaiming", "He", "", "xavier_uniform"])
def test_unknown_initializer(name):
    with pytest.raises(ConfigError) as info:
        get_initializer(name)
    assert info.value.key == "name"
    assert str(info.value).startswith(f"name={name!r}: ")


# ----------------------------------------------------------------------------------------------
# 8. conf/init/*.yaml against the registry.


def _yaml(stem: str) -> dict:
    return yaml.safe_load((CONF_INIT / f"{stem}.yaml").read_text())


@pytest.mark.parametrize("stem", NAMES)
def test_config_file_agrees_with_the_function(stem):
    """Each default is written once, in the function's signature: the YAML names its option and
    starts from the store's node; the composed ``init`` is the function's arguments at their
    defaults, then the keys every init shares, at get_initializer's."""
    assert _yaml(stem) == {"name": stem, "defaults": [f"/init_defaults/{stem}@_here_", "_self_"]}
    composed = OmegaConf.to_container(make_cfg(f"init={stem}").init)
    fn = INITIALIZERS[stem]
    own = {k: p.default for k, p in inspect.signature(fn).parameters.items()}
    shared = {k: inspect.signature(get_initializer).parameters[k].default for k in SHARED_KEYS}
    assert list(composed) == ["name", *own, *SHARED_KEYS]
    assert composed == {**shared, "name": stem, **own, "bias": get_initializer(stem).bias}
    # the composed config builds and plans
    params = {k: v for k, v in composed.items() if k != "name"}
    init = get_initializer(stem, activation_gain=1.0, **params)
    assert init.bias == get_initializer(stem).bias
    if init.needs_recurrent:
        net = nn.Sequential(small_cnn(), nn.RNN(4, 4))
    elif init.needs_residual:
        net = resnet(
            (1, 8, 8),
            10,
            nn.ReLU,
            depth=8,
            norm="none" if stem in ("fixup", "t_fixup") else "batch",
        )
    else:
        net = small_cnn()
    plan(init, net)


# ----------------------------------------------------------------------------------------------
# 9. Plans: meta device, table, records.


@pytest.mark.parametrize("model", sorted(MODELS))
@pytest.mark.parametrize("name", LAYER_NAMES)
def test_plan_on_meta_equals_plan_on_cpu(name, model):
    init = get_initializer(name)
    with torch.device("meta"):
        meta_net = MODELS[model]()
    assert meta_net[0].weight.is_meta
    real = plan(init, MODELS[model]())
    assert plan(init, meta_net) == real
    assert len(real) == len(_weights(MODELS[model]()))


@pytest.mark.parametrize("model", sorted(MODELS))
@pytest.mark.parametrize("name", LAYER_NAMES)
def test_plan_table_and_records(name, model):
    net = MODELS[model]()
    layers = [m for m in net.modules() if isinstance(m, (nn.Linear, nn.Conv2d))]
    rows = plan(get_initializer(name), net)
    lines = plan_table(rows).splitlines()
    assert len(lines) == 2 + len(layers)
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    assert set(lines[1]) <= set("|-")
    for k, (line, layer) in enumerate(zip(lines[2:], layers, strict=True), start=1):
        cells = [c.strip() for c in line.strip("|").split("|")]
        assert len(cells) == len(header)
        record = dict(zip(header, cells, strict=True))
        assert record["layer"] == f"layer{k}"
        fans = fans_of(layer)
        assert (record["fan_in"], record["fan_out"]) == (str(fans.fan_in), str(fans.fan_out))
    records = plan_records(rows)
    assert json.loads(json.dumps(records)) == records
    assert [(r["fan_in"], r["fan_out"]) for r in records] == [
        (fans_of(m).fan_in, fans_of(m).fan_out) for m in layers
    ]


def test_plan_table_numbers():
    net = small_mlp()
    lines = plan_table(plan(get_initializer("he"), net)).splitlines()
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    for line, fan_in in zip(lines[2:], (20, 64, 64), strict=True):
        cells = [c.strip() for c in line.strip("|").split("|")]
        record = dict(zip(header, cells, strict=True))
        assert float(record["std"]) == pytest.approx(math.sqrt(2 / fan_in), rel=1e-3)
        assert record["method"] == "normal"


@pytest.mark.parametrize(
    "make",
    [
        lambda: nn.Conv2d(8, 4, 3),  # narrowing: orthonormal rows at the centre
        lambda: nn.Conv2d(4, 8, 5, groups=2),  # widening, one matrix per group
        lambda: nn.Linear(6, 3),
        lambda: nn.Linear(3, 6),
    ],
)
def test_delta_orthogonal_and_zero_structure(make):
    layer = make()
    apply(get_initializer("delta_orthogonal", gain=1.5), layer, seed=3)
    check(layer, DeltaOrthogonal(1.5))  # W Wᵀ (or Wᵀ W) = gain²·I at the centre, 0 elsewhere
    first = layer.weight.detach().clone()
    apply(get_initializer("zero_hadamard"), layer, seed=3)
    check(layer, ZerO())
    apply(get_initializer("zero_hadamard"), layer, seed=99)  # ZerO draws nothing: no seed matters
    zero_weights = layer.weight.detach().clone()
    apply(get_initializer("zero_hadamard"), layer, seed=3)
    assert torch.equal(layer.weight, zero_weights) and not torch.equal(first, zero_weights)


def test_the_presets_examples_hold():
    """Each preset's docstring Example (formula, numbers) runs as written."""
    import doctest

    from initlab.initializers import rules

    result = doctest.testmod(rules, optionflags=doctest.ELLIPSIS)
    assert result.attempted >= 10 and result.failed == 0
