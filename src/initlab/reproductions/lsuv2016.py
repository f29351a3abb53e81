"""Mishkin & Matas (2016), "All you need is a good init": LSUV on a deep MLP, against its
orthonormal start, Xavier and He, over 3 seeds (the 20-layer table of docs/initializers.md)."""

from __future__ import annotations

import math

from initlab.reproductions.reproduction import Check, Reproduction

SEEDS = "seed=0,1,2"


def _better(act: str, than: str, published: str) -> Check:
    return Check(
        f"{act}: LSUV − {than} test accuracy",
        {"init": "lsuv", "activation": act},
        "test/acc",
        published,
        (0.0, math.inf),
        f"above 0: LSUV ends better than {than} (paired by seed)",
        minus={"init": than, "activation": act},
    )


REPRODUCTIONS = [
    Reproduction(
        name="lsuv2016",
        title="Mishkin & Matas 2016: LSUV trains a deep thin net (20-layer MLP)",
        source="Mishkin & Matas, 'All you need is a good init' (ICLR 2016), its "
        "CIFAR-10 tables: LSUV reaches the best or near-best accuracy with every activation, "
        "improving on its orthonormal start, and trains deep thin nets (FitNets) that other "
        "inits, Xavier's among them, do not",
        protocol="the paper: FitNets and very deep thin nets on CIFAR-10/100 and MNIST; here a "
        "20-layer MLP of 256 units on FashionMNIST, Adam 1e-3, batch 100, 2 epochs "
        "(conf/experiment/lsuv_deep_mlp.yaml), ReLU and tanh",
        sweeps=[
            [
                "experiment=lsuv_deep_mlp",
                "init=lsuv,orthogonal,xavier,he",
                "activation=relu,tanh",
                SEEDS,
            ]
        ],
        checks=[
            _better("relu", "orthogonal", "LSUV ≥ its orthonormal start"),
            _better("tanh", "orthogonal", "LSUV ≥ its orthonormal start"),
            _better("tanh", "xavier", "LSUV trains deep thin nets Xavier does not"),
            _better("relu", "xavier", "LSUV trains deep thin nets Xavier does not"),
            *[
                Check(
                    f"{act}: LSUV test accuracy",
                    {"init": "lsuv", "activation": act},
                    "test/acc",
                    "near the best with every activation",
                    None,
                    "another data set and net: reported",
                )
                for act in ("relu", "tanh")
            ],
        ],
        figures=("heatmap_test_acc", "curves_train_loss"),
    )
]
