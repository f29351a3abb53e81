"""What a config may say, checked before anything runs.

Modules:

- ``hydra_conf``: where the config tree lives, and the resolvers its files use;
- ``errors``: :class:`ConfigError` (names the key and the value) and the value checks;
- ``registry``: :class:`Registry`, a config group's options by name (one lookup, one error);
- ``renamed``: options that were renamed, refused with a pointer to the new name;
- ``trainer_settings``: which ``pl.Trainer`` arguments the ``trainer`` group may set;
- ``launcher_settings``: a sweep's launcher and sweeper settings, checked with its grid.

The whole config is turned into a checked run by :mod:`initlab.training.spec`, which knows the
models, data and initializers this subpackage sits below.

May import: runtime.
"""
