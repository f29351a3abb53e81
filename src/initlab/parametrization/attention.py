"""μP's attention logits: q·k/d instead of SP's q·k/√d, d the head dimension (Yang et al.,
2021, "Tensor Programs V", §4 and Appendix J; the ``mup`` package asks its users to write it).
As width grows with the number of heads fixed, d grows, q and k become correlated after
training, and q·k grows like d: 1/√d lets the logits blow up, 1/d keeps them of order one.

initlab writes it √d_base/d: at the base width that is 1/√d_base, SP's, so μP at the base width
stays SP bit for bit, as every other rule of :mod:`.mup`. Only an :class:`~initlab.models.Attention`
can take another scale (``nn.MultiheadAttention`` has 1/√d built in); where the head dimension
does not grow (the width grows through the number of heads) 1/√d is already μP's and torch's
own layer is kept.
"""

from __future__ import annotations

import math

from torch import nn

from initlab.config.errors import NotApplicable
from initlab.models import Attention


def logit_scales(model: str, net: nn.Module, base: nn.Module, delta: nn.Module) -> dict[str, float]:
    """The logit scale of each attention of ``net`` whose head dimension grows (read against
    the models built at the base width and twice it), by module name; none where the run's
    head dimension is the base's. Refuses, by name, a layer whose head dimension grows and that
    cannot take a scale."""
    scales = {}
    widths = dict(base.named_modules()), dict(delta.named_modules())
    for name, m in net.named_modules():
        if not isinstance(m, nn.MultiheadAttention):
            continue
        d_base, d_delta = (w[name].head_dim for w in widths)
        if d_base == d_delta:
            continue
        if not isinstance(m, Attention):
            raise NotApplicable(
                "name",
                "mup",
                f"model={model}: {name} is an nn.MultiheadAttention whose head dimension grows "
                f"with the width ({d_base} at the base width, {d_delta} at twice it), and μP "
                "scales its logits by 1/d, which torch's layer cannot: build it from "
                "initlab.models.Attention (the same layer and parameters, with a logit scale) "
                "or choose parametrization=sp",
            )
        if (reason := m.unscalable()) is not None:
            raise NotApplicable("name", "mup", f"model={model}: {name}: {reason}")
        if m.head_dim != d_base:
            scales[name] = math.sqrt(d_base) / m.head_dim
    return scales


def set_logit_scales(net: nn.Module, scales: dict[str, float]) -> nn.Module:
    """``net`` with each attention of ``scales`` taking its logit scale."""
    for name, scale in scales.items():
        net.get_submodule(name).logit_scale = scale
    return net
