"""The theory beside what a built net does: for a stack of fully connected layers with one
elementwise activation, each layer's pre-activation second moment q^l and the correlation c^l of
two inputs, predicted (:mod:`.mean_field`, at each layer's own σ_w² and σ_b²) and measured on
the same inputs; and the squared singular values of the hidden-to-hidden Jacobian ∂h^{L−1}/∂h¹,
computed exactly (``torch.func.jacrev``), beside their predicted mean and variance
(:mod:`.jacobian`).

σ_w² and σ_b² are read from the net's own tensors (fan_in · mean W², mean b²), so they are what
the initializer did, calibration (LSUV) included. Nets the theory does not describe — batch norm,
convolutions, residual branches, attention, recurrent layers — get no prediction, and
:func:`why_not` says why in a line.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field, replace

import torch
from torch import nn

from initlab.theory.jacobian import spread
from initlab.theory.jacobian_density import density
from initlab.theory.mean_field import MeanField

PASSIVE = (nn.Flatten, nn.Dropout, nn.Identity)  # no effect on the propagation at evaluation
INPUTS = 64  # inputs whose q^l is predicted and measured
PAIRS = 32  # input pairs whose c^l is
JACOBIAN_INPUTS = 4  # inputs whose Jacobian's spectrum is computed
STEP_0_INPUTS = 16  # the diagnostics' figure at step 0, from a training batch: 8 pairs
DENSITY_POINTS = 200  # where the predicted density is drawn
DENSITY_RANGE = 1.05  # up to this times the largest measured squared singular value
ORTHOGONAL_TOLERANCE = 1e-3  # relative spread of a weight's singular values read as orthogonal


@dataclass(frozen=True)
class Comparison:
    """Prediction beside measurement, per weight layer ``layerK`` (the last one: the logits)."""

    layers: list[str]
    q_measured: list[float]
    q_predicted: list[float]
    c_measured: list[float]
    c_predicted: list[float]
    jacobian: list[float] = field(default_factory=list)  # measured squared singular values
    jacobian_mean: float | None = None  # predicted
    jacobian_variance: float | None = None
    jacobian_note: str = ""  # why there is no Jacobian prediction, or what it covers
    # the predicted density over the measured range (:mod:`.jacobian_density`): (x, density)
    jacobian_density: tuple[list[float], list[float]] | None = None


def _kind(module: nn.Module) -> str:
    name = type(module).__name__
    if isinstance(module, nn.modules.batchnorm._BatchNorm) or "Norm" in name:
        return f"{name} (normalization: the statistics are reset, not propagated)"
    if isinstance(module, nn.modules.conv._ConvNd):
        return f"{name} (convolutions: Xiao et al.'s delta-orthogonal theory is not implemented)"
    if isinstance(module, nn.RNNBase):
        return f"{name} (recurrent layers)"
    if "Residual" in name or "Block" in name:
        return f"{name} (residual branches)"
    if "Attention" in name:
        return f"{name} (attention)"
    return name


def why_not(net: nn.Module, activation: type[nn.Module]) -> str | None:
    """None where the theory describes ``net``; else why not, in a line."""
    if not isinstance(net, nn.Sequential):
        return f"it describes a stack of fully connected layers; this net is a {type(net).__name__}"
    for module in net:
        if not isinstance(module, (nn.Linear, activation, *PASSIVE)):
            has = _kind(module)
            return f"it describes fully connected layers and one activation; this net has {has}"
    if sum(isinstance(m, nn.Linear) for m in net) < 2:
        return "it describes a signal crossing layers; this net has one"
    return None


def _pre_activations(net: nn.Sequential, x: torch.Tensor) -> list[torch.Tensor]:
    """Each Linear's output for the inputs ``x``, in order (float64)."""
    out, h = [], x.double()
    for module in net:
        h = module(h)
        if isinstance(module, nn.Linear):
            out.append(h)
    return out


def _fields(net: nn.Sequential, phi: nn.Module) -> list[MeanField]:
    """Each Linear's (σ_w², σ_b²) from its tensors, as a :class:`MeanField` of ``phi``."""
    fields = []
    for module in net:
        if isinstance(module, nn.Linear):
            w = module.weight.detach().double()
            b = module.bias.detach().double() if module.bias is not None else torch.zeros(1)
            sigma_w2 = module.in_features * (w * w).mean().item()
            fields.append(MeanField(phi, sigma_w2, (b.double() ** 2).mean().item()))
    return fields


def compare(net: nn.Sequential, phi: nn.Module, x: torch.Tensor, weights: str) -> Comparison:
    """The comparison for ``net`` (checked by :func:`why_not`) on the inputs ``x`` (a batch),
    with ``weights`` ``"gaussian"`` (i.i.d. draws) or ``"orthogonal"`` for the Jacobian. The
    prediction starts from the inputs: layer 1's is σ_w² x·x′/n + σ_b²."""
    net = copy.deepcopy(net).double().eval()
    x = x.double().flatten(1)
    fields = _fields(net, phi)
    with torch.no_grad():
        hs = _pre_activations(net, x[:INPUTS])
    first = fields[0]

    def layer1(a: torch.Tensor, b: torch.Tensor) -> float:
        return first.sigma_w2 * (a * b).mean().item() + first.sigma_b2

    comparison = _compared(hs, fields, x[:INPUTS], layer1)
    return _with_jacobian(comparison, net, fields, x, weights)


def from_pre_activations(
    hs: list[torch.Tensor],
    sigma_w2: list[float],
    sigma_b2: list[float],
    phi: nn.Module,
    weights: list[torch.Tensor] | None = None,
) -> Comparison:
    """The comparison from each layer's recorded pre-activations ``hs`` ((batch, units), layer
    1 first) and each layer's σ_w², σ_b² (the diagnostics at step 0): the prediction starts from
    layer 1 as measured and propagates it. With each layer's ``weights`` (out, in), the
    Jacobian ∂h^{L−1}/∂h¹ too, the product of the layers' weights and φ′ at the recorded
    pre-activations, for the first :data:`JACOBIAN_INPUTS` rows."""
    hs = [h.detach().double().flatten(1)[:STEP_0_INPUTS] for h in hs]
    fields = [MeanField(phi, w, b) for w, b in zip(sigma_w2, sigma_b2, strict=True)]

    def layer1(a: torch.Tensor, b: torch.Tensor) -> float:
        return (a * b).mean().item()

    comparison = _compared(hs, fields, hs[0], layer1)
    if weights is None:
        return comparison
    if len(weights) < 3:
        return replace(comparison, jacobian_note="no Jacobian: it needs two hidden layers or more")
    ws = [w.detach().double() for w in weights]
    eigen = []
    for i in range(min(JACOBIAN_INPUTS, len(hs[0]))):
        jac = torch.diag(fields[0].dphi(hs[0][i]))  # ∂(φ(h¹))/∂h¹
        for k in range(1, len(ws) - 1):
            jac = ws[k] @ jac  # ∂h^{k+1}/∂h¹
            if k < len(ws) - 2:
                jac = fields[k].dphi(hs[k][i])[:, None] * jac
        eigen += (torch.linalg.svdvals(jac) ** 2).tolist()
    # no density: at ~0.1 s a run it would cost a sweep more than the rest of the figure
    return _predicted(comparison, eigen, fields, ws[:-1], weight_kind(ws), with_density=False)


def weight_kind(weights: list[torch.Tensor]) -> str:
    """``orthogonal`` when every hidden-to-hidden weight (not the first layer's nor the
    logits') is a multiple of an orthogonal matrix — its singular values equal to
    :data:`ORTHOGONAL_TOLERANCE` — else ``gaussian``: what the Jacobian's prediction assumes."""
    hidden = weights[1:-1]
    for w in hidden:
        s = torch.linalg.svdvals(w.detach().double())
        equal = s.max() > 0 and s.max() - s.min() <= ORTHOGONAL_TOLERANCE * s.max()
        if w.shape[0] != w.shape[1] or not equal:
            return "gaussian"
    return "orthogonal" if hidden else "gaussian"


def _compared(hs, fields, rows: torch.Tensor, layer1) -> Comparison:
    """Measured and predicted q^l and c^l. ``layer1(a, b)`` is layer 1's predicted covariance
    of two of ``rows`` (the inputs, or layer 1's own pre-activations); the maps of
    ``fields[1:]`` carry it on. Pairs are rows (0, 1), (2, 3), …"""
    q_pred = [0.0] * len(fields)
    for a in rows:
        q = layer1(a, a)
        for k, f in enumerate(fields):
            q = q if k == 0 else f.length_map(q)
            q_pred[k] += q / len(rows)
    pairs = min(PAIRS, len(rows) // 2)
    c_meas, c_pred = [0.0] * len(fields), [0.0] * len(fields)
    for p in range(pairs):
        a, b = rows[2 * p], rows[2 * p + 1]
        qa, qb, qab = layer1(a, a), layer1(b, b), layer1(a, b)
        for k, f in enumerate(fields):
            if k:
                c = _correlation(qab, qa, qb)
                qa, qb, qab = f.length_map(qa), f.length_map(qb), f.covariance_map(qa, qb, c)
            c_pred[k] += _correlation(qab, qa, qb) / pairs
            ha, hb = hs[k][2 * p], hs[k][2 * p + 1]
            c_meas[k] += ((ha * hb).sum() / (ha.norm() * hb.norm())).item() / pairs
    return Comparison(
        layers=[f"layer{k}" for k in range(1, len(fields) + 1)],
        q_measured=[(h * h).mean().item() for h in hs],
        q_predicted=q_pred,
        c_measured=c_meas,
        c_predicted=c_pred,
    )


def _correlation(qab: float, qa: float, qb: float) -> float:
    """qab/√(qa qb); NaN where a signal is 0 (a layer of zeros: no correlation to speak of)."""
    return qab / math.sqrt(qa * qb) if qa * qb > 0 else math.nan


def _with_jacobian(comparison, net, fields, x, weights) -> Comparison:
    """The spectrum of ∂h^{L−1}/∂h¹ (the hidden layers' pre-activations) and its prediction."""
    linears = [i for i, m in enumerate(net) if isinstance(m, nn.Linear)]
    if len(linears) < 3:
        return replace(comparison, jacobian_note="no Jacobian: it needs two hidden layers or more")
    hidden = net[linears[0] + 1 : linears[-2] + 1]  # from after layer1 to layer L−1's output
    first = net[: linears[0] + 1]
    eigen = []
    for xi in x[:JACOBIAN_INPUTS]:
        with torch.no_grad():
            h1 = first(xi.unsqueeze(0))[0]
        jac = torch.func.jacrev(lambda h: hidden(h.unsqueeze(0))[0])(h1)
        eigen += (torch.linalg.svdvals(jac) ** 2).tolist()
    hidden_weights = [net[i].weight for i in linears[:-1]]
    return _predicted(comparison, eigen, fields, hidden_weights, weights, with_density=True)


def _predicted(
    comparison, eigen, fields, hidden_weights, weights: str, with_density: bool
) -> Comparison:
    """The measured squared singular values ``eigen`` of ∂h^{L−1}/∂h¹ beside their predicted
    mean and variance for ``weights`` (gaussian, orthogonal), and ``with_density`` their
    predicted density over the measured range, where every layer but the logits
    (``hidden_weights``) has the same width."""
    depth = len(fields)
    if len({w.shape[0] for w in hidden_weights}) > 1:
        note = "hidden widths differ: the prediction is for square layers"
        return replace(comparison, jacobian=eigen, jacobian_note=note)
    steps = [(fields[k + 1], comparison.q_predicted[k]) for k in range(depth - 2)]
    predicted = spread(steps, weights)
    shown = None
    if with_density and max(eigen) > 0:  # a net of zeros has no spectrum to draw
        law = density(steps, weights, max(eigen) * DENSITY_RANGE, DENSITY_POINTS)
        shown = (law.x.tolist(), law.rho.tolist())
    inputs = len(eigen) // hidden_weights[0].shape[0]
    return replace(
        comparison,
        jacobian=eigen,
        jacobian_mean=predicted.mean,
        jacobian_variance=predicted.variance,
        jacobian_density=shown,
        jacobian_note=f"∂h^{depth - 1}/∂h^1, {weights} weights, {inputs} inputs",
    )
