"""initlab's Hydra sweeper (``conf/hydra/sweeper/initlab.yaml``). Hydra loads sweepers only from
the ``hydra_plugins`` namespace package, so it lives here rather than in ``initlab``."""
