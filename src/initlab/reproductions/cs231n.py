"""cs231n (Karpathy, 2016), lecture 6, "activation statistics": the untrained net's activations
layer by layer, probed (``python -m initlab.probe``), against the stds the lecture prints."""

from __future__ import annotations

from initlab.reproductions.reproduction import Check, Reproduction

PROBE = ["experiment=cs231n_probe"]  # 10 tanh layers × 500, 1000 × 500 inputs, no bias
# Why these bands (tests/test_probe.py measured it over seeds 0..29): a 500 × 500 draw moves a
# layer's std by 0.2% (0.01·randn), 0.03% (randn: saturated), 0.1-0.6% (1/√n), and with ReLU
# by ~4%·√(depth − 1) (12% at layer 10); the lecture's numbers are one draw each, so the band is
# ~3 sds of the difference of two draws, and covers the lecture's rounding.
SPREAD = "the seed spread of a layer's std over 30 seeds (tests/test_probe.py), ×3, and rounding"


def layer_stds(
    label: str,
    point: dict[str, str],
    published: dict[int, float],
    first: float,
    deep: float,
    spread: str = SPREAD,
) -> list[Check]:
    """One check per published layer std: within ± ``first`` (layer 1) or ± ``deep`` of it."""
    return [
        Check(
            f"{label}: layer {k} std",
            point,
            f"std@layer{k}",
            f"{std:g}",
            (std * (1 - (first if k == 1 else deep)), std * (1 + (first if k == 1 else deep))),
            f"± {100 * (first if k == 1 else deep):g}%: {spread}",
        )
        for k, std in published.items()
    ]


REPRODUCTIONS = [
    Reproduction(
        name="cs231n",
        title="cs231n lecture 6: activation statistics of a 10-layer net",
        source="cs231n 2016, lecture 6 (Karpathy), slides 'Activation statistics': the printed "
        "per-layer means and stds",
        protocol="10 layers of 500 units, no bias, 1000 × 500 unit-gaussian inputs; tanh with "
        "W = 0.01·randn, W = randn and W = randn/√fan_in, and ReLU with W = randn·√(2/fan_in) "
        "(conf/experiment/cs231n_probe.yaml); the untrained net, probed over seeds 0, 1, 2",
        probes=[
            [*PROBE, "init=small_normal"],
            [*PROBE, "init=normal"],
            [*PROBE, "init=lecun"],
            [*PROBE, "init=he", "activation=relu"],
        ],
        checks=[
            *layer_stds(
                "tanh, 0.01·randn",
                {"init": "small_normal"},
                {1: 0.213, 2: 0.0476, 3: 0.0106, 4: 0.00238},
                0.02,
                0.02,
            ),
            *layer_stds("tanh, randn", {"init": "normal"}, {1: 0.98, 10: 0.98}, 0.01, 0.01),
            *layer_stds("tanh, randn/√n", {"init": "lecun"}, {1: 0.628, 10: 0.23}, 0.02, 0.05),
            *layer_stds(
                "relu, randn·√(2/n)",
                {"init": "he", "activation": "relu"},
                {1: 0.82, 10: 0.82},
                0.02,
                0.35,
            ),
        ],
        quick=True,
    )
]
