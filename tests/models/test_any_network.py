"""Recurrent and attention networks through the whole run: validation on the meta device, the
plan in forward order, per-block diagnostics from step 0, a completed record."""

from __future__ import annotations

import json
import textwrap

import pytest
from conftest import QUICK, make_cfg
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from initlab.training.run import run

NETS = textwrap.dedent(
    """
    import torch
    from torch import nn


    class RowLSTM(nn.Module):
        '''An image read row by row (8 steps of 8 pixels for digits); the head registered
        first, before the recurrent body it follows.'''

        def __init__(self, in_shape, num_classes, activation, hidden=16):
            super().__init__()
            self.head = nn.Linear(hidden, num_classes)
            self.rnn = nn.LSTM(in_shape[-1], hidden, batch_first=True)
            self.act = activation()

        def forward(self, x):
            out, _ = self.rnn(x.flatten(1, -2))
            return self.head(self.act(out[:, -1]))


    class RowAttention(nn.Module):
        '''Rows embedded, one self-attention block with a layer norm, mean-pooled.'''

        def __init__(self, in_shape, num_classes, activation, width=16):
            super().__init__()
            self.embed = nn.Linear(in_shape[-1], width)
            self.attn = nn.MultiheadAttention(width, 2, batch_first=True)
            self.norm = nn.LayerNorm(width)
            self.act = activation()
            self.head = nn.Linear(width, num_classes)

        def forward(self, x):
            h = self.act(self.embed(x.flatten(1, -2)))
            a, _ = self.attn(h, h, h)
            return self.head(self.norm(h + a).mean(1))
    """
)

GATES = [f"{w} gate {g}" for w in ("ih", "hh") for g in "ifgo"]


@pytest.fixture
def nets(tmp_path, monkeypatch):
    (tmp_path / "row_nets.py").write_text(NETS)
    monkeypatch.syspath_prepend(str(tmp_path))


def _train(tmp_path, target: str, *extra: str) -> tuple[dict, dict, EventAccumulator]:
    overrides = [
        *QUICK,
        "model=custom",
        f"model._target_=row_nets.{target}",
        "diagnostics.every_n_steps=5",
        *extra,
    ]
    run_dir = tmp_path / target
    run(make_cfg(*overrides), run_dir, overrides)
    record = json.loads((run_dir / "metrics.json").read_text())
    plan = json.loads((run_dir / "init_plan.json").read_text())
    acc = EventAccumulator(str(run_dir), size_guidance={"scalars": 0, "histograms": 0})
    acc.Reload()
    return record, plan, acc


def test_an_lstm_trains_with_every_gate_block_in_the_plan_and_diagnostics(nets, tmp_path):
    record, plan, acc = _train(tmp_path, "RowLSTM", "init=he", "init.recurrent=orthogonal")
    assert record["status"] == "completed"
    rows = plan["layers"]
    # forward order: the LSTM's 8 gate blocks, then the head (registered first)
    assert [(r["layer"], r["module"]) for r in rows] == [
        *((f"layer{k}", "rnn") for k in range(1, 9)),
        ("layer9", "head"),
    ]
    assert [r["kind"].split(" ", 2)[-1] for r in rows[:8]] == [
        f"{g} ({8 if g.startswith('ih') else 16}→16)" for g in GATES
    ]
    assert [r["method"] for r in rows] == ["normal"] * 4 + ["orthogonal"] * 4 + ["normal"]
    tags = set(acc.Tags()["scalars"])
    for k in range(1, 10):  # every block: its weights and gradients
        assert {f"weights/layer{k}/std", f"gradients/layer{k}/norm"} <= tags
    # activations where a block has an output: the LSTM's last block (after the activation
    # module that follows it) and the logits
    assert {t for t in tags if t.startswith("activations/")} == {
        f"activations/layer{k}/{s}" for k in (8, 9) for s in ("mean", "std", "saturation")
    }
    assert acc.Scalars("weights/layer5/std")[0].step == 0
    # an orthogonal 16×16 block: every entry's std is 1/4
    assert acc.Scalars("weights/layer5/std")[0].value == pytest.approx(0.25, rel=0.02)


def test_attention_trains_with_q_k_v_and_out_as_four_layers(nets, tmp_path):
    record, plan, acc = _train(tmp_path, "RowAttention", "init=xavier")
    assert record["status"] == "completed"
    rows = plan["layers"]
    assert [(r["module"], r["tensor"]) for r in rows] == [
        ("embed", "weight"),
        ("attn", "in_proj_weight[0:16]"),
        ("attn", "in_proj_weight[16:32]"),
        ("attn", "in_proj_weight[32:48]"),
        ("attn", "out_proj.weight"),
        ("head", "weight"),
    ]
    assert [r["fan_in"] for r in rows] == [8, 16, 16, 16, 16, 16]
    assert [n["module"] for n in plan["norm_layers"]] == ["norm"]
    tags = set(acc.Tags()["scalars"])
    assert {f"weights/layer{k}/std" for k in range(1, 7)} <= tags
    assert {t.split("/")[1] for t in tags if t.startswith("activations/")} == {
        "layer1",
        "layer5",
        "layer6",
    }
