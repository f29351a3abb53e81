"""Glorot & Bengio (2010), table 1: the normalized init (Xavier) against the standard one,
U(±1/√n), for tanh, softsign and sigmoid."""

from __future__ import annotations

import math

from initlab.reproductions.reproduction import Check, Original, Reproduction

SEEDS = "seed=0,1,2"
ACTS = {"tanh": "Tanh", "softsign": "Softsign"}
INITS = ("uniform_rule", "xavier")  # standard, normalized

CHECKS = [
    Check(
        "Tanh: normalized − standard test accuracy",
        {"init": "xavier", "activation": "tanh"},
        "test/acc",
        "Tanh N below Tanh's error (table 1)",
        (0.0, math.inf),
        "above 0: the normalized init ends better (paired by seed)",
        minus={"init": "uniform_rule", "activation": "tanh"},
    ),
    Check(
        "Softsign: normalized − standard test accuracy",
        {"init": "xavier", "activation": "softsign"},
        "test/acc",
        "Softsign depends less on the init (section 5)",
        None,
        "no direction claimed: reported",
        minus={"init": "uniform_rule", "activation": "softsign"},
    ),
    *[
        Check(
            f"{name} N − Sigmoid test accuracy",
            {"init": "xavier", "activation": act},
            "test/acc",
            "the sigmoid worst (table 1)",
            (0.0, math.inf),
            "above 0: the sigmoid (standard init) ends last (paired by seed)",
            minus={"init": "uniform_rule", "activation": "sigmoid"},
        )
        for act, name in ACTS.items()
    ],
]


REPRODUCTIONS = [
    Reproduction(
        name="glorot2010",
        title="Glorot & Bengio 2010, table 1: normalized (Xavier) vs standard init "
        "(FashionMNIST analogue)",
        source="Glorot & Bengio, 'Understanding the difficulty of training deep feedforward "
        "neural networks' (AISTATS 2010), table 1 (test error by activation and init on "
        "Shapeset, MNIST, CIFAR-10 and Small-ImageNet) and section 5: the sigmoid is worst; "
        "the normalized init helps tanh; softsign, with its gentler non-linearity, depends "
        "less on the init",
        protocol="the paper: 5 hidden layers of 1000 units, minibatch 10, trained to the best "
        "validation error; here 5 × 256 units, batch 100, SGD lr 0.1, 3 epochs on FashionMNIST "
        "(a 2-core CPU's budget; conf/experiment/glorot2010.yaml). The standard init is "
        "U(±1/√n) (uniform_rule), the normalized U(±√(6/(n_in+n_out))) (xavier); the sigmoid "
        "runs with the standard init only, as in the paper",
        sweeps=[
            [
                "experiment=glorot2010",
                "init=uniform_rule,xavier",
                "activation=tanh,softsign",
                SEEDS,
            ],
            ["experiment=glorot2010", "init=uniform_rule", "activation=sigmoid", SEEDS],
        ],
        checks=CHECKS,
        original=Original(
            "mnist",
            "Glorot & Bengio 2010, table 1: normalized (Xavier) vs standard init (MNIST)",
            "MNIST, one of the paper's four data sets: 5 × 256 units, batch 100, SGD lr 0.1, 3 "
            "epochs; the paper trains 5 × 1000 units to the best validation error, so its "
            "absolute errors (table 1) are not compared, only the order it shows",
            CHECKS,
        ),
        figures=("heatmap_test_acc", "curves_train_loss"),
        names={"uniform_rule": "standard U(±1/√n) (uniform_rule)", "xavier": "normalized (xavier)"},
        layers=[
            ("mean", [{"activation": "sigmoid", "init": "uniform_rule"}]),  # figure 2
            (  # figures 3-4: tanh saturates layer by layer, softsign less
                "saturation",
                [{"activation": a, "init": i} for a in ("tanh", "softsign") for i in INITS],
            ),
        ],
    )
]
