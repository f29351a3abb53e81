"""Which dimensions of each parameter grow with the network's width, and by how much.

The way ``mup.set_base_shapes(model, base, delta=delta)`` reads them (Yang et al., 2021): the
model is built at the base width and at twice it; a dimension whose size differs between the
two is a width (an "infinite" dimension), every other one is fixed. A width's multiplier is the
run's size over the base model's. The model's width is one or more of its keys
(:data:`WIDTH_KEYS` for the built-in models; ``parametrization.width_key`` for a user's).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from torch import nn

from initlab.config.errors import ConfigError

# The keys of each built-in model that are its width: every entry of a list key is set to the
# width (the MLP's hidden layers, the CNN's channels), an integer key to the width itself.
WIDTH_KEYS: dict[str, tuple[str, ...]] = {
    "mlp": ("hidden",),
    "deep_mlp": ("width",),
    "cnn": ("channels", "hidden"),
    "resnet": ("width",),  # stages of width, 2·width, 4·width
    "vit": ("width",),  # the MLP's hidden units follow: mlp_ratio · width
}


@dataclass(frozen=True)
class Dim:
    """One dimension of a parameter: its size, and the base model's where it is a width."""

    size: int
    base: int | None  # None: not a width (the same size at every width)

    @property
    def mult(self) -> float:
        """The width multiplier: size / base size (1 for a fixed dimension)."""
        return 1.0 if self.base is None else self.size / self.base


@dataclass(frozen=True)
class Shape:
    """A parameter's dimensions (``mup``'s ``InfShape``)."""

    dims: tuple[Dim, ...]

    @property
    def widths(self) -> int:
        """How many of its dimensions are widths (``InfShape.ninf``)."""
        return sum(d.base is not None for d in self.dims)

    @property
    def mult(self) -> float:
        """The multiplier of its last width dimension: a matrix's fan-in (dimension 1 of a
        Linear's or a convolution's weight), a vector's only width (``InfShape.width_mult``)."""
        last = [d for d in self.dims if d.base is not None]
        return last[-1].mult if last else 1.0


def at_width(model_params: dict, keys: Sequence[str], width: int) -> dict:
    """The model's keys with each of ``keys`` set to ``width`` (each entry of a list); a key the
    config does not set (a custom model's default) is added, for the builder to take or refuse."""
    params = dict(model_params)
    for key in keys:
        value = params.get(key)
        params[key] = [width] * len(value) if isinstance(value, (list, tuple)) else width
    return params


def _at(build: Callable[[dict], nn.Module], params: dict, keys: Sequence[str], width: int):
    """The model at ``width``; what the builder refuses there (a bad value, or a user's model
    that raises) is refused as the width key, with the width."""
    try:
        return build(at_width(params, keys, width))
    except ConfigError as err:
        if err.key == "width_key":
            raise
        raise ConfigError("width_key", list(keys), f"at width {width}, {err}") from None
    except Exception as err:
        raise ConfigError(
            "width_key",
            list(keys),
            f"at width {width}, building the model raised {type(err).__name__}: {err}",
        ) from None


def shapes(
    build: Callable[[dict], nn.Module], model_params: dict, keys: Sequence[str], base_width: int
) -> tuple[dict[str, Shape], nn.Module, nn.Module, nn.Module]:
    """Every parameter of the model built from ``model_params``, by name, with its dimensions
    read against the model built at ``base_width`` and at twice it (on the meta device: no
    memory, no compute); and the model, the base model and the one at twice it, as built."""
    net = build(model_params)
    base, delta = (_at(build, model_params, keys, w) for w in (base_width, 2 * base_width))
    sizes = {name: p.shape for name, p in net.named_parameters()}
    base_sizes = {name: p.shape for name, p in base.named_parameters()}
    delta_sizes = {name: p.shape for name, p in delta.named_parameters()}
    if not sizes.keys() == base_sizes.keys() == delta_sizes.keys():
        raise ConfigError(
            "width_key",
            list(keys),
            "changes which parameters the model has, not only their sizes: μP needs the same "
            "parameters at every width",
        )
    found = {}
    for name, size in sizes.items():
        if not len(size) == len(base_sizes[name]) == len(delta_sizes[name]):
            raise ConfigError(
                "width_key", list(keys), f"changes the number of dimensions of {name}"
            )
        found[name] = Shape(
            tuple(
                Dim(s, b if b != d else None)
                for s, b, d in zip(size, base_sizes[name], delta_sizes[name], strict=True)
            )
        )
    if not any(shape.widths for shape in found.values()):
        raise ConfigError(
            "width_key", list(keys), "changes no parameter's size: it is not the model's width"
        )
    return found, net, base, delta
