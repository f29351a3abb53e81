"""The step of a population whose members have their own learning rates
(:meth:`PopulationModule._step`): the optimizer steps at the largest rate and each member's step
is scaled by its rate over it, in place."""

from __future__ import annotations

from functools import partial
from types import SimpleNamespace

import pytest
import torch

from initlab.population.population_module import PopulationModule

RATES = [0.1, 0.05, 0.025, 0.03]  # the largest, halves, and one that is not a power of 2


def scaled_step(optimizer_name: str, rates=RATES, scale: float = 1.0):
    """Two stacked parameters, a member per rate, two steps of ``optimizer_name`` at the
    largest rate, each scaled by _step; and the same members stepped one by one at their own
    rates. ``scale``: of the starting weights (small ones, so that a small rate's update shows
    above rounding)."""
    g = torch.Generator().manual_seed(0)
    members = len(rates)
    start = [
        scale * torch.randn(members, 3, 5, generator=g),
        scale * torch.randn(members, 5, generator=g),
    ]
    grads = [[torch.randn(p.shape, generator=g) for p in start] for _ in range(2)]
    make = {"sgd": partial(torch.optim.SGD, momentum=0.9), "adam": torch.optim.Adam}[optimizer_name]
    stacked = [torch.nn.Parameter(p.clone()) for p in start]
    optimizer = make(stacked, lr=max(rates))
    ratios = torch.tensor(rates, dtype=torch.float64) / max(rates)
    module = SimpleNamespace(_lr_ratios=ratios, _lr_weight_cache={})
    module._lr_weights = partial(PopulationModule._lr_weights, module)
    for step in grads:
        for p, grad in zip(stacked, step, strict=True):
            p.grad = grad.clone()
        PopulationModule._step(module, optimizer)
    alone = []
    for i, lr in enumerate(rates):
        params = [torch.nn.Parameter(p[i].clone()) for p in start]
        own = make(params, lr=lr)
        for step in grads:
            for p, grad in zip(params, step, strict=True):
                p.grad = grad[i].clone()
            own.step()
        alone.append(params)
    return stacked, alone


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_each_member_steps_at_its_own_rate(optimizer):
    stacked, alone = scaled_step(optimizer)
    for i in range(len(RATES)):
        for k, p in enumerate(stacked):
            if i == 0:  # the largest rate: the optimizer's own step, bit for bit
                assert torch.equal(p[i], alone[i][k])
            else:  # a scaled step: its rounding differs from the member's own by ulps
                assert torch.allclose(p[i], alone[i][k], rtol=1e-5, atol=1e-6)
                assert not torch.allclose(p[i], alone[0][k], rtol=1e-3)


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_a_member_far_below_the_largest_rate_steps_at_its_rate(optimizer):
    """A ratio of 10⁻⁴ is applied as itself, not as 1 − (1 − r) in float32 (which is r off by
    up to 6·10⁻⁴ relative): the member's update is its own run's to float rounding."""
    stacked, alone = scaled_step(optimizer, rates=[1.0, 1e-4], scale=1e-4)
    for k, p in enumerate(stacked):
        assert torch.allclose(p[1], alone[1][k], rtol=2e-5, atol=0)
