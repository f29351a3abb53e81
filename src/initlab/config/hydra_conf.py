"""The Hydra config tree: where it lives (:data:`CONF_DIR`, the repository's ``conf/``) and the
resolvers its files use (:func:`register_resolvers`, called by each entry point before it
composes)."""

from __future__ import annotations

from pathlib import Path

import torch
from omegaconf import OmegaConf

CONF_DIR = Path(__file__).resolve().parents[3] / "conf"


def register_resolvers() -> None:
    """``${cuda_device_count:}``: the number of visible GPUs (``conf/hydra/launcher/gpus.yaml``
    runs as many jobs at a time). Idempotent."""
    OmegaConf.register_new_resolver("cuda_device_count", torch.cuda.device_count, replace=True)
