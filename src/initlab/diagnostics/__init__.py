"""Diagnostics: what the initializer does inside the net, per ``layerK``, in TensorBoard.

Modules:

- ``callback``: :class:`Diagnostics`, the Lightning callback that logs weights, activations and
  gradients per layer, from step 0;
- ``sites``: where ``layerK``'s statistics are read (its weight block, the activation after it);
- ``figures``: the histograms and depth figures, for TensorBoard and the probe's PNG;
- ``offload``: the helper process that draws them and writes them while training goes on.

May import: runtime, config, models, initializers, theory.
"""
