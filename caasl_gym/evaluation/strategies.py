"""Design strategies: what proposes the next experiment from the history alone.

A strategy has a ``name`` and a batched ``act(obs, rngs) -> actions``: ``obs`` ``(B, N, d, 3)`` holds
``B`` histories (channel 0 the values, 1 the intervention indicator, 2 one for filled rows), and the
actions ``(B, d, 2)`` in ``[-1, 1]`` mark variable ``i`` of copy ``b`` as a target iff
``actions[b, i, 0] > 0``, with value ``actions[b, i, 1]``. ``rngs[b]`` is episode ``b``'s own generator
(:func:`~caasl_gym.evaluation.seeds.strategy_rngs`): copy ``b`` draws only from it, so a strategy gives
the same designs whether its episodes run one by one or in a batch. A strategy never sees the hidden
model; one that needs the environment's configuration (a prior, the value scale) takes it when it is
built. Slow strategies (a posterior per step) may loop over ``b``; the rollout reports wall time per
design. Adding one::

    class RoundRobin:
        name = "RoundRobin"

        def act(self, obs, rngs):
            B, _, d, _ = obs.shape
            t = int(obs[0, :, 0, 2].sum())  # rows filled so far (the same in every copy)
            action = -np.ones((B, d, 2), np.float32)
            action[:, t % d] = (1.0, 0.0)
            return action
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class Strategy(Protocol):
    """What :func:`~caasl_gym.evaluation.rollout.rollout` needs from a design strategy."""

    name: str

    def act(self, obs: np.ndarray, rngs: Sequence[np.random.Generator]) -> np.ndarray:
        """Actions ``(B, d, 2)`` for the histories ``obs`` ``(B, N, d, 3)``; copy ``b`` draws from ``rngs[b]``."""
        ...


class RandomStrategy:
    """Uniform over the action box: each variable is a target w.p. 1/2 with a value ~ U(-1, 1).

    Args:
        target_probability: ``q``, each variable's probability of being a target (independently); at the
            default 1/2 the actions are the uniform draws themselves. Otherwise the same draws ``u`` decide:
            variable ``i`` is a target iff ``u_i0 > 1 - 2q`` (column 0 becomes ``+1`` or ``-1``), with value
            ``u_i1``, so the rates of one episode are nested (a target at ``q`` stays one at every ``q' > q``).
        name: label in the results (default ``Random``, ``Random(q=...)``, or ``Random-extreme`` with
            ``extreme_values`` at q = 1/2).
        extreme_values: every value is ``sign(u_i1)``, ±1 (the ends of the value range), instead of ``u_i1``.
            The targets are those of the plain rule on the same draws, so, paired on the same episodes, the
            difference to ``Random`` is the effect of the values' size alone (on the linear domain, where
            policies learn values near ±1; knockouts have no value, so on SERGIO it is ``Random``).

    Raises:
        ValueError: ``target_probability`` outside ``[0, 1]``.
    """

    def __init__(self, target_probability: float = 0.5, name: str | None = None, extreme_values: bool = False) -> None:
        q = float(target_probability)
        if not 0.0 <= q <= 1.0:
            raise ValueError(f"target_probability must be in [0, 1], got {target_probability}")
        self.target_probability = q
        self.extreme_values = bool(extreme_values)
        default = "Random" if q == 0.5 else f"Random(q={q:g})"
        self.name = name or (default.replace("Random", "Random-extreme", 1) if extreme_values else default)

    def act(self, obs: np.ndarray, rngs: Sequence[np.random.Generator]) -> np.ndarray:
        d = obs.shape[2]
        actions = np.stack([rng.uniform(-1.0, 1.0, size=(d, 2)) for rng in rngs]).astype(np.float32)
        if self.target_probability != 0.5:
            actions[..., 0] = np.where(actions[..., 0] > 1.0 - 2.0 * self.target_probability, 1.0, -1.0)
        if self.extreme_values:
            actions[..., 1:] = np.where(actions[..., 1:] >= 0.0, 1.0, -1.0)
        return actions


class RoundRobinStrategy:
    """One target per step, in turn: the variable targeted in the fewest rows of the history so far (ties to the
    lower index), with a value ~ U(-1, 1) from the episode's generator. With no targets in the initial rows this
    visits variables ``0, 1, ..., d - 1, 0, ...`` (the round-robin single knockouts of the paper's baselines)."""

    name = "RoundRobin"

    def act(self, obs: np.ndarray, rngs: Sequence[np.random.Generator]) -> np.ndarray:
        counts = (obs[..., 1] * obs[..., 2]).sum(axis=1)  # (B, d) rows that targeted each variable
        chosen = counts.argmin(axis=1)  # (B,) the first of the least targeted
        actions = -np.ones((*counts.shape, 2), dtype=np.float32)
        actions[np.arange(len(chosen)), chosen, 0] = 1.0
        actions[..., 1] = np.stack([rng.uniform(-1.0, 1.0, size=counts.shape[1]) for rng in rngs])
        return actions


class ObservationalStrategy:
    """No intervention: every step draws wild-type / observational samples."""

    name = "Observational"

    def act(self, obs: np.ndarray, rngs: Sequence[np.random.Generator]) -> np.ndarray:
        action = np.zeros((obs.shape[0], obs.shape[2], 2), dtype=np.float32)
        action[..., 0] = -1.0
        return action
