"""Train and test one configuration: ``python train.py init=he activation=relu`` (Hydra)."""

from initlab.signals import Signalled
from initlab.train import main

if __name__ == "__main__":
    try:
        main()
    except Signalled as stop:  # recorded and reported: now end by the signal itself
        stop.die()
