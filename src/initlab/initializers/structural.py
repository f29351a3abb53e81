"""Structural methods: matrices with a shape of their own (orthogonal, sparse, identity,
delta-orthogonal, ZerO) rather than i.i.d. entries of a given variance."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from scipy.linalg import hadamard

from initlab.config.errors import ConfigError, number
from initlab.initializers.catalog import register
from initlab.initializers.fans import Draw, Fans, Rule


@register
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


@register
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


@register
def identity() -> Rule:
    """The identity map: ``eye`` for every matrix block (ones on the diagonal of the (out, in)
    matrix) and ``dirac`` for every convolution (a one at the centre tap of channel i → i, per
    group), as used to initialise recurrent and residual nets (Le et al., 2015)."""

    def rule(fans: Fans) -> Draw:
        return Draw("identity")

    return rule


@register
def delta_orthogonal(gain: float = 1.0) -> Rule:
    """Delta-orthogonal (Xiao et al., 2018, "Dynamical isometry and a mean field theory of
    CNNs"): every convolution kernel (1-3d, transposed: in the layout of the conv it transposes)
    is zero except its spatial centre tap, which holds an orthogonal
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

    Convolutions (1-3d, transposed): the same matrix at the spatial centre tap of each group,
    the other taps zero.
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


@dataclass(frozen=True)
class Recurrent:
    """What an initializer made for recurrent nets returns: its rule for every block, and its
    own rule for the hidden-to-hidden blocks (``init.recurrent`` other than ``same`` wins)."""

    rule: Rule
    recurrent: Rule


@register
def irnn(input_std: float = 0.001, scale: float = 1.0) -> Recurrent:
    """IRNN (Le, Jaitly & Hinton, 2015, "A simple way to initialize recurrent networks of
    rectified linear units"): every hidden-to-hidden matrix ``scale`` times the identity, so a
    ReLU RNN starts by carrying its state unchanged (scale < 1 forgets: the paper's scaled
    version); every other weight N(0, ``input_std``²), small (0.001, as in Keras' IRNN MNIST
    example); biases by ``init.bias`` (the paper: zero). Use with ``activation=relu``."""
    input_std = number("input_std", input_std, positive=True)
    scale = number("scale", scale, positive=True)
    weight = lambda fans: Draw("normal", mean=0.0, std=input_std)  # noqa: E731
    recurrent = lambda fans: Draw("identity", gain=scale)  # noqa: E731
    return Recurrent(weight, recurrent)
