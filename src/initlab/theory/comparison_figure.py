"""The figure of :class:`~initlab.theory.network.Comparison`: q^l and c^l measured (dots) beside the
theory's curves (lines), and the Jacobian's squared singular values (a histogram, as a
density) beside their predicted density (free probability) and mean."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import LogFormatter, NullLocator

from initlab.theory.network import Comparison


def figure(comparison: Comparison, title: str = "", log_q: bool = True) -> Figure:
    spectrum = bool(comparison.jacobian) or comparison.jacobian_mean is not None
    fig = Figure(figsize=(10.5 if spectrum else 7.0, 3.2), dpi=100)
    axes = fig.subplots(1, 3 if spectrum else 2)
    depth = np.arange(1, len(comparison.layers) + 1)
    c = comparison
    for ax, measured, predicted, label in (
        (axes[0], c.q_measured, c.q_predicted, "q^l: mean squared pre-activation"),
        (axes[1], c.c_measured, c.c_predicted, "c^l: correlation of two inputs"),
    ):
        ax.plot(depth, predicted, "-", color="C0", label="theory")
        ax.plot(depth, measured, "o", color="C1", ms=4, label="measured")
        ax.set_xlabel("layer (the last: logits)")
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.set_title(label, fontsize=9)
        ax.legend(fontsize=7, frameon=False)
    if log_q and min(comparison.q_measured + comparison.q_predicted, default=0) > 0:
        axes[0].set_yscale("log")
    if spectrum:
        _spectrum(axes[2], comparison)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.subplots_adjust(left=0.07, right=0.98, bottom=0.2, top=0.82, wspace=0.3)
    return fig


def _spectrum(ax, comparison: Comparison) -> None:
    heights = np.array([])
    if comparison.jacobian:
        # One artist (stairs), not a patch a bin, no minor ticks: it is drawn for every run
        heights, edges = np.histogram(comparison.jacobian, bins=40, density=True)
        ax.stairs(heights, edges, fill=True, color="C1", alpha=0.7, label="measured")
        ax.set_yscale("log")
        ax.yaxis.set_minor_locator(NullLocator())
        ax.yaxis.set_major_formatter(LogFormatter())  # plain text: no mathtext to parse
    if comparison.jacobian_density is not None:
        x, rho = comparison.jacobian_density
        ax.plot(x, rho, "-", color="C0", lw=1.5, label="theory: density (free probability)")
    if comparison.jacobian_mean is not None:
        ax.axvline(comparison.jacobian_mean, color="C0", ls="--", lw=1, label="theory: mean")
    ax.set_title("Jacobian: squared singular values (density)", fontsize=9)
    ax.set_xlabel(comparison.jacobian_note, fontsize=7)
    ax.legend(fontsize=7, frameon=False)
    shown = heights[heights > 0]
    if len(shown):
        ax.set_ylim(shown.min() / 3, shown.max() * 3)  # the curve's tails do not set it


def at_step_0(comparison: Comparison) -> Figure:
    """The diagnostics' figure at step 0 (of :func:`.network.from_pre_activations`)."""
    title = "step 0: mean-field theory (lines) beside the net (dots)"
    return figure(comparison, title, log_q=False)  # linear: a log axis doubles the drawing
