"""Designs by a learned one-step value: score candidate target sets with a :class:`ValueNet`, play the best.

At each step the designer draws its candidates (the observational design, every single target and ``n_random``
random sets of ``2..max_size`` variables), asks the :class:`ValueNet` for their values given the history and its
reward model's edge posterior, and plays the best (:class:`ValueDesigner`). It reads the history only; the reward
model is part of the method, as it is of the environments.

Two action modes, as a Stable-Baselines3 policy's:

* sampled (``deterministic=False``): the random candidates come from the designer's generator (or, in a
  batched rollout, from each episode's own), so designs vary between calls;
* deterministic: the random candidates come from a generator seeded by the history's bytes
  (:func:`history_generator`), so a history always gets the same design, on any machine.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch as th

from caasl_agents.common.histories import history_batch
from caasl_agents.value.network import ValueEnsemble, ValueNet, gene_statistics
from caasl_gym.baselines.posterior_targets import history_posterior


def random_sets(rng: np.random.Generator, d: int, n: int, max_size: int) -> np.ndarray:
    """``(n, d)`` bool target sets whose sizes are uniform on ``2..max_size``, variables uniform given the size."""
    sets = np.zeros((n, d), dtype=bool)
    for row, size in zip(sets, rng.integers(2, max_size + 1, size=n)):
        row[rng.choice(d, size=size, replace=False)] = True
    return sets


def candidate_sets(rng: np.random.Generator, d: int, n_random: int, max_size: int) -> np.ndarray:
    """``(1 + d + n_random, d)`` bool: the observational design, each single target, ``n_random`` random sets
    (none when ``max_size < 2``: no set of two or more targets is allowed)."""
    n_random = n_random if max_size >= 2 else 0
    return np.concatenate([np.zeros((1, d), bool), np.eye(d, dtype=bool), random_sets(rng, d, n_random, max_size)])


def as_actions(sets: np.ndarray, rng: np.random.Generator, value: float | None = None) -> np.ndarray:
    """Actions ``(..., d, 2)`` float32 of target sets ``(..., d)``: +-1 targets, values ``U(-1, 1)`` from ``rng``, or
    ``value`` for every variable when given (the linear domain's designs, as its greedy teacher's)."""
    d = sets.shape[-1]
    values = np.broadcast_to(rng.uniform(-1.0, 1.0, size=d) if value is None else np.full(d, value), sets.shape)
    return np.stack([np.where(sets, 1.0, -1.0), values], axis=-1).astype(np.float32)


def history_posterior64(model: Any, obs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`~caasl_gym.baselines.posterior_targets.history_posterior` in float64: edge probabilities
    ``(B, d, d)`` and targeting rows per variable ``(B, d)`` of the histories ``obs`` ``(B, N, d, 3)``."""
    probs, counts = history_posterior(model, obs)
    return np.asarray(probs, dtype=np.float64), np.asarray(counts, dtype=np.float64)


def history_generator(history: np.ndarray) -> np.random.Generator:
    """A generator seeded by the sha256 of one history ``(N, d, 3)`` as float32: the same history always gives
    the same draws (the deterministic mode's candidates)."""
    digest = hashlib.sha256(np.ascontiguousarray(history, dtype=np.float32).tobytes()).digest()
    return np.random.default_rng(np.frombuffer(digest, dtype=np.uint32))


def forward_path(value_of: Callable[[np.ndarray], np.ndarray], start: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Grow the target sets ``start`` ``(B, d)`` (the same number of targets in every row) one variable at a time,
    each time by the variable whose set ``value_of`` ranks highest, until every variable is a target.

    Args:
        value_of: values ``(B, K)`` of candidate sets ``(B, K, d)`` bool.
        start: the sets to grow ``(B, d)`` bool.

    Returns:
        the set after each round ``(B, R, d)`` and its value ``(B, R)``, ``R = d - |start|``.
    """
    current, sets, values = np.asarray(start, dtype=bool).copy(), [], []
    batch, d = current.shape
    rows = np.arange(batch)
    while not current.all():
        free = np.flatnonzero(~current[0]).size
        index = np.nonzero(~current)[1].reshape(batch, free)  # (B, free): each row's free variables
        grown = np.repeat(current[:, None], free, axis=1)  # (B, free, d)
        grown[rows[:, None], np.arange(free)[None], index] = True
        value = np.asarray(value_of(grown))
        best = value.argmax(1)
        current = grown[rows, best]
        sets.append(current)
        values.append(value[rows, best])
    if not sets:
        return np.zeros((batch, 0, d), bool), np.zeros((batch, 0))
    return np.stack(sets, 1), np.stack(values, 1)


class ValueDesigner:
    """Plays the candidate with the largest :class:`ValueNet` value (module docstring).

    A design strategy of :func:`~caasl_gym.evaluation.rollout.rollout` (``act``) and, for any other loop, a policy
    with Stable-Baselines3's ``predict``.

    Args:
        net: the trained value network, or an ensemble of them.
        model: the reward model whose edge posterior the network reads (``edge_probabilities(values,
            intervened, mask)``): the environment's own.
        n_random: random candidate sets per step.
        max_size: the largest random set (default ``d``).
        full_sets: whether a random set may target every variable; False caps the sets at ``d - 1`` targets
            at any ``d`` (on SERGIO, knocking out every gene is the null experiment: its rows are all zero).
        native_d: the number of variables the network was trained at; at any other ``d`` the designer plays
            uniform random targets (each variable with probability 1/2, from the same generators as the
            candidates), as the clones' ``zero_shot_targets="uniform"``. None: the network's choice at any ``d``.
        value: every target's value (the linear domain: +1, as the greedy teacher's); None draws ``U(-1, 1)``.
        forward: also the sets grown from the best single target one target at a time (:func:`forward_path`).
        deterministic: ``act``'s mode (module docstring).
        name: label in the results.
        seed: seed of ``predict``'s generator in the sampled mode.

    Raises:
        ValueError: ``n_random < 0``, ``max_size < 2`` or ``native_d < 1``.
    """

    def __init__(
        self,
        net: ValueNet | ValueEnsemble,
        model: Any,
        n_random: int = 29,
        max_size: int | None = None,
        full_sets: bool = True,
        native_d: int | None = None,
        value: float | None = 1.0,
        forward: bool = False,
        deterministic: bool = False,
        name: str = "CAASL-value",
        seed: int | None = None,
    ) -> None:
        if n_random < 0:
            raise ValueError(f"n_random must be >= 0, got {n_random}")
        if max_size is not None and max_size < 2:
            raise ValueError(f"max_size must be >= 2 (random sets hold 2..max_size targets) or None, got {max_size}")
        if native_d is not None and native_d < 1:
            raise ValueError(f"native_d must be >= 1 (the training number of variables) or None, got {native_d}")
        self.net, self.model, self.n_random, self.max_size = net.eval(), model, n_random, max_size
        self.full_sets, self.native_d = full_sets, native_d
        self.value, self.forward, self.deterministic, self.name = value, forward, deterministic, name
        self.rng = np.random.default_rng(seed)

    def act(self, obs: np.ndarray, rngs: Sequence[np.random.Generator]) -> np.ndarray:
        """Designs ``(B, d, 2)`` of the histories ``obs`` ``(B, N, d, 3)``; sampled: episode ``b``'s candidates
        and values come from ``rngs[b]``; deterministic: from :func:`history_generator` of its history."""
        obs = np.asarray(obs)
        if self.deterministic:
            rngs = [history_generator(o) for o in obs]
        return self.design(obs, rngs)

    def predict(
        self,
        observation: np.ndarray,
        state: tuple[np.ndarray, ...] | None = None,
        episode_start: np.ndarray | None = None,
        deterministic: bool = False,
    ) -> tuple[np.ndarray, None]:
        """Stable-Baselines3's ``predict``: the design ``(d, 2)`` of a history ``(N, d, 3)``, or ``(B, d, 2)`` of
        ``(B, N, d, 3)``, and no recurrent state. Sampled designs draw from the generator seeded by ``seed``.

        Raises:
            ValueError: an observation of another shape, or with NaN or infinite entries.
        """
        obs, single = history_batch(observation)
        if not np.isfinite(obs).all():
            raise ValueError("the observation holds NaN or infinite entries")
        rngs = [history_generator(o) for o in obs] if deterministic else [self.rng] * len(obs)
        actions = self.design(obs, rngs)
        return (actions[0] if single else actions), None

    def design(self, obs: np.ndarray, rngs: Sequence[np.random.Generator]) -> np.ndarray:
        """The best candidate's actions ``(B, d, 2)`` for the histories ``obs`` ``(B, N, d, 3)``, history ``b``'s
        candidates drawn from ``rngs[b]``."""
        obs = np.asarray(obs)
        batch, d = obs.shape[0], obs.shape[2]
        if self.native_d is not None and d != self.native_d:
            return np.stack([as_actions(rng.random(d) < 0.5, rng, self.value) for rng in rngs])
        rows, max_size = np.arange(batch), min(self.max_size or d, d if self.full_sets else d - 1)
        probs, counts = history_posterior64(self.model, obs)
        sets = np.stack([candidate_sets(rng, d, self.n_random, max_size) for rng in rngs])  # (B, C, d)
        with th.no_grad():
            gene, probs, counts = (
                gene_statistics(probs, counts),
                *(th.as_tensor(x, dtype=th.float32) for x in (probs, counts)),
            )
            context = None  # the history's embedding, once per step for every candidate and forward round
            if self.net.reads_history:
                context = self.net.history_context(th.as_tensor(obs, dtype=th.float32))

            def value_of(candidates: np.ndarray) -> np.ndarray:  # (B, K, d) -> (B, K)
                return self.net(gene, probs, counts, th.as_tensor(candidates), context=context).numpy()

            values = value_of(sets)
            if self.forward:
                start = sets[rows, 1 + values[:, 1 : d + 1].argmax(1)]
                path, path_values = forward_path(value_of, start)
                sets = np.concatenate([sets, path[:, : max_size - 1]], axis=1)
                values = np.concatenate([values, path_values[:, : max_size - 1]], axis=1)
        best = sets[rows, values.argmax(1)]
        return np.stack([as_actions(s, rng, self.value) for s, rng in zip(best, rngs)])
