"""Zhang, Dauphin & Ma (2019), Fixup, and De & Smith (2020), SkipInit: a deep residual net
without normalization trains from them, not from He's init."""

from __future__ import annotations

import math

from initlab.reproductions.reproduction import Check, Original, Reproduction

SEEDS = "seed=0,1,2"
NO_NORM = {"model.norm": "none"}


def _beats_he(init: str, published: str) -> Check:
    return Check(
        f"no norm: {init} − he test accuracy",
        {"init": init, **NO_NORM},
        "test/acc",
        published,
        (0.0, math.inf),
        "above 0: it trains where He's init does not (paired by seed)",
        minus={"init": "he", **NO_NORM},
    )


CHECKS = [
    _beats_he("fixup", "Fixup trains, the standard init does not"),
    _beats_he("skipinit", "SkipInit trains without normalization"),
    Check(
        "no norm: he loss at step 10",
        {"init": "he", **NO_NORM},
        "train/loss@9",
        "explodes: the output variance grows with depth",
        (math.log(10) + 1, math.inf),
        "more than 1 above ln 10: the logits exploded at the start",
    ),
    Check(
        "no norm, fixup: test accuracy after 100 steps",
        {"init": "fixup", **NO_NORM},
        "test/acc",
        "matches batch norm after full training",
        None,
        "100 steps, not a full schedule: reported (docs/models.md: Residual nets compares "
        "batch norm over 300 steps and 3 epochs)",
    ),
]


REPRODUCTIONS = [
    Reproduction(
        name="fixup2019",
        title="Fixup (Zhang et al. 2019) and SkipInit (De & Smith 2020): no normalization "
        "(FashionMNIST analogue)",
        source="Zhang, Dauphin & Ma, 'Fixup Initialization: Residual Learning Without "
        "Normalization' (ICLR 2019): a deep ResNet without normalization "
        "explodes from the standard init and trains with Fixup; De & Smith, 'Batch "
        "Normalization Biases Residual Blocks Towards the Identity Function' (NeurIPS 2020): "
        "SkipInit (α = 0 at each branch end) trains it too",
        protocol="the papers: ResNets on CIFAR-10 and ImageNet, SGD, long schedules; here "
        "ResNet-56, width 8, FashionMNIST, Adam 1e-3, batch 100, the first 100 steps "
        "(conf/experiment/fixup2019.yaml), 3 seeds",
        sweeps=[["experiment=fixup2019", "model.norm=none", "init=fixup,skipinit,he", SEEDS]],
        checks=CHECKS,
        original=Original(
            "cifar10",
            "Fixup (Zhang et al. 2019) and SkipInit (De & Smith 2020): no normalization (CIFAR-10)",
            "CIFAR-10, the papers' data set: ResNet-56, width 8 (the papers' 16), Adam 1e-3, "
            "batch 100, the first 100 steps, 3 seeds",
            CHECKS,
        ),
        figures=("curves_train_loss",),
    )
]
