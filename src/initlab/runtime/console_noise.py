"""What of PyTorch Lightning's and Hydra's console output initlab leaves out, and why. The entry
points call :func:`silence` (importing initlab changes nothing); a notebook may call it too.

- The "💡 Tip: … litlogger / litmodels" lines advertise Lightning's cloud services on every
  ``Trainer``: a new user's first screen should be their run.
- "GPU available: …", "TPU available: …", "HPU available: …" and "`Trainer.fit` stopped: …"
  come with every ``Trainer``, so a sweep printed them for every job and buried its own lines
  (one per job: how it ended); the run's own lines say where it ran and how it ended.
- ``pytorch_lightning.utilities._pytree`` calls a torch API that newer torch deprecates: the
  warning is Lightning's to fix, and says nothing about the run.
- "The ``srun`` command is available on your system but is not used": Lightning's hint for
  ``srun python …`` jobs. initlab reaches SLURM through submitit
  (``hydra/launcher=submitit_slurm``), and a machine with SLURM's client tools installed would
  otherwise print it before every run.
- Hydra's "'hydra/launcher/joblib' is validated against ConfigStore schema with the same name …
  deprecated": ``conf/hydra/launcher/{joblib,submitit_slurm}.yaml`` are the plugins' own configs
  with initlab's defaults, named like the plugins' schemas on purpose so that ``hydra/launcher=
  joblib`` means what Hydra's docs say it means, and checked against those schemas. Hydra 1.3
  still does exactly that; the warning came three times per sweep and once per job.
"""

from __future__ import annotations

import logging
import warnings

DROPPED = (
    "💡 Tip:",
    "GPU available:",
    "TPU available:",
    "HPU available:",
    "`Trainer.fit` stopped:",
)


class _DropBanners(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(DROPPED)


def silence() -> None:
    """Install the filters (idempotent)."""
    logger = logging.getLogger("pytorch_lightning.utilities.rank_zero")
    if not any(isinstance(f, _DropBanners) for f in logger.filters):
        logger.addFilter(_DropBanners())
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)")
    warnings.filterwarnings("ignore", message=r"The `srun` command is available")
    warnings.filterwarnings("ignore", message=r"(?s).*is validated against ConfigStore schema")
