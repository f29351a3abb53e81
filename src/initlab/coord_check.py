"""The coordinate check (Yang et al., 2021, "Tensor Programs V", §5 and Figure 5; ``mup``'s
``get_coord_data``): a net's activations over its first training steps, at several widths,
under SP and under μP.

``python -m initlab.coord_check [--widths 64 128 256 512 1024] [--steps 4] [--seeds 3]
[overrides …]`` builds the run the overrides describe (``model=…``, ``init=…``,
``optimizer.lr=…``, ``parametrization.base_width=…``) at each width, trains it a few steps on
the same batches, and records the mean absolute value of each layer's activation (``layerK``,
after its nonlinearity; the logits for the last; an attention's output) and of each attention's
logits, q·k times its scale (``layerK.scores``, K its output projection), in each step's
forward pass, step 0 being the initialised net. Under μP no curve grows with the width (the
logits at step 0 and the attention logits start √m smaller, by design, the latter rising
towards flat as training correlates q and k); under SP (with Adam) the logits and the layers
near them grow with it, and a learning rate tuned on
a narrow net blows up a wide one. A user runs it on their own model (``model=custom …
parametrization.width_key=…``) before trusting μP. It writes ``coord_check.csv`` and
``coord_check.png`` (a row per parametrization, a column per step, width on the x axis) and
prints, per parametrization and step, the steepest slope of log |activation| against log width
over the layers, and the logits' slope.
"""

from __future__ import annotations

import argparse
import csv
import math
import sys
from datetime import datetime
from pathlib import Path

import matplotlib
import numpy as np
import torch
import torch.nn.functional as F
from hydra.errors import HydraException
from omegaconf import DictConfig, OmegaConf, open_dict
from torch import nn

from initlab.config.errors import ConfigError
from initlab.config.hydra_conf import compose
from initlab.diagnostics.sites import sites
from initlab.initializers import apply
from initlab.initializers.residual_schemes import lr_multipliers
from initlab.models.transformer_blocks import heads, logit_scale
from initlab.parametrization.parametrized import optimizer_params
from initlab.parametrization.widths import at_width
from initlab.training.spec import build, check_data

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after the backend is chosen)

PARAMETRIZATIONS = ("sp", "mup")
# More lines than this get a colour bar of the depth instead of a legend.
LEGEND_LINES = 12
COLUMNS = ("parametrization", "width", "seed", "step", "layer", "mean_abs")


def _compose(overrides: list[str], parametrization: str) -> DictConfig:
    """The run of ``overrides`` under ``parametrization``: ``parametrization.*`` overrides go
    to μP only."""
    own = [o for o in overrides if not o.lstrip("+").startswith("parametrization")]
    if parametrization == "mup":
        own += [o for o in overrides if o.lstrip("+").startswith("parametrization.")]
    return compose(*own, f"parametrization={parametrization}")


def width_keys(overrides: list[str]) -> tuple[str, ...]:
    """The model's width keys, from the run checked under μP (which refuses, as a run would,
    what μP does not define: a model, an init, a custom model without its width key)."""
    return build(_compose(overrides, "mup")).parametrization.width_key


def _config(overrides: list[str], parametrization: str, keys, width: int) -> DictConfig:
    """The run at ``width``: each of the model's width keys (each entry of a list key) set."""
    cfg = _compose(overrides, parametrization)
    params = OmegaConf.to_container(cfg.model, resolve=True)
    with open_dict(cfg):
        for key, value in at_width(params, keys, width).items():
            if key in keys:
                cfg.model[key] = value
    return cfg


def measure(
    overrides: list[str],
    widths: list[int],
    steps: int = 4,
    seeds: int = 3,
    batch_size: int = 64,
    parametrizations=PARAMETRIZATIONS,
) -> list[dict]:
    """One row per (parametrization, width, seed, step, layer): the layer's mean |activation|
    in that step's forward pass (step 0: before any update). Every net of a seed trains on the
    same batches, drawn from the training split by a generator seeded by the seed."""
    keys = width_keys(overrides)
    rows = []
    data = None
    for parametrization in parametrizations:
        for width in widths:
            cfg = _config(overrides, parametrization, keys, width)
            for seed in range(seeds):
                with open_dict(cfg):
                    cfg.seed = seed
                spec = build(cfg)
                if data is None:
                    check_data(spec)
                    spec.datamodule.setup("fit")
                    data = spec.datamodule.splits["train"]
                rows += _train(spec, data, steps, batch_size, parametrization, width, seed)
    return rows


def _first(output):
    """A layer's output: an attention's or a recurrent layer's first (its sequence)."""
    return output[0] if isinstance(output, tuple) else output


def _scores(m: nn.MultiheadAttention, query: torch.Tensor, key: torch.Tensor) -> torch.Tensor:
    """The attention logits of ``m`` for ``query`` and ``key``: q·k per head, times its scale
    (an :class:`~initlab.models.Attention`'s, else torch's 1/√d)."""
    with torch.no_grad():
        if query.dim() == 3 and not m.batch_first:
            query, key = query.transpose(0, 1), key.transpose(0, 1)
        q, k = heads(m, (query, key))
        return q @ k.transpose(-1, -2) * logit_scale(m)


def _query_key(args: tuple, kwargs: dict) -> tuple[torch.Tensor, torch.Tensor]:
    """An attention call's query and key, passed by position or by name."""
    both = [*args[:2]]
    for name in ("query", "key")[len(both) :]:
        both.append(kwargs[name])
    return both[0], both[1]


def _train(spec, data, steps, batch_size, parametrization, width, seed) -> list[dict]:
    in_shape = spec.datamodule.dataset.in_shape
    net = spec.make_net()
    apply(spec.initializer, net, seed, in_shape)
    lr, slow = spec.optimizer.keywords["lr"], lr_multipliers(net)
    optimizer = spec.optimizer(
        optimizer_params(spec.parametrization, net.named_parameters(), lr, slow)
    )
    x, y = data
    order = torch.randperm(len(y), generator=torch.Generator().manual_seed(seed))
    seen: dict[str, torch.Tensor] = {}
    found = [site for site in sites(net, spec.activation, in_shape) if site.output is not None]
    hooks = [
        site.output.register_forward_hook(
            lambda _m, _i, out, name=site.name: seen.__setitem__(
                name, _first(out).detach().abs().mean()
            )
        )
        for site in found
    ]
    hooks += [  # an attention's logits, q·k times its scale: μP's 1/d keeps them flat
        site.layer.register_forward_pre_hook(
            lambda m, args, kwargs, name=f"{site.name}.scores": seen.__setitem__(
                name, _scores(m, *_query_key(args, kwargs)).abs().mean()
            ),
            with_kwargs=True,
        )
        for site in found
        if isinstance(site.layer, nn.MultiheadAttention)
    ]
    rows = []
    net.train()
    try:
        for step in range(steps):
            batch = order[step * batch_size : (step + 1) * batch_size]
            loss = F.cross_entropy(net(x[batch]), y[batch])
            for layer, value in seen.items():
                rows.append(
                    dict(
                        parametrization=parametrization,
                        width=width,
                        seed=seed,
                        step=step,
                        layer=layer,
                        mean_abs=float(value),
                    )
                )
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    finally:
        for hook in hooks:
            hook.remove()
    return rows


def curves(rows: list[dict]) -> dict[tuple[str, int, str], tuple[list[int], list[float]]]:
    """Per (parametrization, step, layer): the widths and the mean |activation| over seeds."""
    sums: dict[tuple, dict[int, list[float]]] = {}
    for r in rows:
        key = (r["parametrization"], r["step"], r["layer"])
        sums.setdefault(key, {}).setdefault(r["width"], []).append(r["mean_abs"])
    return {
        key: (sorted(by), [float(np.mean(by[w])) for w in sorted(by)]) for key, by in sums.items()
    }


def slope(widths: list[int], values: list[float]) -> float:
    """The least-squares slope of log |activation| against log width (0: flat; 0.5: as √width)."""
    if any(not math.isfinite(v) or v <= 0 for v in values):
        return math.inf
    return float(np.polyfit(np.log(widths), np.log(values), 1)[0])


def _order(layer: str) -> tuple[int, str]:
    """``layerK`` by K; an attention's ``layerK.scores`` just before its ``layerK``."""
    number, _, part = layer.removeprefix("layer").partition(".")
    return int(number), "" if part else "~"


def summary(rows: list[dict]) -> list[dict]:
    """Per (parametrization, step): the steepest layer's slope (attention logits included) and
    the logits' slope."""
    found = curves(rows)
    layers = sorted({k[2] for k in found}, key=_order)
    out = []
    for parametrization in dict.fromkeys(k[0] for k in found):
        for step in sorted({k[1] for k in found if k[0] == parametrization}):
            slopes = {
                layer: slope(*found[(parametrization, step, layer)])
                for layer in layers
                if (parametrization, step, layer) in found
            }
            steepest = max(slopes, key=lambda layer: abs(slopes[layer]))
            out.append(
                dict(
                    parametrization=parametrization,
                    step=step,
                    steepest_layer=steepest,
                    steepest_slope=slopes[steepest],
                    logits_slope=slopes[layers[-1]],
                )
            )
    return out


def figure(rows: list[dict], title: str = "") -> plt.Figure:
    """A row per parametrization, a column per step: mean |activation| against width, a line
    per layer (darker: deeper; an attention's logits dashed), both axes logarithmic. A legend
    names each layer where there are few; a deep net's gets a colour bar of the depth."""
    found = curves(rows)
    parametrizations = list(dict.fromkeys(k[0] for k in found))
    steps = sorted({k[1] for k in found})
    layers = sorted({k[2] for k in found}, key=_order)
    fig, axes = plt.subplots(
        len(parametrizations),
        len(steps),
        figsize=(3 * len(steps) + 1.5, 2.8 * len(parametrizations)),
        sharex=True,
        sharey="row",
        squeeze=False,
    )
    depth = plt.Normalize(1, max(_order(layer)[0] for layer in layers))
    colors = plt.cm.viridis_r
    for i, parametrization in enumerate(parametrizations):
        for j, step in enumerate(steps):
            ax = axes[i][j]
            for layer in layers:
                if (parametrization, step, layer) in found:
                    widths, values = found[(parametrization, step, layer)]
                    scores = layer.endswith(".scores")
                    ax.plot(
                        widths,
                        values,
                        marker="o",
                        ms=3,
                        ls="--" if scores else "-",
                        color=colors(0.15 + 0.85 * depth(_order(layer)[0])),
                        label=layer.replace(".scores", " attention logits"),
                    )
            ax.set_xscale("log", base=2)
            ax.set_yscale("log")
            ax.set_title(f"{'μP' if parametrization == 'mup' else 'SP'}, step {step}", fontsize=9)
            if i == len(parametrizations) - 1:
                ax.set_xlabel("width")
            if j == 0:
                ax.set_ylabel("mean |activation|")
    if len(layers) <= LEGEND_LINES:
        handles, labels = axes[0][-1].get_legend_handles_labels()
        fig.legend(handles, labels, fontsize=7, loc="center right")
    else:
        bar = fig.colorbar(
            plt.cm.ScalarMappable(depth, colors.resampled(256)), ax=axes, fraction=0.03, pad=0.02
        )
        bar.set_label("layer (dashed: an attention's logits)", fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    if len(layers) <= LEGEND_LINES:
        fig.tight_layout(rect=(0, 0, 1 - 1.5 / fig.get_figwidth(), 1))
    return fig


def write(rows: list[dict], path: Path) -> None:
    """``rows`` (:func:`measure`'s) as ``coord_check.csv``: a row per (parametrization, width,
    seed, step, layer)."""
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, COLUMNS)
        writer.writeheader()
        writer.writerows(rows)


def read(path: Path) -> list[dict]:
    """The rows :func:`write` wrote, with their numbers as numbers."""
    with open(path, newline="") as f:
        return [
            {
                **r,
                "width": int(r["width"]),
                "seed": int(r["seed"]),
                "step": int(r["step"]),
                "mean_abs": float(r["mean_abs"]),
            }
            for r in csv.DictReader(f)
        ]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="initlab-coord-check",
        description="Each layer's mean |activation| over the first training steps, at several "
        "widths, under SP and μP (Yang et al., 2021): flat in width under μP.",
    )
    parser.add_argument("overrides", nargs="*", help="the run, as for train.py (model=vit …)")
    parser.add_argument("--widths", type=int, nargs="+", default=[64, 128, 256, 512, 1024])
    parser.add_argument("--steps", type=int, default=4, help="forward passes (step 0: at init)")
    parser.add_argument("--seeds", type=int, default=3, help="seeds averaged")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--out", type=Path, help="default: logs/coord_check/<time stamp>")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    for key in ("steps", "seeds", "batch_size"):
        if getattr(args, key) < 1:
            print(
                f"initlab: --{key.replace('_', '-')}={getattr(args, key)}: must be ≥ 1",
                file=sys.stderr,
            )
            return 2
    if len(args.widths) < 2 or min(args.widths) < 1:
        print(
            f"initlab: --widths={args.widths}: needs two or more positive widths", file=sys.stderr
        )
        return 2
    if any(o.lstrip("+").split("=")[0] == "parametrization" for o in args.overrides):
        print(
            "initlab: the coordinate check runs both sp and mup: leave parametrization= out",
            file=sys.stderr,
        )
        return 2
    try:
        rows = measure(args.overrides, sorted(args.widths), args.steps, args.seeds, args.batch_size)
    except (ConfigError, HydraException) as err:
        said = " ".join(str(err).split())  # one line, as train.py says it
        print(f"initlab: invalid config: {said}", file=sys.stderr)
        return 2
    out = args.out or Path("logs/coord_check") / datetime.now().strftime("%Y-%m-%d_%H-%M-%S")
    out.mkdir(parents=True, exist_ok=True)
    write(rows, out / "coord_check.csv")
    title = (
        f"coordinate check: {' '.join(args.overrides) or 'the default run'}, "
        f"at widths {min(args.widths)} to {max(args.widths)}"
    )
    figure(rows, title).savefig(out / "coord_check.png", dpi=110)
    print(f"{'':4}{'step':>5}  {'steepest layer':>15}  {'its slope':>9}  {'logits slope':>12}")
    for s in summary(rows):
        name = "μP" if s["parametrization"] == "mup" else "SP"
        print(
            f"{name:4}{s['step']:>5}  {s['steepest_layer']:>15}  {s['steepest_slope']:>9.3f}  "
            f"{s['logits_slope']:>12.3f}"
        )
    print("slope: of log mean |activation| against log width (0: flat)")
    print(f"wrote {out / 'coord_check.csv'} and {out / 'coord_check.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
