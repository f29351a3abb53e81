"""The activation probe: per-layer activation statistics of a freshly initialised net, no training.

``python -m initlab.probe init=small_normal activation=tanh model=deep_mlp`` (or
``initlab-probe ...``) composes ``conf/probe.yaml``: the training config plus a
``probe`` block. The net is built and initialised exactly as a training run would build it, one
batch goes through it, and for each weight layer the mean, std and saturated fraction of its
activation (after the nonlinearity that follows it; the logits for the last layer, DESIGN.md §7)
are written to ``probe.csv``, ``probe.md`` (also printed) and ``probe.png`` (the histograms in a
grid), in ``logs/probes/<time stamp>/``.

This is the classic experiment of cs231n's lecture 6 and of Deep Learning from Scratch §6.2.2
(``experiment=cs231n_probe``, ``experiment=dlfs_histograms``); ``tests/test_probe.py`` checks
the numbers against the published ones.
"""

from __future__ import annotations

import csv
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path

import hydra
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf
from torch import nn

from initlab.config.errors import ConfigError, call_with, positive_int
from initlab.config.hydra_conf import CONF_DIR, register_resolvers
from initlab.config.renamed import check_overrides
from initlab.diagnostics.callback import ActivationRecorder, sites
from initlab.diagnostics.figures import probe_figure
from initlab.initializers import apply
from initlab.initializers.calibration import calibrate
from initlab.runtime import console_noise
from initlab.runtime.markdown import markdown_table
from initlab.theory import comparison_figure
from initlab.theory.network import Comparison, compare, why_not
from initlab.training import record
from initlab.training.spec import RunSpec, ValidateBeforeRun, build, check_data, check_root

INPUTS = ("gaussian", "data")
COLUMNS = ("layer", "fan_in", "fan_out", "mean", "std", "saturation")  # probe.csv / probe.md


@dataclass(frozen=True)
class ProbeSettings:
    """The checked ``probe`` block (conf/probe/default.yaml)."""

    input: str  # gaussian | data
    batch_size: int
    bins: int  # per histogram


def _settings(input: str = "gaussian", batch_size: int = 1000, bins: int = 30) -> ProbeSettings:
    if input not in INPUTS:
        raise ConfigError("input", input, f"must be one of {', '.join(INPUTS)}")
    return ProbeSettings(input, positive_int("batch_size", batch_size), positive_int("bins", bins))


def probe_settings(cfg: DictConfig) -> ProbeSettings:
    """The ``probe`` block of ``cfg`` (the defaults where it has none), checked: a bad value or
    an unknown key raises :class:`ConfigError` naming ``probe.<key>`` and the value."""
    params = OmegaConf.to_container(cfg.get("probe") or {}, resolve=True)
    try:
        return call_with(_settings, params)
    except ConfigError as err:
        raise err.under("probe") from None


def _inputs(spec: RunSpec, settings: ProbeSettings) -> torch.Tensor:
    """The probe's batch, (batch_size, *in_shape).

    ``gaussian``: N(0, 1) entries from a generator seeded by ``seed + 1``. The weights come
    from one seeded by ``seed`` (:func:`initlab.initializers.apply`), so inputs and weights are
    never the same random stream: with one seed for both, a gaussian initializer's first layer
    would hold the inputs again, number for number, up to scale.
    ``data``: the first ``batch_size`` examples of the training split as training sees them
    (after the seeded train/val split and ``dataset.normalize``).
    """
    if settings.input == "gaussian":
        generator = torch.Generator().manual_seed(spec.seed + 1)
        shape = (settings.batch_size, *spec.datamodule.dataset.in_shape)
        return torch.randn(shape, generator=generator)
    spec.datamodule.setup("fit")
    x, _ = spec.datamodule.splits["train"]  # (N, *in_shape)
    if settings.batch_size > len(x):
        raise ConfigError(
            "probe.batch_size", settings.batch_size, f"must be ≤ the {len(x)} training examples"
        )
    return x[: settings.batch_size]


def _initialised(cfg: DictConfig) -> tuple[RunSpec, nn.Module, list, torch.Tensor]:
    """The configured net, initialised (and calibrated) as a run would, in evaluation mode but
    for batch norm (the batch's own statistics); its plan; the probe's batch."""
    check_root(cfg, ("probe",))
    settings = probe_settings(cfg)
    spec = build(cfg, local_devices=False)  # the probe runs on the CPU, whatever the trainer
    net = spec.make_net()
    layers = apply(spec.initializer, net, spec.seed, spec.datamodule.dataset.in_shape)
    x = _inputs(spec, settings)
    calibrate(spec.initializer, net, x, spec.seed)  # data-dependent inits measure on this batch
    net.eval()
    for module in net.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.train()
    return spec, net, layers, x


def probe(cfg: DictConfig) -> list[dict]:
    """Initialise the configured net and push one batch through it.

    Returns one row per weight block with an output of its own (a Linear or a convolution; a
    recurrent layer's last gate block; an attention's output projection), from the input:
    ``layer`` ("layerK"), that block's ``fan_in`` and ``fan_out`` (ints), ``mean``, ``std``,
    ``saturation`` (floats: the activation's statistics over the whole batch and every unit)
    and ``values``, the activation itself ((batch, units), (batch, C, H, W) for a conv layer)
    for the histograms. A bad config raises
    :class:`ConfigError` before any compute (a ``data`` batch larger than the training split:
    once the data is read).

    Dropout is off (the question is what the initializer does, not a random mask); batch norm
    normalises with the batch's own statistics, as on the first training step.
    """
    return _rows(*_initialised(cfg))


def _rows(spec: RunSpec, net: nn.Module, layers: list, x: torch.Tensor) -> list[dict]:
    in_shape = spec.datamodule.dataset.in_shape
    with (
        torch.no_grad(),
        ActivationRecorder(sites(net, spec.activation, in_shape), keep=True) as recorder,
    ):
        net(x)
    return [
        {
            "layer": lp.layer,
            "fan_in": lp.fan_in,
            "fan_out": lp.fan_out,
            **{stat: float(v) for stat, v in recorder.stats[lp.layer].items()},
            "values": recorder.outputs[lp.layer],
        }
        for lp in layers
        if lp.layer in recorder.stats  # blocks with an output of their own (sites)
    ]


def theory(cfg: DictConfig) -> Comparison | str:
    """Mean-field theory beside the same net and batch (:mod:`initlab.theory.network`): the
    comparison, or why the theory does not describe this net."""
    return _theory(cfg, *_initialised(cfg))


def _theory(cfg, spec: RunSpec, net: nn.Module, layers: list, x: torch.Tensor):
    reason = why_not(net, type(spec.activation.make()))
    if reason is not None:
        return f"no theory for model={cfg.model.name}: {reason}"
    hidden = [lp.weight.method for lp in layers[1:-1]]
    weights = "orthogonal" if hidden and set(hidden) == {"orthogonal"} else "gaussian"
    return compare(net, spec.activation.make(), x, weights)


THEORY_COLUMNS = ("layer", "q measured", "q theory", "c measured", "c theory")


def theory_markdown(comparison: Comparison | str) -> str:
    """The comparison as a table and a line on the Jacobian (or the line saying why none)."""
    if isinstance(comparison, str):
        return comparison
    c = comparison
    rows = zip(c.layers, c.q_measured, c.q_predicted, c.c_measured, c.c_predicted, strict=True)
    lines = [markdown_table(THEORY_COLUMNS, rows)]
    if c.jacobian:
        measured = torch.tensor(c.jacobian, dtype=torch.float64)
        lines.append(
            f"\nJacobian {c.jacobian_note}: squared singular values measured mean "
            f"{measured.mean().item():.4g}, variance {measured.var().item():.4g}"
            + (
                f"; theory mean {c.jacobian_mean:.4g}, variance {c.jacobian_variance:.4g}"
                if c.jacobian_mean is not None
                else ""
            )
        )
    elif c.jacobian_note:
        lines.append(f"\n{c.jacobian_note}")
    return "\n".join(lines)


def write_theory(comparison: Comparison | str, folder: Path, title: str = "") -> str:
    """``theory.md`` (and, for a comparison, ``theory.png``) in ``folder``; return the text."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    text = theory_markdown(comparison)
    (folder / "theory.md").write_text(f"# {title}\n\n{text}\n" if title else f"{text}\n")
    if not isinstance(comparison, str):
        comparison_figure.figure(comparison, title).savefig(folder / "theory.png")
    return text


def markdown(rows: list[dict]) -> str:
    """The rows' :data:`COLUMNS` as a markdown table, floats to 4 significant digits."""
    return markdown_table(COLUMNS, ([row[c] for c in COLUMNS] for row in rows))


def write(rows: list[dict], folder: Path, title: str = "", bins: int = 30, words: str = "") -> str:
    """Write ``probe.csv`` (full precision), ``probe.md`` (``title`` and the table) and
    ``probe.png`` (one histogram per layer, in a grid, headed by ``words``, else ``title``)
    into ``folder``; return the table."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "probe.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, COLUMNS, extrasaction="ignore")  # leaves out "values"
        writer.writeheader()
        writer.writerows(rows)
    table = markdown(rows)
    (folder / "probe.md").write_text(f"# {title}\n\n{table}\n" if title else f"{table}\n")
    outputs = {row["layer"]: row["values"] for row in rows}
    probe_figure(outputs, title=words or title, bins=bins).savefig(folder / "probe.png")
    return table


def describe(cfg: DictConfig) -> str:
    """One line naming what was probed, for the table's heading and the figure's title."""
    settings = probe_settings(cfg)
    return (
        f"init={cfg.init.name} activation={cfg.activation.name} model={cfg.model.name} "
        f"dataset={cfg.dataset.name} probe.input={settings.input} "
        f"probe.batch_size={settings.batch_size} seed={cfg.seed}"
    )


def caption(cfg: DictConfig) -> str:
    """What was probed, in words, for the figure's heading: ``small_normal init, tanh,
    deep_mlp: each layer's activations before training (1000 unit-gaussian inputs, seed 0)``."""
    settings = probe_settings(cfg)
    inputs = (
        f"{settings.batch_size} unit-gaussian inputs"
        if settings.input == "gaussian"
        else f"{settings.batch_size} {cfg.dataset.name} training examples"
    )
    return (
        f"{cfg.init.name} init, {cfg.activation.name}, {cfg.model.name}: each layer's "
        f"activations before training ({inputs}, seed {cfg.seed})"
    )


class ValidateProbeBeforeRun(ValidateBeforeRun):
    """:class:`~initlab.training.spec.ValidateBeforeRun` plus the ``probe`` block: a bad value exits
    with status 2 and one line naming it, before Hydra creates the run folder."""

    def check(self, config: DictConfig) -> RunSpec:
        check_root(config, extra=("probe",))
        settings = probe_settings(config)
        spec = build(config, local_devices=False)  # the trainer's devices are never used here
        if settings.input == "data":
            check_data(spec)
        if settings.input == "data" and spec.n_train and settings.batch_size > spec.n_train:
            raise ConfigError(
                "probe.batch_size",
                settings.batch_size,
                f"must be ≤ the {spec.n_train} training examples",
            )
        return spec


def main() -> None:
    """``initlab-probe [overrides]`` / ``python -m initlab.probe [overrides]``."""
    console_noise.silence()
    register_resolvers()
    check_overrides(sys.argv[1:])
    _probe_job()


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="probe")
def _probe_job(cfg: DictConfig) -> None:
    """One probe, or one job of a sweep. Its record (``metrics.json``) says how it ended, as a
    training run's does, so a probe sweep's summary and its rerun count it: ``completed``, or
    ``failed`` with the error (shown on stderr; a single probe then exits 1, a sweep goes on)."""
    hydra_cfg = HydraConfig.get()
    folder = Path(hydra_cfg.runtime.output_dir)
    done = record.new(cfg, list(hydra_cfg.overrides.task))
    try:
        title = describe(cfg)
        built = _initialised(cfg)  # once, for the table and the theory
        table = write(_rows(*built), folder, title, probe_settings(cfg).bins, caption(cfg))
        beside = write_theory(_theory(cfg, *built), folder, f"mean-field theory beside {title}")
    except Exception as err:
        record.write(folder, {**done, "status": "failed", "error": f"{type(err).__name__}: {err}"})
        if hydra_cfg.mode != RunMode.MULTIRUN:
            raise
        traceback.print_exc()
        print(f"failed: probe folder {folder}", file=sys.stderr)
        return
    record.write(folder, {**done, "status": "completed"})
    print(f"{title}\n\n{table}\n\nmean-field theory:\n{beside}\n\nprobe folder: {folder}")


if __name__ == "__main__":
    main()
