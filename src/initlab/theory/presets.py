"""Where the closed-form presets of the ``init`` group sit in the theory's (σ_w², σ_b²) plane.

A preset draws a weight of a square fully connected layer (fan_in = fan_out = n) with some std;
the theory's σ_w² is n·std² (the same for every n: He's 2, LeCun's 1, Xavier's 2n/(n + n) = 1,
orthogonal's gain², times gain² where a preset has a gain), and its σ_b² is the bias variance:
0, since every preset sets biases to zeros. With ``gain=auto`` (the activation's
variance-preserving gain g, :mod:`initlab.models.activations`), He, LeCun and Xavier all land on
σ_w² = g² on a square layer: they differ only in which fan they divide by.
"""

from __future__ import annotations

from dataclasses import dataclass

from initlab.initializers.fans import Fans
from initlab.initializers.initializer import get_initializer
from initlab.models.activations import get_activation

PRESETS = ("he", "lecun", "xavier", "orthogonal")  # each at its defaults, then at gain=auto
WIDTH = 256  # any width gives the same σ_w² for these presets


@dataclass(frozen=True)
class Preset:
    label: str  # as chosen on the command line
    sigma_w2: float
    sigma_b2: float
    weights: str  # gaussian (any i.i.d. draw) or orthogonal, for the Jacobian's spread


def points(activation: str) -> list[Preset]:
    """Each of :data:`PRESETS` at its defaults, and once at ``gain=auto`` for ``activation``
    (the presets that coincide there are listed once, under one label)."""
    gain = get_activation(activation).gain
    found: dict[tuple[float, str], list[str]] = {}
    for name in PRESETS:
        for params, label in (({}, f"init={name}"), ({"gain": "auto"}, f"init={name} gain=auto")):
            initializer = get_initializer(name, activation_gain=gain, **params)
            draw = initializer.weight(Fans(WIDTH, WIDTH, WIDTH))
            sigma_w2 = round(WIDTH * draw.std**2, 12)
            weights = "orthogonal" if draw.method == "orthogonal" else "gaussian"
            found.setdefault((sigma_w2, weights), []).append(label)
    return [
        Preset(label=", ".join(labels), sigma_w2=sw2, sigma_b2=0.0, weights=weights)
        for (sw2, weights), labels in found.items()
    ]
