"""The process and its folders: what every layer may use.

Modules:

- ``folder_lock``: one writer per run folder (an ``flock`` the kernel drops when its holder dies);
- ``signals``: SIGTERM, SIGINT, SIGHUP end a run as ``failed`` and the process by that signal;
- ``devices``: one job per GPU, each claiming a free one for as long as it runs;
- ``console_noise``: what of Lightning's and Hydra's console output is left out, and why;
- ``markdown``: markdown tables, for TensorBoard's text plugin, the probe and the report;
- ``private_api``: every private API of Lightning, Hydra and TensorBoard initlab reaches, and why.

May import: nothing.
"""
