"""Population training: the jobs of a sweep that differ only in ``seed`` and ``init`` train
together as one stacked model (``torch.func``), each with exactly its own sequential results.

- :mod:`.groups`: which jobs form a population;
- :mod:`.stack`: the members' nets as one stacked net; :mod:`.dropout`: each member's masks;
- :mod:`.data`: each member's own splits and batch order;
- :mod:`.module`: the LightningModule; :mod:`.checkpoint`: each member's checkpoint;
- :mod:`.run`: one population, from its members' folders to their records.

``hydra/launcher=population`` (``src/hydra_plugins/initlab_population``) runs a sweep this way.
"""
