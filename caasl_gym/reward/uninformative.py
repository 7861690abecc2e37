"""A reward model that ignores experiments which measure nothing: rows where every variable is intervened on.

Under a perfect intervention (a SERGIO knockout, a linear ``do``) a targeted variable no longer depends on its
parents, so a row in which *every* variable is targeted has the same likelihood under every graph, and the
exact posterior does not move on it. The shipped ``sergio`` network does: it raises the score by +0.049 per
such experiment, more than an observational batch (``python -m benchmarks.null_experiment``,
``benchmarks/results/null_experiment.md``). A policy trained on that reward can earn by knocking out every
gene. :class:`IgnoreFullInterventions` wraps any reward model and treats those rows as padding, so such an
experiment's reward is exactly 0 and every other history's posterior is the wrapped model's::

    import gymnasium as gym
    from caasl_gym.reward import IgnoreFullInterventions, load_reward_model

    env = gym.make("SergioKnockout-v0", reward_model=IgnoreFullInterventions(load_reward_model("sergio")))
    env = gym.make("SergioKnockout-v0", reward_model="sergio-guarded")  # the same, by name (JSON env kwargs)

It is right for perfect interventions only. Under knockdowns (``SergioKnockout-OOD-Knockdown-v0``) a targeted
gene still depends on its parents, and under noisy interventions (``*-NoisyIntervention-v0``) the recorded
targets are the intended ones, some of which did not happen: there such rows carry information, and this
wrapper would discard it.
"""

from __future__ import annotations

from typing import Any

import numpy as np


class IgnoreFullInterventions:
    """``model`` with every row that intervenes on all variables masked out (see the module docstring).

    A history whose every row is such a row keeps them (the wrapped model needs a row to give a posterior).

    Raises:
        ValueError: ``model`` has no ``edge_probabilities(values, intervened, mask)``.
    """

    def __init__(self, model: Any) -> None:
        if not callable(getattr(model, "edge_probabilities", None)):
            raise ValueError(f"model needs edge_probabilities(values, intervened, mask), got {type(model).__name__}")
        self.model = model

    @property
    def domain(self) -> Any:
        """The wrapped model's domain (``None`` if it has none)."""
        return getattr(self.model, "domain", None)

    def edge_probabilities(
        self, values: np.ndarray, intervened: np.ndarray, mask: np.ndarray | None = None
    ) -> np.ndarray:
        """The wrapped model's ``(B, d, d)`` edge probabilities of ``values`` ``(B, n, d)`` with ``intervened``
        ``(B, n, d)``, ``mask`` ``(B, n)`` (None: every row filled) and every fully intervened row as padding.

        Raises:
            ValueError: ``intervened`` or ``mask`` of the wrong shape (others: as the wrapped model raises).
        """
        values, intervened = np.asarray(values), np.asarray(intervened)
        if intervened.ndim != 3 or intervened.shape != values.shape:
            raise ValueError(
                f"intervened must have the shape of values (B, n, d), got {intervened.shape} and {values.shape}"
            )
        filled = np.ones(intervened.shape[:2], dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
        if filled.shape != intervened.shape[:2]:
            raise ValueError(f"mask must have shape {intervened.shape[:2]} (B, n), got {filled.shape}")
        informative = filled & ~(intervened > 0).all(axis=-1)
        keep = np.where(informative.any(axis=1, keepdims=True), informative, filled)  # (B, n)
        return self.model.edge_probabilities(values, intervened, keep)
