"""Population training: the jobs of a sweep that differ only in ``seed`` and ``init`` train
together as one stacked model (``torch.func``), each with exactly its own sequential results.

Modules:

- ``groups``: which jobs form a population;
- ``stack``: the members' nets as one stacked net;
- ``dropout``: each member's dropout masks, drawn as its own run draws them;
- ``member_data``: each member's own splits and batch order;
- ``population_module``: the LightningModule of the stacked members;
- ``compiled``: its training objective through ``torch.compile`` (``hydra.launcher.compile``);
- ``member_checkpoints``: each member's checkpoint, as its own run writes it;
- ``population_run``: one population, from its members' folders to their records;
- ``workers``: the sweep's populations side by side, one worker process each.

``hydra/launcher=population`` (``src/hydra_plugins/initlab_population``) runs a sweep this way.

May import: runtime, config, models, data, initializers, parametrization, diagnostics, training.
"""
