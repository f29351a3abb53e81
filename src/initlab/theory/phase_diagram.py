"""The phase diagram of an activation: χ₁ = 1 (the edge of chaos) and the correlation depth scale
ξ_c over (σ_w², σ_b²), after Poole et al. (2016, fig. 2) and Schoenholz et al. (2017, fig. 1),
with the ``init`` group's presets placed on it (:mod:`.presets`).

The colour is ξ_c on a log scale (capped: it diverges on the edge of chaos, where the line is);
where the signal grows without bound (ReLU past σ_w² = 2) there is no fixed point, and the
region is left grey.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from initlab.theory import presets
from initlab.theory.mean_field import MeanField, critical_sigma_w2

SIGMA_W2 = (0.1, 4.0)
SIGMA_B2 = (0.0, 0.3)
XI_CAP = 1000.0  # ξ_c is drawn up to this


def grid(activation: str, columns: int = 40, rows: int = 16) -> dict[str, np.ndarray]:
    """σ_w², σ_b² and ξ_c (nan: unbounded) on a ``rows`` × ``columns`` grid."""
    sw2 = np.linspace(*SIGMA_W2, columns)
    sb2 = np.linspace(*SIGMA_B2, rows)
    xi = np.full((rows, columns), np.nan)
    for i, b in enumerate(sb2):
        for j, w in enumerate(sw2):
            point = MeanField(activation, float(w), float(b)).point()
            if point.phase != "unbounded":
                xi[i, j] = min(point.xi_c, XI_CAP)
    return {"sigma_w2": sw2, "sigma_b2": sb2, "xi_c": xi}


def figure(activation: str, columns: int = 40, rows: int = 16) -> Figure:
    """The phase diagram of ``activation`` (a name of the ``activation`` group)."""
    g = grid(activation, columns, rows)
    fig = Figure(figsize=(6.4, 4.4), dpi=100)
    ax = fig.add_axes((0.1, 0.3, 0.68, 0.64))
    ax.set_facecolor("0.85")  # unbounded: no fixed point
    shown = ax.pcolormesh(
        g["sigma_w2"], g["sigma_b2"], np.log10(g["xi_c"]), shading="nearest", cmap="viridis"
    )
    bar = fig.colorbar(shown, ax=ax, fraction=0.05, pad=0.02)
    bar.set_label("log₁₀ ξ_c (correlation depth scale)")
    edge = [critical_sigma_w2(activation, float(b)) for b in g["sigma_b2"]]
    ax.plot(edge, g["sigma_b2"], "w-", lw=2, label="edge of chaos (χ₁ = 1)")
    for k, preset in enumerate(presets.points(activation)):
        marker = "s" if preset.weights == "orthogonal" else "o"
        ax.plot(
            preset.sigma_w2,
            preset.sigma_b2,
            marker,
            ms=8 - k,
            mec="k",
            mfc=f"C{k + 1}",
            clip_on=False,
            label=preset.label,
        )
    ax.set_xlim(*SIGMA_W2)
    ax.set_ylim(SIGMA_B2[0] - 0.01, SIGMA_B2[1])
    ax.set_xlabel("σ_w² (weight variance × fan_in)")
    ax.set_ylabel("σ_b² (bias variance)")
    finite = [e for e in edge if not math.isnan(e)]
    if finite:
        ax.text(SIGMA_W2[0] + 0.1, SIGMA_B2[1] * 0.5, "ordered", color="w", fontsize=9)
        right = MeanField(activation, SIGMA_W2[1] - 0.1, SIGMA_B2[1] / 2).phase
        if max(finite) < SIGMA_W2[1] - 0.5:
            said = "unbounded:\nno fixed point" if right == "unbounded" else right
            ax.text(SIGMA_W2[1] - 0.1, SIGMA_B2[1] * 0.5, said, ha="right", fontsize=9)
    ax.set_title(f"{activation}: mean-field phase diagram, presets at bias 0", fontsize=9)
    ax.legend(loc="upper left", bbox_to_anchor=(0, -0.14), fontsize=6.5, ncol=2, frameon=False)
    return fig


def save(activation: str, path: Path, columns: int = 40, rows: int = 16) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure(activation, columns, rows).savefig(path)
    return path
