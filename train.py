"""Train and test one configuration: ``python train.py init=he activation=relu`` (Hydra)."""

from initlab.train import main

if __name__ == "__main__":
    main()
