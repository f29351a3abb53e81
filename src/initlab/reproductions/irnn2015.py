"""Le, Jaitly & Hinton (2015): a ReLU RNN from the identity recurrence (IRNN) against the same
RNN from torch's default init, over 3 seeds."""

from __future__ import annotations

import math

from initlab.reproductions.reproduction import Check, Original, Reproduction


def _accuracy(why: str) -> Check:
    return Check(
        "IRNN: test accuracy",
        {"init": "irnn"},
        "test/acc",
        "MNIST pixel by pixel: about the LSTM's",
        None,
        why,
    )


GAP = Check(
    "ReLU RNN: IRNN − default test accuracy",
    {"init": "irnn"},
    "test/acc",
    "IRNN far above the standard init (784 steps)",
    (0.0, math.inf),
    "above 0: the IRNN ends ahead (paired by seed); 28 steps, so no size is claimed",
    minus={"init": "default"},
)


REPRODUCTIONS = [
    Reproduction(
        name="irnn2015",
        title="Le et al. 2015: IRNN, a ReLU RNN from the identity recurrence (FashionMNIST "
        "analogue)",
        source="Le, Jaitly & Hinton, 'A Simple Way to Initialize Recurrent Networks of "
        "Rectified Linear Units' (2015): on pixel-by-pixel MNIST the IRNN reaches about the "
        "LSTM's accuracy, far above a ReLU RNN from a standard init",
        protocol="the paper: MNIST pixel by pixel (784 steps), SGD with gradient clipping, "
        "long training; here FashionMNIST row by row (28 steps), a ReLU RNN of 128 units, "
        "Adam 1e-3, batch 100, 3 epochs (conf/experiment/irnn2015.yaml). Over 28 steps, with "
        "Adam, the gap is expected small (docs/models.md: Recurrent nets)",
        sweeps=[["experiment=irnn2015", "init=irnn,default", "seed=0,1,2"]],
        checks=[GAP, _accuracy("another data set and sequence: reported")],
        original=Original(
            "mnist",
            "Le et al. 2015: IRNN, a ReLU RNN from the identity recurrence (MNIST row by row)",
            "MNIST row by row (28 steps of 28 pixels), not the paper's pixel by pixel (784 steps): "
            "a ReLU RNN of 128 units, Adam 1e-3, batch 100, 3 epochs",
            [GAP, _accuracy("row by row (28 steps), not pixel by pixel (784): reported")],
        ),
        notes=[
            "What we found (the run of 2026-12-06): the IRNN ends ahead by 0.0108 ± 0.0018 "
            "(seeds: +0.009, +0.010, +0.013), in every seed but by about one point: over 28 "
            "steps, with Adam, the paper's large gap does not show. The exact figures move with "
            "the order of floating-point sums (the torch thread count, the launcher): an earlier "
            "run of the same sweep had +0.0045 ± 0.0084, and the Recurrent nets table of "
            "docs/models.md (joblib, 1 thread a job) 0.834 ± 0.008 against 0.820 ± 0.008. The "
            "row matches by its mean: read it as 'a little better', not as the paper's result."
        ],
    )
]
