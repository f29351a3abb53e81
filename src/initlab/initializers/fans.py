"""What one weight block gets: a :class:`Draw`, the answer of a :data:`Rule` to the block's fans."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Fans:
    """Connections into and out of one unit of a weight block (conventions per layer type:
    :mod:`initlab.initializers.weight_blocks`).

    ``units`` is the number of rows of the block drawn as a matrix (units, fan_in·…): output
    features, channels, gate units, embedding rows.
    """

    fan_in: int
    fan_out: int
    units: int

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
    The methods are the keys of :data:`initlab.initializers.fill.FILLS`.
    """

    method: str
    mean: float | None = None
    std: float | None = None
    low: float | None = None
    high: float | None = None
    value: float | None = None
    gain: float | None = None
    k: int | None = None


Rule = Callable[[Fans], Draw]


def constant_draw(value: float) -> Draw:
    return Draw("constant", mean=float(value), std=0.0, value=float(value))


def uniform_draw(bound: float) -> Draw:
    """U(−bound, bound)."""
    return Draw("uniform", std=bound / 3**0.5, low=-bound, high=bound)


def scaled(draw: Draw, factor: float) -> Draw:
    """``draw`` with every entry multiplied by ``factor`` (mean, std, bounds, value)."""
    return replace(
        draw,
        **{
            key: getattr(draw, key) * factor
            for key in ("mean", "std", "low", "high", "value")
            if getattr(draw, key) is not None
        },
    )
