"""Deep Learning Zero To All (Sung Kim), lab 10-2: an MLP with Xavier init reaches ~98% on
MNIST. MNIST needs a download: FashionMNIST here, its number measured and reported; MNIST,
checked against the lab's number, whenever its files are present."""

from __future__ import annotations

from initlab.reproductions.reproduction import Check, Original, Reproduction

REPRODUCTIONS = [
    Reproduction(
        name="zta_lab10",
        title="Deep Learning Zero To All lab 10-2: MLP with Xavier init (FashionMNIST analogue)",
        source="deeplearningzerotoall/PyTorch, lab-10_2_mnist_nn_xavier (its printed test "
        "accuracy, 0.9766-0.9805 across the lab's TensorFlow and PyTorch versions)",
        protocol="MNIST in the lab; here FashionMNIST, the offline analogue (MNIST needs a "
        "download): 784-256-256-10 ReLU, xavier_uniform weights, torch's biases, Adam 1e-3, "
        "batch 100, 15 epochs, inputs in [0, 1] (conf/experiment/zta_lab10.yaml); 5k of the "
        "60k training images are held out for validation",
        sweeps=[["experiment=zta_lab10", "seed=0,1,2"]],
        checks=[
            Check(
                "test accuracy",
                {"experiment": "zta_lab10"},
                "test/acc",
                "0.9766-0.9805 (MNIST)",
                None,
                "another data set: the lab's claim (≥ 0.975) is MNIST's; FashionMNIST is "
                "reported, not checked",
            )
        ],
        original=Original(
            "mnist",
            "Deep Learning Zero To All lab 10-2: MLP with Xavier init (MNIST)",
            "MNIST, as in the lab: 784-256-256-10 ReLU, xavier_uniform weights, torch's biases, "
            "Adam 1e-3, batch 100, 15 epochs, inputs in [0, 1]; 5k of the 60k training images "
            "are held out for validation (the lab trains on all 60k)",
            [
                Check(
                    "test accuracy",
                    {"experiment": "zta_lab10"},
                    "test/acc",
                    "0.9766-0.9805",
                    (0.975, 1.0),
                    "≥ 0.975: the lab's claim (its runs print 0.9766-0.9805); here 5k fewer "
                    "training images",
                )
            ],
        ),
    )
]
