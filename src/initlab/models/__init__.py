"""Models: the builders (``model=`` options), their residual and transformer blocks, and the
activations.

Modules:

- ``builders``: the ``model`` registry: MLP, deep MLP, CNN, ResNet, ViT, RNN, your own class;
- ``activations``: the ``activation`` registry: name → module, and each one's gain;
- ``residual_blocks``: a residual block's branch and shortcut, and the scalars some inits add;
- ``transformer_blocks``: the patch transformer's patches, positions and encoder layers.

The builders are importable from here (``model._target_=initlab.models.mlp``), and
:class:`Attention`, the attention layer μP can scale, for a custom model.

May import: config.
"""

from initlab.models.builders import MODELS, cnn, custom, deep_mlp, mlp, resnet, rnn, vit
from initlab.models.transformer_blocks import Attention

__all__ = ["MODELS", "Attention", "cnn", "custom", "deep_mlp", "mlp", "resnet", "rnn", "vit"]
