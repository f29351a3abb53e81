"""Training: a config's run spec, the LightningModule, the optimizers, the run and its record."""
