"""The diagnostics callback: tags read back from the event files, step-0 numbers against the
initializers' formulas, saturation, switching it off, and where each layer is read."""

from __future__ import annotations

import math

import pytest
import torch
from conftest import QUICK, make_cfg
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from initlab.diagnostics.callback import ActivationRecorder, sites
from initlab.models.activations import get_activation
from initlab.models.builders import cnn, mlp
from initlab.training.run import run

STEPS_PER_EPOCH = -(-(1797 - 360 - 180) // 32)  # digits: 1257 training examples, batch 32


def events(run_dir) -> EventAccumulator:
    acc = EventAccumulator(str(run_dir), size_guidance={"scalars": 0, "histograms": 0, "images": 0})
    acc.Reload()
    return acc


def steps(acc: EventAccumulator, kind: str, tag: str) -> list[int]:
    read = {"scalars": acc.Scalars, "histograms": acc.Histograms, "images": acc.Images}[kind]
    return [e.step for e in read(tag)]


def promised(layers: int) -> tuple[list[str], list[str]]:
    scalars, histograms = [], []
    for k in range(1, layers + 1):
        scalars += [
            f"weights/layer{k}/std",
            f"activations/layer{k}/mean",
            f"activations/layer{k}/std",
            f"activations/layer{k}/saturation",
            f"gradients/layer{k}/norm",
        ]
        histograms += [f"weights/layer{k}", f"activations/layer{k}", f"gradients/layer{k}"]
    return scalars, histograms


def test_every_tag_at_step_0_every_n_steps_and_the_last(tmp_path):
    overrides = [*QUICK, "trainer.max_epochs=2", "diagnostics.every_n_steps=10"]
    record = run(make_cfg(*overrides), tmp_path, overrides)
    last = record["steps"] - 1
    assert last == 2 * STEPS_PER_EPOCH - 1
    points = sorted({*range(0, last + 1, 10), last})

    acc = events(tmp_path)
    scalars, histograms = promised(3)  # 64-256-256-10: three weight layers
    for tag in scalars:
        assert steps(acc, "scalars", tag) == points, tag
    for tag in histograms:
        assert steps(acc, "histograms", tag) == points, tag
    # Images: step 0, the first point of the second epoch, and the last step.
    for tag in ("diagnostics/activation_histograms", "diagnostics/depth"):
        assert steps(acc, "images", tag) == [0, 40, last], tag
        image = acc.Images(tag)[0]
        assert image.encoded_image_string.startswith(b"\x89PNG")
        assert image.width > 100 and image.height > 100


def test_default_is_about_ten_points_an_epoch(tmp_path):
    run(make_cfg(*QUICK), tmp_path)
    every = STEPS_PER_EPOCH // 10  # 40 steps -> every 4th
    expected = sorted({*range(0, STEPS_PER_EPOCH, every), STEPS_PER_EPOCH - 1})
    assert steps(events(tmp_path), "scalars", "weights/layer1/std") == expected


def _fans(in_features: int) -> list[tuple[int, int]]:
    return [(in_features, 256), (256, 256), (256, 10)]


# Step-0 std of a layer's weights as the initializer's formula gives it.
FORMULAS = {
    "he": lambda fan_in, fan_out: math.sqrt(2 / fan_in),
    "xavier": lambda fan_in, fan_out: math.sqrt(2 / (fan_in + fan_out)),  # U(±√(6/(in+out)))
    "lecun": lambda fan_in, fan_out: 1 / math.sqrt(fan_in),
    "uniform_rule": lambda fan_in, fan_out: 1 / math.sqrt(3 * fan_in),  # U(±1/√in)
    "small_normal": lambda fan_in, fan_out: 0.01,
}


@pytest.mark.parametrize("init", sorted(FORMULAS))
def test_step_0_weight_std_matches_the_formula(tmp_path, init):
    overrides = [*QUICK, f"init={init}", "+trainer.max_steps=1", "diagnostics.images=false"]
    run(make_cfg(*overrides), tmp_path)
    acc = events(tmp_path)
    for k, (fan_in, fan_out) in enumerate(_fans(64), 1):
        (event,) = acc.Scalars(f"weights/layer{k}/std")
        assert event.step == 0
        # The sample std of n ≥ 2560 draws is within ~1.4% (1/√(2n)) of the true std: 5% is
        # over three standard errors, tight enough to catch a wrong fan or gain (≥ 18%).
        assert event.value == pytest.approx(FORMULAS[init](fan_in, fan_out), rel=0.05)


@pytest.mark.parametrize("init,low,high", [("large_normal", 0.8, 1.0), ("xavier", 0.0, 0.05)])
def test_tanh_saturation_at_step_0(tmp_path, init, low, high):
    # 1000 unit-ish gaussian features into 1000 tanh units: large_normal (std 0.5) gives
    # pre-activations of std ≈ 16, so |tanh| > 0.99 (|z| > 2.65) for ~87% of units; Xavier
    # keeps them near unit variance, ~1% beyond 2.65.
    overrides = [
        "dataset=gaussian",
        "dataset.features=1000",
        "model.hidden=[1000]",
        "activation=tanh",
        f"init={init}",
        "+trainer.max_steps=1",
        "trainer.enable_checkpointing=false",
        "diagnostics.histograms=false",
        "diagnostics.images=false",
    ]
    run(make_cfg(*overrides), tmp_path)
    (event,) = events(tmp_path).Scalars("activations/layer1/saturation")
    assert low <= event.value <= high


def test_switched_off_logs_no_diagnostics(tmp_path):
    run(make_cfg(*QUICK, "diagnostics.enabled=false"), tmp_path)
    tags = events(tmp_path).Tags()
    assert not [t for t in tags["scalars"] if t.split("/")[0] in ("weights", "activations")]
    assert tags["histograms"] == [] and tags["images"] == []
    assert "train/loss" in tags["scalars"]


def test_only_the_chosen_statistics(tmp_path):
    overrides = [*QUICK, "diagnostics.stats=[gradients]", "diagnostics.histograms=false"]
    run(make_cfg(*overrides), tmp_path)
    tags = events(tmp_path).Tags()
    assert {t.split("/")[0] for t in tags["scalars"]} == {
        "gradients",
        "train",
        "val",
        "test",
        "epoch",
    }
    assert tags["histograms"] == []
    assert "diagnostics/depth" in tags["images"]  # the figures still come


def test_sites_read_after_the_activation_and_the_logits_last():
    relu = get_activation("relu")
    net = mlp((64,), 10, relu.make, hidden=[32, 16], batch_norm=True, dropout=0.5)
    found = sites(net, relu)
    assert [s.name for s in found] == ["layer1", "layer2", "layer3"]
    assert [type(s.output) for s in found] == [torch.nn.ReLU, torch.nn.ReLU, torch.nn.Linear]
    assert found[2].output is found[2].layer

    net = cnn((1, 28, 28), 10, relu.make)
    assert [type(s.layer).__name__ for s in sites(net, relu)] == [
        "Conv2d",
        "Conv2d",
        "Linear",
        "Linear",
    ]


def test_recorder_statistics_and_hooks_removed():
    tanh = get_activation("tanh")
    net = mlp((20,), 3, tanh.make, hidden=[50])
    x = torch.randn(400, 20)
    found = sites(net, tanh)
    with ActivationRecorder(found, keep=True) as rec:
        net(x)
    a = torch.tanh(net[1](x))  # layer1's activation, computed again by hand
    stats = rec.stats["layer1"]
    assert stats["mean"].item() == pytest.approx(a.mean().item(), abs=1e-6)
    assert stats["std"].item() == pytest.approx(a.std().item(), rel=1e-6)
    assert stats["saturation"].item() == pytest.approx((a.abs() > 0.99).float().mean().item())
    assert torch.equal(rec.outputs["layer2"], net(x).detach())  # the logits
    assert all(not s.output._forward_hooks for s in found)  # removed on exit


# --- mean-field theory at step 0 ---------------------------------------------------------------


def test_the_theory_figure_comes_at_step_0_only(tmp_path):
    run(make_cfg(*QUICK, "activation=tanh"), tmp_path)
    acc = events(tmp_path)
    assert steps(acc, "images", "diagnostics/theory") == [0]
    image = acc.Images("diagnostics/theory")[0]
    assert image.encoded_image_string.startswith(b"\x89PNG") and image.width > 400


@pytest.mark.parametrize("init", ["zeros", "ones"])
def test_a_net_that_carries_no_signal_still_runs_and_gets_its_theory_figure(tmp_path, init):
    """init=zeros: every pre-activation past the first layer is 0, so every correlation is 0/0
    (a division by zero once crashed the run, and its whole population)."""
    result = run(make_cfg(*QUICK, f"init={init}"), tmp_path)
    # it ran to the end: zeros' net is dead (every input the same logits), ones' is not
    assert result["status"] == {"zeros": "collapsed", "ones": "completed"}[init]
    assert steps(events(tmp_path), "images", "diagnostics/theory") == [0]


def test_a_net_whose_signal_overflows_at_step_0_diverges_and_says_why_there_is_no_theory(tmp_path):
    """60 layers of 64 from N(0, 10²): the pre-activations overflow float32 by the last layers;
    the run is a result (diverged), and diagnostics/theory says why there is no prediction."""
    overrides = ["model=deep_mlp", "model.depth=60", "model.width=64", "init=normal", "init.std=10"]
    result = run(make_cfg(*QUICK, *overrides), tmp_path)
    assert result["status"] == "diverged"
    acc = EventAccumulator(str(tmp_path), size_guidance={"tensors": 0, "images": 0})
    acc.Reload()
    (said,) = acc.Tensors("diagnostics/theory/text_summary")
    text = said.tensor_proto.string_val[0].decode()
    assert text.startswith("no prediction: the pre-activations at step 0 are not finite")


def test_the_theory_figure_can_be_switched_off(tmp_path):
    run(make_cfg(*QUICK, "diagnostics.theory=false"), tmp_path)
    assert "diagnostics/theory" not in events(tmp_path).Tags()["images"]
    assert "diagnostics/depth" in events(tmp_path).Tags()["images"]


def test_a_net_the_theory_does_not_describe_gets_a_line_saying_why(tmp_path):
    run(make_cfg(*QUICK, "model=cnn"), tmp_path)
    acc = EventAccumulator(str(tmp_path), size_guidance={"tensors": 0, "images": 0})
    acc.Reload()
    assert "diagnostics/theory" not in acc.Tags()["images"]
    (said,) = acc.Tensors("diagnostics/theory/text_summary")
    text = said.tensor_proto.string_val[0].decode()
    assert text.startswith("no prediction: it describes fully connected layers")
    assert "Conv2d (convolutions" in text


def test_the_step_0_comparison_follows_the_recorded_layers():
    """from_pre_activations on a wide tanh net's own pre-activations: the theory carried from
    layer 1 as measured meets the deeper layers."""
    from initlab.theory.network import from_pre_activations

    g = torch.Generator().manual_seed(0)
    width, sigma_w2, sigma_b2 = 1000, 1.76, 0.05
    h = torch.randn(16, width, generator=g, dtype=torch.float64)
    hs, ws, bs = [], [], []
    for k in range(5):
        w = torch.randn(width, width, generator=g, dtype=torch.float64) * (sigma_w2 / width) ** 0.5
        b = torch.randn(width, generator=g, dtype=torch.float64) * sigma_b2**0.5
        h = (torch.tanh(h) if k else h) @ w.T + b
        hs.append(h)
        ws.append(width * (w * w).mean().item())
        bs.append((b * b).mean().item())
    c = from_pre_activations(hs, ws, bs, torch.nn.Tanh())
    assert c.q_predicted[0] == pytest.approx(c.q_measured[0], rel=1e-12)  # it starts there
    for measured, predicted in zip(c.q_measured[1:], c.q_predicted[1:], strict=True):
        assert measured == pytest.approx(predicted, rel=0.06)
    for measured, predicted in zip(c.c_measured, c.c_predicted, strict=True):
        assert measured == pytest.approx(predicted, abs=0.05)


@pytest.mark.parametrize("orthogonal", [False, True])
def test_the_step_0_jacobian_from_the_recorded_layers_is_the_probes_exact_one(orthogonal):
    """The Jacobian from each layer's weights and recorded pre-activations is the one
    torch.func.jacrev gives the net itself (the probe's), to rounding; orthogonal hidden weights
    are recognised from the weights alone."""
    from initlab.theory.network import compare, from_pre_activations

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(20, 32))
    for _ in range(4):
        net.extend([torch.nn.Tanh(), torch.nn.Linear(32, 32)])
    net.extend([torch.nn.Tanh(), torch.nn.Linear(32, 10)])
    linears = [m for m in net if isinstance(m, torch.nn.Linear)]
    if orthogonal:
        for m in linears[1:-1]:
            torch.nn.init.orthogonal_(m.weight, gain=1.3)
    x = torch.randn(16, 20, dtype=torch.float64)
    kind = "orthogonal" if orthogonal else "gaussian"
    exact = compare(net, torch.nn.Tanh(), x, kind)
    hs, h = [], x
    for m in net.double():
        h = m(h)
        if isinstance(m, torch.nn.Linear):
            hs.append(h.detach())
    sigma_w2 = [m.in_features * (m.weight**2).mean().item() for m in linears]
    sigma_b2 = [(m.bias**2).mean().item() for m in linears]
    weights = [m.weight for m in linears]
    recorded = from_pre_activations(hs, sigma_w2, sigma_b2, torch.nn.Tanh(), weights)
    assert recorded.jacobian == pytest.approx(exact.jacobian, rel=1e-9, abs=1e-12)
    assert len(recorded.jacobian) == 4 * 32
    assert recorded.jacobian_note == f"∂h^5/∂h^1, {kind} weights, 4 inputs"
    assert recorded.jacobian_mean == pytest.approx(exact.jacobian_mean, rel=0.2)
    assert recorded.jacobian_variance == pytest.approx(exact.jacobian_variance, rel=0.2)


def test_the_theory_figure_at_step_0_has_the_jacobians_spectrum(tmp_path, monkeypatch):
    from initlab.diagnostics import callback

    drawn, original = [], callback.from_pre_activations

    def recorded(*args):
        drawn.append(original(*args))
        return drawn[-1]

    monkeypatch.setattr(callback, "from_pre_activations", recorded)
    overrides = ("activation=tanh", "model=deep_mlp", "model.depth=4", "model.width=16")
    run(make_cfg(*QUICK, *overrides), tmp_path)
    (compared,) = drawn
    assert len(compared.jacobian) == 4 * 16 and compared.jacobian_mean is not None
    assert compared.jacobian_note.startswith("∂h^4/∂h^1, gaussian weights")


def test_weights_read_as_orthogonal_only_when_their_singular_values_are_equal_and_not_zero():
    from initlab.theory.network import weight_kind

    square = torch.nn.init.orthogonal_(torch.empty(8, 8), gain=1.5)
    first, last = torch.randn(8, 4), torch.randn(3, 8)
    assert weight_kind([first, square, square, last]) == "orthogonal"
    assert weight_kind([first, square, torch.randn(8, 8), last]) == "gaussian"
    assert weight_kind([first, torch.zeros(8, 8), last]) == "gaussian"  # no signal at all
    assert weight_kind([first, last]) == "gaussian"  # no hidden-to-hidden weight
