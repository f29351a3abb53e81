"""Nothing silent: every parameter of the model is set by a rule that knows its layer, or the
config says to keep torch's default for it, and the plan lists it.

Covered:

- every weight block of every layer type :mod:`initlab.initializers.weight_blocks` knows (Linear,
  Bilinear, Conv1d/2d/3d, ConvTranspose1d/2d/3d, Embedding, RNN/LSTM/GRU and their cells,
  MultiheadAttention) and the biases that go with them: the chosen initializer, the biases by
  ``init.bias`` (:mod:`initlab.initializers`);
- the ``value`` of every residual scalar (:class:`initlab.models.residual_blocks.Scalar`: Fixup's
  biases and multipliers, SkipInit's α), set to its start value;
- the weight and bias of every normalization layer (BatchNorm*, LayerNorm, GroupNorm,
  InstanceNorm*, where affine): weight 1, bias 0, the identity transform every framework starts
  them at (filled explicitly: a model may have set them otherwise).

Any other parameter (a bare ``nn.Parameter``, a layer type initlab does not know, a known
layer's extra parameter) is refused at validation, naming its path and its module's type, unless
``init.uncovered=default`` keeps torch's own initialization for it; ``init_plan.json`` and the
``init/plan`` text then list each such parameter.
"""

from __future__ import annotations

import torch
from torch import nn

from initlab.config.errors import ConfigError
from initlab.initializers.weight_blocks import blocks_of, owned_parameters
from initlab.models.residual_blocks import Scalar

NORM_LAYERS = (nn.modules.batchnorm._NormBase, nn.LayerNorm, nn.GroupNorm)
POLICIES = ("error", "default")  # init.uncovered


def check_policy(uncovered) -> str:
    if uncovered not in POLICIES:
        raise ConfigError("uncovered", uncovered, f"must be one of {', '.join(POLICIES)}")
    return uncovered


def _covered(path: str, module: nn.Module) -> set[str]:
    """The names of ``module``'s own parameters that a rule sets."""
    if isinstance(module, NORM_LAYERS):
        return {"weight", "bias"}
    if isinstance(module, Scalar):
        return {"value"}
    return owned_parameters(blocks_of(path, module))


def uncovered(net: nn.Module) -> list[dict]:
    """Each parameter no rule sets: its path, its module's path and type, its shape."""
    found = []
    for path, module in net.named_modules():
        covered = _covered(path, module)
        for name, p in module.named_parameters(recurse=False):
            if name in covered:
                continue
            found.append(
                {
                    "parameter": f"{path}.{name}" if path else name,
                    "module": path or "(the model)",
                    "type": type(module).__name__,
                    "shape": list(p.shape),
                }
            )
    return found


def check(uncovered_policy: str, net: nn.Module) -> None:
    """Raise :class:`ConfigError` (key ``uncovered``) naming the first parameter no rule sets,
    unless the policy keeps torch's default for them. Works on a ``meta`` model."""
    left = uncovered(net)
    if left and uncovered_policy == "error":
        first = left[0]
        more = f" and {len(left) - 1} more" if len(left) > 1 else ""
        raise ConfigError(
            "uncovered",
            uncovered_policy,
            f"no initializer rule sets {first['parameter']} ({first['type']} at "
            f"{first['module']}){more}; init.uncovered=default keeps torch's default for "
            "them and lists them in init_plan.json",
        )


def _constant(t: torch.Tensor | None) -> float | str | None:
    if t is None:
        return None
    v = t.detach().flatten()
    return float(v[0]) if v.numel() and bool((v == v[0]).all()) else "varies"


def norm_layers(net: nn.Module) -> list[dict]:
    """Each normalization layer's weight and bias as they are (after :func:`fill_norms`: 1 and
    0, or 0 for a zero-γ branch end), for the plan."""
    return [
        {
            "module": path,
            "type": type(m).__name__,
            "weight": _constant(getattr(m, "weight", None)),
            "bias": _constant(getattr(m, "bias", None)),
        }
        for path, m in net.named_modules()
        if isinstance(m, NORM_LAYERS)
    ]


@torch.no_grad()
def fill_norms(net: nn.Module) -> None:
    """Weight 1, bias 0 in every affine normalization layer."""
    for module in net.modules():
        if isinstance(module, NORM_LAYERS):
            if getattr(module, "weight", None) is not None:
                nn.init.ones_(module.weight)
            if getattr(module, "bias", None) is not None:
                nn.init.zeros_(module.bias)
