"""initlab: a PyTorch Lightning + Hydra template for studying weight initialization."""
