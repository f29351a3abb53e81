"""The maximal update parametrization (μP: Yang & Hu, 2021, "Tensor Programs IV"; Yang et al.,
2021, "Tensor Programs V", Table 3), as multipliers on the standard parametrization (SP) of the
model built at the base width, where the two are the same.

Each parameter's role follows from which of its dimensions are widths (:mod:`.widths`); m is
its width multiplier (a matrix's fan-in's), α the output multiplier (``output_mult``):

======  =======================================  ===========  ========  ============  ==========
role    dimensions                               initial std  Adam lr   SGD lr        L2 (Adam)
======  =======================================  ===========  ========  ============  ==========
input   a weight from a fixed size to a width    base         ×1        ×m            ×1
hidden  two widths (in, out)                     base / √m    ÷m        ÷(m/m_out)    ×m
output  a weight from a width to a fixed size    base · α/m   ×α/m      ×α²/m         ÷(α/m)²
vector  one width: a bias, a norm's γ, a table   base         ×1        ×m            ×1
fixed   no width                                 base         ×1        ×1            ×1
======  =======================================  ===========  ========  ============  ==========

"base" is what the chosen ``init`` draws for the same parameter of the model built at the base
width (its fans, its bias setting), so μP composes with any i.i.d. initializer: He's hidden
layers are the same in both, N(0, 1)'s shrink by √m as ``mup.init.normal_`` makes them. SGD's
L2 follows its learning rate inversely (÷m for input and vector, ×m/m_out for hidden).

The ``mup`` package puts the output layer's α/m in the forward pass (``MuReadout`` multiplies
its input by it and keeps the weight at the base std). initlab puts it in the weight instead,
so the model it trains is the model that was built, with no multiplier hidden in its forward
pass: a multiplier c on a weight is, for Adam and SGD alike, the same training as a weight c
times larger with its learning rate × c (Adam, whose step does not depend on the gradient's
scale, up to its ε) or × c² (SGD), and its L2 ÷ c². ``readout_zero`` starts it at zero
(Yang et al.'s recommendation; the learning rate stays α/m's).
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from initlab.config.errors import ConfigError
from initlab.parametrization.widths import Shape

ROLES = ("input", "hidden", "output", "vector", "fixed")
OPTIMIZERS = ("adam", "sgd")  # the optimizer group's options: Adam-like and SGD-like
# Modules whose weight is (out, in, …): the roles read dimension 0 as out, 1 as in.
OUT_IN = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.RNNBase)


@dataclass(frozen=True, kw_only=True)
class Scale:
    """What μP does to one parameter, against SP at the base width."""

    role: str
    width_mult: float  # m: the multiplier of its fan-in (a vector's only width)
    std_mult: float  # on the base model's draw
    lr_mult: float
    wd_mult: float


def role(module: nn.Module, tensor: str, shape: Shape) -> str:
    """The parameter's role (:data:`ROLES`) from its widths and its module's layout."""
    if shape.widths > 2:
        raise ConfigError(
            "width_key", tensor, f"makes {shape.widths} dimensions of one parameter widths"
        )
    if shape.widths != 1:
        return "hidden" if shape.widths == 2 else "fixed"
    dims = shape.dims
    if len(dims) >= 2 and tensor.startswith("weight"):
        if isinstance(module, nn.Embedding):  # (rows, features): an index in, a vector out
            return "input"
        if isinstance(module, OUT_IN):
            return "output" if dims[1].base is not None else "input"
    return "vector"


def scale(role: str, shape: Shape, optimizer: str, output_mult: float = 1.0) -> Scale:
    """The multipliers of :mod:`this table <initlab.parametrization.mup>` for one parameter."""
    m = shape.mult
    std, lr, wd = 1.0, 1.0, 1.0
    if role == "hidden":
        m_out = shape.dims[0].mult
        std = m**-0.5
        lr, wd = (1 / m, m) if optimizer == "adam" else (m_out / m, m / m_out)
    elif role == "output":
        c = output_mult / m
        std = c
        lr, wd = (c, 1 / c**2) if optimizer == "adam" else (m * c**2, 1 / (m * c**2))
    elif role in ("input", "vector") and optimizer == "sgd":
        lr, wd = m, 1 / m
    return Scale(role=role, width_mult=m, std_mult=std, lr_mult=lr, wd_mult=wd)
