"""The Hydra config tree: where it lives (:data:`CONF_DIR`, the repository's ``conf/``), the
resolvers its files use (:func:`register_resolvers`, called by each entry point before it
composes), :data:`GROUPS`, and :func:`compose`, the config a command line would run, for
Python."""

from __future__ import annotations

from pathlib import Path

import torch
from hydra import compose as compose_config
from hydra import initialize_config_dir
from omegaconf import DictConfig, OmegaConf

CONF_DIR = Path(__file__).resolve().parents[3] / "conf"
# The groups a run chooses one option of (conf/config.yaml's defaults), in the order a run's
# choices are told; ``experiment``, an overlay, comes on top.
GROUPS = (
    "init",
    "activation",
    "dataset",
    "model",
    "parametrization",
    "optimizer",
    "trainer",
    "logger",
)


def register_resolvers() -> None:
    """``${cuda_device_count:}``: the number of visible GPUs (``conf/hydra/launcher/gpus.yaml``
    runs as many jobs at a time); ``${config_groups:probe}``: :func:`config_groups` (``--help``).
    Idempotent."""
    OmegaConf.register_new_resolver("cuda_device_count", torch.cuda.device_count, replace=True)
    OmegaConf.register_new_resolver("config_groups", config_groups, replace=True)


def config_groups(*hidden: str) -> str:
    """``group: option, option, …`` per line, for each config group of ``conf/`` but
    ``hidden`` (the probe's group, in ``train.py --help``), then ``hydra/launcher``, with Hydra's
    own ``basic``. Hydra's ``$APP_CONFIG_GROUPS`` would also list the config store's internal
    groups (``init_defaults``)."""
    lines = []
    for folder in sorted(p for p in CONF_DIR.iterdir() if p.is_dir() and p.name != "hydra"):
        if folder.name not in hidden:
            options = sorted(f.stem for f in folder.glob("*.yaml"))
            lines.append(f"{folder.name}: {', '.join(options)}")
    launchers = sorted(
        ["basic", *(f.stem for f in (CONF_DIR / "hydra" / "launcher").glob("*.yaml"))]
    )
    lines.append(f"hydra/launcher: {', '.join(launchers)}")
    return "\n".join(lines)


def compose(*overrides: str, config_name: str = "config") -> DictConfig:
    """The config ``python train.py <overrides>`` would run (``config_name="probe"``: the
    probe's), without Hydra's own node: for a notebook or a script. A bad override raises
    Hydra's error; the values are checked where the config is used (``build``, ``run``)."""
    register_resolvers()
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        return compose_config(config_name, overrides=list(overrides))
