"""The probe's figure reads at README width (~800 px): one panel per layer in a grid, tall
enough to read, with axes; the hidden layers share one x range and the logits, on their own,
say so; the title in words."""

from __future__ import annotations

import torch

from initlab.diagnostics.figures import probe_figure


def cs231n_like() -> dict[str, torch.Tensor]:
    """The lecture's 0.01·randn picture: ten tanh layers shrinking to 0, logits at ±2.5e-7."""
    g = torch.Generator().manual_seed(0)
    out = {
        f"layer{k}": torch.tanh(torch.randn(1000, 50, generator=g) * 0.2**k) for k in range(1, 11)
    }
    out["layer11"] = torch.randn(1000, 10, generator=g) * 2.5e-7
    return out


def test_the_probe_figure_reads_at_readme_width():
    title = "small_normal init, tanh, deep_mlp: each layer's activations before training"
    fig = probe_figure(cs231n_like(), title=title)
    width, height = fig.get_size_inches() * fig.dpi
    assert 700 <= width <= 900 and height >= 400  # was 1200 × 130
    panels = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in panels] == [
        *(f"layer {k}" for k in range(1, 11)),
        "layer 11: logits, own x range",
    ]
    hidden, logits = panels[:-1], panels[-1]
    assert len({ax.get_xlim() for ax in hidden}) == 1  # one shared x range
    assert logits.get_xlim() != hidden[0].get_xlim()
    assert logits.get_xlim()[1] < 1e-5  # its own, ±2.5e-7
    assert fig.get_suptitle().startswith(title) and "=" not in fig.get_suptitle()
    assert "layers 1-10 share the x range" in fig.get_suptitle()
    assert {ax.get_xlabel() for ax in panels} == {"activation value", ""}
    assert panels[-1].get_xlabel() == "activation value"  # each column's lowest panel
    assert panels[0].get_ylabel() == "share of values"
    assert all(ax.patches or ax.collections for ax in panels)  # a histogram in each


def test_a_layer_without_finite_values_says_so():
    outputs = {"layer1": torch.full((10, 4), float("nan")), "layer2": torch.randn(10, 3)}
    fig = probe_figure(outputs)
    first = fig.axes[0]
    assert "no finite values" in " ".join(t.get_text() for t in first.texts)


def test_the_tensorboard_depth_figure_labels_both_axes():
    from initlab.diagnostics.figures import depth_figure

    ax = depth_figure({"layer1": 1.0, "layer2": 0.5}, {"layer1": 0.1, "layer2": 0.2}).axes[0]
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("layer", "std, norm (log scale)")
