"""Training: a config turned into a run, and the run from fit to record.

Modules:

- ``spec``: compose → validate → :class:`RunSpec`, every group checked before any data is read;
- ``dry_run``: ``dry_run=true``: what a run would do (its choices, its init plan), nothing run;
- ``init_module``: the LightningModule whose ``setup`` applies the initializer, once;
- ``optimizers``: the ``optimizer`` registry;
- ``run``: one run, from its folder to its record (the repository's ``train.py`` calls it);
- ``lifecycle``: what every run does around its fit, once: resume point, logger, trainer,
  record from ``running`` to how it ended (a run, a DDP rank, a population member);
- ``module_base``: what the run's and the population's LightningModules share;
- ``held_losses``: each step's loss kept on the device, read at logging points only;
- ``record``: ``metrics.json``: a run's status and metrics, written whole;
- ``collapse``: a run whose predictions no longer depend on its input ends ``collapsed``.

May import: runtime, config, models, data, initializers, parametrization, diagnostics.
"""
