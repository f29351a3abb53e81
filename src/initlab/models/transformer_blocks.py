"""The pieces of a patch transformer (Dosovitskiy et al., 2020, "An image is worth 16×16 words",
§3.1; ``model=vit``): the image cut into patches and projected, a learned position embedding,
encoder layers of two residual branches each (self-attention, MLP: :class:`ResidualBlock`, so
residual initializations find "the last layer of each branch"), pre- or post-norm."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from initlab.models.residual_blocks import ResidualBlock


class Patches(nn.Module):
    """(B, C, H, W) → (B, N, D): a Conv2d whose kernel and stride are the patch size (a linear
    projection of each flattened patch), N = (H/patch)·(W/patch) tokens of ``width``."""

    def __init__(self, channels: int, width: int, patch: int):
        super().__init__()
        self.proj = nn.Conv2d(channels, width, patch, patch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).flatten(2).transpose(1, 2)


class Positions(nn.Module):
    """``x`` + a learned position embedding: an ``nn.Embedding`` with a row per token, so every
    initializer draws it by its fans (dimension in, tokens out) like any embedding table."""

    def __init__(self, tokens: int, width: int):
        super().__init__()
        self.table = nn.Embedding(tokens, width)
        self.register_buffer("index", torch.arange(tokens), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.table(self.index)


def heads(m: nn.MultiheadAttention, inputs: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    """The queries, keys and values (as many as ``inputs``: query, key, value, batch first) that
    ``m`` projects, split into its heads: (..., heads, tokens, d)."""
    if m._qkv_same_embed_dim:
        weights = m.in_proj_weight.chunk(3)
    else:
        weights = (m.q_proj_weight, m.k_proj_weight, m.v_proj_weight)
    biases = (None,) * 3 if m.in_proj_bias is None else m.in_proj_bias.chunk(3)
    return [
        F.linear(t, w, b).unflatten(-1, (m.num_heads, m.head_dim)).transpose(-3, -2)
        for t, w, b in zip(inputs, weights[: len(inputs)], biases[: len(inputs)], strict=True)
    ]


def logit_scale(m: nn.MultiheadAttention) -> float:
    """What ``m`` multiplies q·k by: an :class:`Attention`'s scale where set, else 1/√d."""
    scale = getattr(m, "logit_scale", None)
    return m.head_dim**-0.5 if scale is None else scale


class Attention(nn.MultiheadAttention):
    """``nn.MultiheadAttention`` (its parameters, its blocks in the plan) whose attention logits
    q·k can take another scale than 1/√d, d the head dimension: ``logit_scale``, set by a
    parametrization (μP's 1/d: :mod:`initlab.parametrization.attention`). ``None``: torch's
    own forward, 1/√d. A custom model builds its attention from it to be trained under μP;
    with a scale it takes no masks (:meth:`unscalable` says what else it cannot take)."""

    logit_scale: float | None = None

    def unscalable(self) -> str | None:
        """What keeps this layer from taking a logit scale, or None."""
        if self.bias_k is not None or self.add_zero_attn:
            return "add_bias_kv and add_zero_attn are torch's own forward's only"
        return None

    def forward(
        self,
        query: torch.Tensor,
        key: torch.Tensor,
        value: torch.Tensor,
        key_padding_mask: torch.Tensor | None = None,
        need_weights: bool = True,
        attn_mask: torch.Tensor | None = None,
        average_attn_weights: bool = True,
        is_causal: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        if self.logit_scale is None:
            return super().forward(
                query,
                key,
                value,
                key_padding_mask,
                need_weights,
                attn_mask,
                average_attn_weights,
                is_causal,
            )
        if key_padding_mask is not None or attn_mask is not None or is_causal:
            raise ValueError("an initlab.models.Attention with a logit scale takes no masks")
        time_first = query.dim() == 3 and not self.batch_first
        if time_first:
            query, key, value = (t.transpose(0, 1) for t in (query, key, value))
        q, k, v = heads(self, (query, key, value))
        dropout = self.dropout if self.training else 0.0
        if need_weights:
            attention = torch.softmax(q @ k.transpose(-2, -1) * self.logit_scale, dim=-1)
            attention = F.dropout(attention, dropout)  # as torch returns them
            out = attention @ v
        else:
            out = F.scaled_dot_product_attention(q, k, v, dropout_p=dropout, scale=self.logit_scale)
        out = F.linear(out.transpose(-3, -2).flatten(-2), self.out_proj.weight, self.out_proj.bias)
        if time_first:
            out = out.transpose(0, 1)
        if not need_weights:
            return out, None
        return out, attention.mean(-3) if average_attn_weights else attention


class SelfAttention(nn.Module):
    """Multi-head self-attention over the tokens (:class:`Attention`: the plan draws its q, k, v
    and output projections as four blocks)."""

    def __init__(self, width: int, heads: int):
        super().__init__()
        self.attn = Attention(width, heads, batch_first=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.attn(x, x, x, need_weights=False)[0]


class MeanTokens(nn.Module):
    """(B, N, D) → (B, D): the mean over the tokens (the classifier's input)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(1)


def encoder_layer(
    width: int,
    heads: int,
    hidden: int,
    norm: str,
    position: str,
    activation: Callable[[], nn.Module],
) -> list[ResidualBlock]:
    """Two residual blocks: self-attention, then Linear(width→hidden) → activation →
    Linear(hidden→width). ``position`` ``pre``: each branch starts with a LayerNorm,
    ``x + f(LN(x))`` (GPT-2, ViT); ``post``: ``LN(x + f(x))`` (Vaswani et al., 2017; BERT).
    ``norm`` ``none``: no LayerNorm (T-Fixup)."""

    def ln() -> list[nn.Module]:
        return [nn.LayerNorm(width)] if norm == "layer" else []

    branches = (
        [SelfAttention(width, heads)],
        [nn.Linear(width, hidden), activation(), nn.Linear(hidden, width)],
    )
    blocks = []
    for branch in branches:
        if position == "pre":
            blocks.append(
                ResidualBlock(nn.Sequential(*ln(), *branch), nn.Identity(), nn.Identity())
            )
        else:
            after = ln()
            blocks.append(
                ResidualBlock(
                    nn.Sequential(*branch), nn.Identity(), after[0] if after else nn.Identity()
                )
            )
    return blocks
