"""initlab's population launcher (Hydra finds launchers in the ``hydra_plugins`` namespace)."""
