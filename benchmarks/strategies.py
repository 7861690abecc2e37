"""Design strategies compared by :mod:`benchmarks.evaluate`.

A strategy is anything with a ``name`` and an ``act(obs, rng) -> action`` method, where ``obs`` is one
environment's observation ``(N, d, 3)`` and the action is ``(d, 2)`` in ``[-1, 1]`` (column 0 > 0 marks
a target, column 1 its value). ``rng`` is the strategy's own generator, seeded per evaluation episode so
that every strategy is evaluated on paired, reproducible episodes. Adding your own strategy::

    class RoundRobin:
        name = "RoundRobin"

        def act(self, obs, rng):
            d = obs.shape[1]
            t = int(obs[:, 0, 2].sum())  # rows filled so far
            action = -np.ones((d, 2), np.float32)
            action[t % d] = (1.0, 0.0)
            return action
"""

from __future__ import annotations

from typing import Protocol

import numpy as np


class Strategy(Protocol):
    """What :func:`benchmarks.evaluate.evaluate` needs from a design strategy."""

    name: str

    def act(self, obs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Action ``(d, 2)`` for the observation ``(N, d, 3)``."""
        ...


class RandomStrategy:
    """Uniform over the action box: each variable is a target w.p. 1/2 with a value ~ U(-1, 1)."""

    name = "Random"

    def act(self, obs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return rng.uniform(-1.0, 1.0, size=(obs.shape[1], 2)).astype(np.float32)


class ObservationalStrategy:
    """No intervention: every step draws wild-type / observational samples."""

    name = "Observational"

    def act(self, obs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        action = np.zeros((obs.shape[1], 2), dtype=np.float32)
        action[:, 0] = -1.0
        return action


class PolicyStrategy:
    """A trained ``caasl_agents`` policy, run at any number of variables ``d``.

    Args:
        model: a loaded SB3 model (e.g. from ``caasl_agents.load_pretrained``).
        name: label in the results.
        deterministic: use the mean action of the Gaussian-tanh policy; otherwise sample designs with
            the episode's ``rng`` (reproducible and paired like the other strategies).
    """

    def __init__(self, model, name: str = "CAASL", deterministic: bool = True) -> None:
        self.model = model
        self.name = name
        self.deterministic = deterministic

    def act(self, obs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        from caasl_agents import predict_any_d

        return predict_any_d(self.model, obs, deterministic=self.deterministic, rng=rng)
