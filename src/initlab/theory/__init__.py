"""The theory of signal propagation at initialization, to set beside what initlab measures.

For a wide fully connected net with weights of variance σ_w²/fan_in and biases of variance σ_b²,
mean-field theory (Poole et al., 2016; Schoenholz et al., 2017) predicts each layer's
pre-activation variance and the correlation of two inputs, the phase (ordered, critical,
chaotic) and the depth over which information survives; free probability (Pennington et al.,
2017) predicts the spectrum of the input-output Jacobian's singular values. Every expectation is a
Gaussian integral of the activation module itself, so any elementwise activation works.

Modules:

- ``gaussian``: the Gaussian expectations, one and two dimensional, by Simpson's rule;
- ``mean_field``: the length and correlation maps, their fixed points, χ₁, the depth scales,
  the phase and the edge of chaos;
- ``jacobian``: the first two moments of the input-output Jacobian's squared singular values,
  for Gaussian or orthogonal weights;
- ``jacobian_density``: their whole density, by free probability (S-transforms);
- ``network``: a built net's own prediction beside its measurement (q^l, c^l, the Jacobian's
  spectrum), or why the theory does not describe it;
- ``comparison_figure``: that comparison drawn;
- ``presets``: where the ``init`` group's closed-form presets sit in the (σ_w², σ_b²) plane;
- ``phase_diagram``: the figure of χ₁ = 1 and ξ_c over (σ_w², σ_b²), with the presets on it;
- ``command``: ``python -m initlab.theory``, one ``name = value`` a line (``__main__`` runs it).

May import: runtime, config, models, initializers.
"""
