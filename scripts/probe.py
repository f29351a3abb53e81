"""Activation statistics of a freshly initialised net, no training:
``python scripts/probe.py experiment=cs231n_probe init=lecun`` (Hydra; calls initlab.probe)."""

from initlab.probe import main

if __name__ == "__main__":
    main()
