"""Yang, Hu, Babuschkin, Sidor, Liu, Farhi, Ryder, Pachocki, Chen & Gao (2021), "Tensor Programs
V: Tuning Large Neural Networks via Zero-Shot Hyperparameter Transfer", figure 1: under the
standard parametrization (SP) the learning rate of the lowest training loss moves with the
width; under the maximal update parametrization (μP) it stays put, and at that learning rate the
wider net is better. Trained here over a grid of widths × learning rates under both, each
(parametrization, width) one population of learning rates and seeds (:mod:`.lr_transfer`), and
the coordinate check beside it (figure 5)."""

from __future__ import annotations

import math

from initlab.reproductions.lr_transfer import BEST, MOVED, SPREAD, WIDENING, WIDEST, Transfer
from initlab.reproductions.reproduction import Check, CoordCheck, Reproduction

WIDTHS = (64, 128, 256, 512, 1024)  # 16×, each twice the last; μP's base width is the first
LOG2_LRS = range(-14, -5)  # 2⁻¹⁴ … 2⁻⁶: Adam's usual 1e-3 (≈ 2⁻¹⁰) in the middle
LOSS = "train/loss"  # metrics.json's: the mean over the run's 300 steps
# Set before measuring the grid: the mean training loss over 10⁴ or more examples moves by about
# 0.005 from seed to seed (a per-example std near 0.6), so a rise of 0.01 is noise.
NOISE = 0.01
# The coordinate check's learning rate (docs/parametrization.md's): large enough that one step of
# Adam changes each logit by more than its initial value at these widths, so that how the update
# scales with width shows (at 10⁻³ the logits after one step are still mostly the initial ones).
COORD_LR = 0.01
NAMES = {"sp": "SP (standard parametrization)", "mup": "μP (base width 64)"}


def lrs(log2_lrs) -> str:
    return ",".join(repr(2.0**k) for k in log2_lrs)


def grid_checks(widths) -> list[Check]:
    """The paper's three claims, with bands set before measuring, and the best learning rate
    at each width under each, reported."""
    steps = math.log2(widths[-1] / widths[0])
    return [
        Check(
            f"μP: the best learning rate at every width, in powers of 2 from width {widths[0]}'s",
            {"parametrization": "mup"},
            SPREAD,
            "0 (the same at every width)",
            (0, 1),
            "at most 1: the grid's step is one power of 2, and a loss that is flat around its "
            "minimum can put two neighbours within a seed's noise",
        ),
        Check(
            f"SP: the best learning rate from width {widths[0]} to {widths[-1]}, in powers of 2",
            {"parametrization": "sp"},
            MOVED,
            f"it moves (to smaller rates as the net widens; {widths[-1] // widths[0]}× wider)",
            (2, math.inf),
            f"2 or more: Adam's update of a hidden layer grows with its fan-in under SP, so "
            f"the stable rate falls as 1/width (2^{steps:.0f} here) until the output layer "
            "alone limits it; 2 powers is the least the paper's figure shows over this range",
        ),
        Check(
            f"μP: width {widths[-1]}'s loss minus width {widths[0]}'s at the learning rate "
            f"tuned on width {widths[0]}",
            {"parametrization": "mup"},
            WIDEST,
            "below 0 (wider is better)",
            (-math.inf, 0),
            "below 0: the wider net is better at the transferred learning rate",
        ),
        Check(
            "μP: the largest rise of the loss from one width to the next wider, at that "
            "learning rate",
            {"parametrization": "mup"},
            WIDENING,
            "none (the loss does not get worse with width)",
            (-math.inf, NOISE),
            f"at most {NOISE}: the seed-to-seed noise of a mean training loss over 3·10⁴ examples "
            "(FashionMNIST's 300 steps of 100; digits' 1257 are noisier, and the band is kept)",
        ),
        Check(
            f"SP: width {widths[-1]}'s loss minus width {widths[0]}'s at the learning rate "
            f"tuned on width {widths[0]}",
            {"parametrization": "sp"},
            WIDEST,
            "a learning rate tuned narrow is too large wide",
            None,
            "reported: the paper draws it, claims no number",
        ),
        *[
            Check(
                f"{'μP' if p == 'mup' else 'SP'}: the best learning rate at width {w} (log₂)",
                {"parametrization": p},
                f"{BEST}_at_width_{w}",
                "—",
                None,
                "reported: the grid's optimum, in powers of 2",
            )
            for p in ("sp", "mup")
            for w in widths
        ],
        *coordinate_checks(),
    ]


def coordinate_checks() -> list[Check]:
    """The coordinate check's logits (slope of log mean |logit| against log width), with bands
    set before measuring FashionMNIST: at initialization μP's readout is 1/m of the base's, so
    its logits shrink as 1/√width (slope −0.5); after three steps of Adam the update outweighs
    them, and the logits grow as the width under SP (slope 1) and stay flat under μP (slope
    0). First set at one step: on digits μP's logits then still shrank (slope −0.28), the
    initial ones weighing beside a single update; three steps is where the paper's figure 5 is
    flat."""
    return [
        Check(
            "μP at initialization: the logits' slope against width",
            {"parametrization": "mup"},
            "logits_slope_at_step_0",
            "−0.5 (the readout's std is 1/m of the base's: TP5 table 3)",
            (-0.6, -0.4),
            "−0.5 ± 0.1: three seeds averaged at each width",
        ),
        Check(
            "SP after three steps of Adam: the logits' slope against width",
            {"parametrization": "sp"},
            "logits_slope_at_step_3",
            "1 (they grow as the width: fig. 5)",
            (0.5, math.inf),
            "above 0.5: growing at least as √width; Adam's update adds a term of the width's "
            "order to each logit",
        ),
        Check(
            "μP after three steps of Adam: the logits' slope against width",
            {"parametrization": "mup"},
            "logits_slope_at_step_3",
            "0 (flat: fig. 5)",
            (-0.25, 0.25),
            "within ±0.25: a quarter of the way to √width, three seeds averaged",
        ),
    ]


SWEEP = [
    "experiment=yang2021",
    "parametrization=sp,mup",
    f"model.width={','.join(map(str, WIDTHS))}",
    f"optimizer.lr={lrs(LOG2_LRS)}",
    "seed=0,1",
]

REPRODUCTIONS = [
    Reproduction(
        name="yang2021",
        title="Yang 2021: under μP the best learning rate is the same at every width",
        source="Yang, Hu, Babuschkin, Sidor, Liu, Farhi, Ryder, Pachocki, Chen & Gao 2021, "
        "'Tensor Programs V', fig. 1 (training loss against log₂ learning rate, one curve per "
        "width, SP beside μP: SP's optimum moves, μP's stays, and wider is better there) and "
        "fig. 5 (the coordinate check)",
        protocol=f"MLPs of two ReLU hidden layers of width {', '.join(map(str, WIDTHS))} on "
        f"FashionMNIST (the paper: a Transformer and an MLP on CIFAR-10), He init, Adam at "
        f"2^{LOG2_LRS[0]} … 2^{LOG2_LRS[-1]}, batch 100, the first 300 steps "
        "(conf/experiment/yang2021.yaml), seeds 0 and 1, under parametrization=sp and "
        "parametrization=mup (base width 64: at width 64 the two are the same nets); the loss is "
        "the training loss averaged over the 300 steps (metrics.json's train/loss). Each "
        "(parametrization, width) trains its 18 nets as one population. The coordinate check: "
        f"the same nets at the same widths, Adam {COORD_LR}, 4 forward passes of batch 64 (step "
        "0: at initialization), 3 seeds",
        sweeps=[SWEEP],
        checks=grid_checks(WIDTHS),
        figures=(),  # the transfer figure and the coordinate check; 180 curves would hide
        transfer=Transfer(metric=LOSS),
        coord_check=CoordCheck(("experiment=yang2021", f"optimizer.lr={COORD_LR}"), WIDTHS),
        names=NAMES,
        notes=[
            "What we found (2026-12-07; the 180 nets and the coordinate check in 10.7 minutes on "
            "2 cores): under SP the best learning rate halves with each doubling of the width "
            "from 128 on (2⁻⁹ → 2⁻¹²; width 64: 2⁻⁹ and 2⁻⁸ by seed); under μP it is 2⁻⁹ at "
            "every width from 256 on and 2⁻⁹ or 2⁻⁸ below, by seed. At width 64's best rate "
            "the wider μP net is better (width 1024: 0.054 lower), and under SP the widest net "
            "is worse there (0.066 higher). The coordinate check: SP's logits grow as "
            "width^0.78 after three steps of Adam (fig. 5's slope is 1), μP's stay flat "
            "(0.07); at initialization μP's logits shrink as width^−0.54 (−0.5 in theory). "
            "Under SP the loss of the wide nets at large rates rises steeply (width 1024 at "
            "2⁻⁶: 1.57 and 2.04), as in the paper's figure, and none diverged.",
        ],
    )
]

# --quick: scikit-learn's digits (64 pixels), three widths 16× apart, each four times the last.
QUICK_WIDTHS = (32, 128, 512)
QUICK_LRS = range(-12, -3)
QUICK = [
    "experiment=yang2021",
    "dataset=digits",
    # One epoch of 8 (157 steps): the loss is the mean over the whole run, as on FashionMNIST;
    # more epochs and digits' 1257 training images are learnt by heart
    "dataset.batch_size=8",
    f"model.width={','.join(map(str, QUICK_WIDTHS))}",
    f"optimizer.lr={lrs(QUICK_LRS)}",
    "seed=0,1",
]

REPRODUCTIONS.append(
    Reproduction(
        name="yang2021_digits",
        title="Yang 2021 on digits: under μP the best learning rate is the same at every width",
        source=REPRODUCTIONS[0].source,
        protocol=f"the grid of yang2021 on scikit-learn's digits (8×8 pixels): widths "
        f"{', '.join(map(str, QUICK_WIDTHS))}, Adam at 2^{QUICK_LRS[0]} … 2^{QUICK_LRS[-1]}, "
        "one epoch of batch 8 (157 steps; the loss is the mean over it, as on FashionMNIST), "
        f"seeds 0 and 1, μP's base width {QUICK_WIDTHS[0]}; the coordinate check at those "
        "widths",
        sweeps=[
            [*QUICK, "parametrization=sp"],
            [*QUICK, "parametrization=mup", f"parametrization.base_width={QUICK_WIDTHS[0]}"],
        ],
        checks=grid_checks(QUICK_WIDTHS),
        figures=(),
        transfer=Transfer(metric=LOSS),
        coord_check=CoordCheck(
            (
                "experiment=yang2021",
                "dataset=digits",
                f"optimizer.lr={COORD_LR}",
                f"parametrization.base_width={QUICK_WIDTHS[0]}",
            ),
            QUICK_WIDTHS,
        ),
        names={**NAMES, "mup": f"μP (base width {QUICK_WIDTHS[0]})"},
        quick=True,
    )
)
