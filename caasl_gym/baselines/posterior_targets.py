"""Targets chosen from the environment's own posterior: a cheap, non-privileged heuristic baseline.

At every step the designer asks the id's reward model ``q(A | h)`` for the edge probabilities ``p_ij``
(``i -> j``) of the history so far, scores each variable ``j`` by a statistic of its incoming edges and
targets the ``k`` variables with the largest score divided by ``1 + c_j`` (``c_j`` the history's rows that
already targeted ``j``, as the policies' ``coverage`` design, :mod:`caasl_agents.redq.designs`), with values
``U(-1, 1)`` from the episode's generator. Criteria:

* ``"parents"``: ``sum_i p_ij``, the expected number of parents;
* ``"uncertainty"``: ``sum_i p_ij (1 - p_ij)``, the posterior variance of its parent set.

It needs no likelihood and no simulator, so it runs on every id (SERGIO included, where the likelihood-based
baselines cannot), one posterior per step. It reads only the history: a method, not a reference.

    from caasl_gym.baselines.posterior_targets import PosteriorTargets
    from caasl_gym.registration import config_for

    designer = PosteriorTargets.for_config(config_for("SergioKnockout-v0"))
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from caasl_gym.envs.scoring import resolve_reward_model

CRITERIA = ("parents", "uncertainty")
"""Valid ``criterion`` values (see the module docstring)."""


def history_posterior(model: Any, obs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The edge probabilities ``(B, d, d)`` (``i -> j``) that ``model`` gives the histories ``obs`` ``(B, N, d, 3)``,
    and how many filled rows targeted each variable ``(B, d)``."""
    obs = np.asarray(obs)
    filled = obs[:, :, 0, 2] > 0  # (B, N)
    probs = model.edge_probabilities(obs[..., 0], obs[..., 1] > 0, filled)
    return probs, (obs[..., 1] * obs[..., 2]).sum(axis=1)


class PosteriorTargets:
    """``k`` targets per step by a posterior statistic of each variable's parents (see the module docstring).

    Args:
        model: an object with ``edge_probabilities(values, intervened, mask)`` (a reward model).
        criterion: one of :data:`CRITERIA`.
        k: targets per step (at most ``d``).
        name: label in the results (default ``Posterior-<criterion>``).

    Raises:
        ValueError: an unknown criterion, ``k < 1``, or a model without ``edge_probabilities``.
    """

    def __init__(self, model: Any, criterion: str = "parents", k: int = 1, name: str | None = None) -> None:
        if criterion not in CRITERIA:
            raise ValueError(f"unknown criterion {criterion!r}; valid choices: {', '.join(CRITERIA)}")
        if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
            raise ValueError(f"k must be an integer >= 1, got {k!r}")
        if not callable(getattr(model, "edge_probabilities", None)):
            raise ValueError(f"model needs edge_probabilities(values, intervened, mask), got {type(model).__name__}")
        self.model = model
        self.criterion = criterion
        self.k = int(k)
        self.name = name or f"Posterior-{criterion}"

    @classmethod
    def for_config(cls, config: Any, **kwargs: Any) -> PosteriorTargets:
        """The designer on ``config``'s reward model (the env's own posterior)."""
        return cls(resolve_reward_model(config.reward_model, config=config), **kwargs)

    def scores(self, obs: np.ndarray) -> np.ndarray:
        """Priorities ``(B, d)`` of the histories ``obs`` ``(B, N, d, 3)``: the criterion over ``1 + c_j``."""
        return self.scores_from(*history_posterior(self.model, obs))

    def scores_from(self, probs: np.ndarray, counts: np.ndarray) -> np.ndarray:
        """Priorities ``(B, d)`` from edge probabilities ``probs`` ``(B, d, d)`` (``i -> j``) and the filled rows
        that targeted each variable ``counts`` ``(B, d)``, for a caller that has the posterior already."""
        stat = probs if self.criterion == "parents" else probs * (1.0 - probs)
        return stat.sum(axis=1) / (1.0 + counts)

    def act(self, obs: np.ndarray, rngs: Sequence[np.random.Generator]) -> np.ndarray:
        """Actions ``(B, d, 2)`` for the histories ``obs`` ``(B, N, d, 3)``; copy ``b`` draws from ``rngs[b]``.

        Raises:
            ValueError: ``k`` above the number of variables.
        """
        return self.design(self.scores(obs), rngs)

    def design(self, scores: np.ndarray, rngs: Sequence[np.random.Generator]) -> np.ndarray:
        """Actions ``(B, d, 2)``: the ``k`` variables of largest ``scores`` ``(B, d)`` (:meth:`scores`), values
        from ``rngs``.

        Raises:
            ValueError: ``k`` above the number of variables.
        """
        batch, d = scores.shape
        if self.k > d:
            raise ValueError(f"k = {self.k} targets per step exceeds the {d} variables")
        order = np.argsort(-scores, axis=1, kind="stable")[:, : self.k]  # ties: the lower index
        actions = -np.ones((batch, d, 2), dtype=np.float32)
        np.put_along_axis(actions[..., 0], order, 1.0, axis=1)
        actions[..., 1] = np.stack([rng.uniform(-1.0, 1.0, size=d) for rng in rngs])
        return actions
