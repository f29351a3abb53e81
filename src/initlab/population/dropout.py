"""Each member's dropout, drawn as its own sequential run draws it, inside one stacked forward.

A sequential run draws its dropout masks from the global RNG, seeded by its ``seed`` (after the
model's construction has used it). Under ``torch.func.vmap`` one random call serves every member
at once (``randomness="different"`` draws a single tensor for all of them), so no member would get
its own run's masks. Instead :class:`MemberDropout` takes the place of every ``nn.Dropout`` in the
population's template and, at each call, draws every active member's noise from that member's own
RNG state, exactly as ``torch.nn.functional.dropout`` does for one run (``_dropout_impl`` in
ATen's Dropout.cpp: ``noise = empty_like(x).bernoulli_(1 - p).div_(1 - p)``, then ``x * noise``
on the CPU; CUDA's fused ``native_dropout`` draws from the CUDA generator instead), and picks the
member's row by the member index vmap passes in.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


class MemberRNG:
    """One member's global RNG states as its sequential run would hold them: ``states`` is
    :func:`initlab.training.init_module.rng_states`' dict (``torch``: the CPU generator;
    ``cuda_device``: the GPU's, on a GPU)."""

    def __init__(self, states: dict):
        self.states = dict(states)
        self.cpu = torch.Generator().set_state(states["torch"])

    def snapshot(self) -> dict:
        """The states now, for a checkpoint."""
        return {**self.states, "torch": self.cpu.get_state()}

    def noise(self, shape: torch.Size, p: float, device: torch.device) -> torch.Tensor:
        """The ``shape`` dropout noise (0 or 1/(1-p)) the member's run would draw next."""
        if device.type != "cuda":
            return torch.empty(shape).bernoulli_(1 - p, generator=self.cpu).div_(1 - p).to(device)
        # CUDA: native_dropout draws from the device's default generator, which has no
        # generator argument: hold the member's state in it for the draw.
        outside = torch.cuda.get_rng_state(device)
        torch.cuda.set_rng_state(self.states["cuda_device"], device)
        noise = torch.native_dropout(torch.ones(shape, device=device), p, True)[0]
        self.states["cuda_device"] = torch.cuda.get_rng_state(device)
        torch.cuda.set_rng_state(outside, device)
        return noise


class MemberDropout(nn.Module):
    """``nn.Dropout(p)`` for a stacked forward: ``draw`` is set by the population for each call
    (the members' RNGs, which members are active, the member index under vmap)."""

    def __init__(self, p: float):
        super().__init__()
        self.p = p
        self.draw: Draw | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: one member's (B, ...) under vmap
        if not self.training or self.p == 0 or self.draw is None:
            return x
        return x * self.draw(x.shape, self.p, x.device)


class Draw:
    """The members' noise for one stacked forward: ``rngs[i]`` draws member i's, inactive members
    (diverged) draw nothing; ``member`` is the batched member index inside vmap."""

    def __init__(self, rngs: Sequence[MemberRNG], active: Sequence[bool], member: torch.Tensor):
        self.rngs, self.active, self.member = rngs, active, member

    def __call__(self, shape: torch.Size, p: float, device: torch.device) -> torch.Tensor:
        rows = [
            rng.noise(shape, p, device) if on else torch.ones(shape, device=device)
            for rng, on in zip(self.rngs, self.active, strict=True)
        ]
        return torch.stack(rows)[self.member]  # (members, *shape) -> this member's row


def replace_dropout(template: nn.Module) -> list[MemberDropout]:
    """Swap every ``nn.Dropout`` of ``template`` (in place) for a :class:`MemberDropout`."""
    swapped = []
    for module in list(template.modules()):
        for name, child in list(module.named_children()):
            if type(child) is nn.Dropout:
                new = MemberDropout(child.p)
                setattr(module, name, new)
                swapped.append(new)
    return swapped
