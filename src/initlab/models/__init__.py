"""Models: the builders (``model=`` options), their residual and transformer blocks, and the
activations.

The builders are importable from here (``model._target_=initlab.models.mlp``)."""

from initlab.models.builders import MODELS, cnn, custom, deep_mlp, mlp, resnet, rnn, vit

__all__ = ["MODELS", "cnn", "custom", "deep_mlp", "mlp", "resnet", "rnn", "vit"]
