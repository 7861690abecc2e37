"""Pure, batched simulators: graph priors, linear SCMs, SERGIO and its technical noise.

Every function takes an explicit ``numpy.random.Generator`` first and works on a leading batch
axis ``B`` of independent causal models.
"""
