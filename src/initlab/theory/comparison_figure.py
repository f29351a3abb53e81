"""The figure of :class:`~initlab.theory.network.Comparison`: q^l and c^l measured (dots) beside the
theory's curves (lines), and the Jacobian's squared singular values (a histogram) beside their
predicted mean ± one standard deviation."""

from __future__ import annotations

import math

import numpy as np
from matplotlib.figure import Figure

from initlab.theory.network import Comparison


def figure(comparison: Comparison, title: str = "") -> Figure:
    fig = Figure(figsize=(10.5, 3.2), dpi=100)
    axes = fig.subplots(1, 3)
    depth = np.arange(1, len(comparison.layers) + 1)
    for ax, measured, predicted, label in (
        (
            axes[0],
            comparison.q_measured,
            comparison.q_predicted,
            "$q^l$: mean squared pre-activation",
        ),
        (
            axes[1],
            comparison.c_measured,
            comparison.c_predicted,
            "$c^l$: correlation of two inputs",
        ),
    ):
        ax.plot(depth, predicted, "-", color="C0", label="theory")
        ax.plot(depth, measured, "o", color="C1", ms=4, label="measured")
        ax.set_xlabel("layer (the last: logits)")
        ax.set_title(label, fontsize=9)
        ax.legend(fontsize=7, frameon=False)
    if comparison.q_measured and min(comparison.q_measured + comparison.q_predicted) > 0:
        axes[0].set_yscale("log")
    ax = axes[2]
    if comparison.jacobian:
        ax.hist(comparison.jacobian, bins=40, color="C1", alpha=0.7, label="measured")
        ax.set_yscale("log")
    if comparison.jacobian_mean is not None:
        mean, sd = comparison.jacobian_mean, math.sqrt(max(comparison.jacobian_variance, 0.0))
        ax.axvline(mean, color="C0", label="theory: mean")
        for edge in (mean - sd, mean + sd):
            ax.axvline(edge, color="C0", ls="--", lw=1)
        ax.plot([], [], "C0--", lw=1, label="theory: mean ± sd")
    ax.set_title("Jacobian: squared singular values", fontsize=9)
    ax.set_xlabel(comparison.jacobian_note, fontsize=7)
    ax.legend(fontsize=7, frameon=False)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.subplots_adjust(left=0.07, right=0.98, bottom=0.2, top=0.82, wspace=0.3)
    return fig
