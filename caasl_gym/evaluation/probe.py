"""A **privileged** one-step greedy probe: a headroom reference for the benchmarks, not a design method.

At every step the probe proposes ``C`` candidate designs (by default the observational one, each single
target, and ``n_random`` uniform draws from the action box, as Random would draw them), simulates each
candidate's next rows on the environment's **true hidden model** (the env domain's ``observe`` with the
hidden parameters, on fresh generators of its own: the env's generators are never touched, so the env's
stream of data, and hence the pairing with every other strategy, stays exact), scores each resulting
history with the environment's own reward model and true graph (the score ``S`` the rollout records) and
plays the best. Its gain over Random is what a one-step lookahead that knows the answer achieves with the
same experiment budget: a yardstick for how much a design can matter on an id, which no strategy that sees
only observations can use. Every output labels it ``Probe (privileged)``.

All candidates of a copy are simulated with the same noise (common random numbers: one fresh seed per
copy, step and noise repetition, drawn from the episode's strategy generator), so they are compared under
the same exogenous noise; the step the env then runs draws new noise from the env's own generator, so the
probe never sees the outcome of its own experiment in advance.

It needs the environment, which :func:`~caasl_gym.evaluation.rollout.rollout` hands to any strategy with a
``bind(env)`` method after each reset: a native ``caasl_gym`` vector env, whose documented privileged
``lookahead_scores`` does the simulating and scoring::

    from caasl_gym.evaluation import TEST, PrivilegedProbe, RandomStrategy, evaluate

    episodes = evaluate("CausalLinear-v0", [RandomStrategy(), PrivilegedProbe()], 100, TEST.start)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

PROBE_NAME = "Probe (privileged)"
"""The probe's label in every result."""


class PrivilegedProbe:
    """One-step greedy designs scored on the true hidden model (see the module docstring). PRIVILEGED.

    Args:
        n_random: uniform candidates from the action box per step (``K``).
        single_targets: also try every single-target design (value ``U(-1, 1)`` from the episode's generator).
        observational: also try the observational (empty) design.
        n_noise: noise repetitions per candidate; the candidate's value is the mean score over them.
        name: label in the results.

    Raises:
        ValueError: no candidates, or a count below its minimum.
    """

    privileged = True
    """Reads the hidden model: a reference, never a method (benchmarks print it apart)."""

    def __init__(
        self,
        n_random: int = 16,
        single_targets: bool = True,
        observational: bool = True,
        n_noise: int = 1,
        name: str = PROBE_NAME,
    ) -> None:
        if n_random < 0 or n_noise < 1:
            raise ValueError(f"n_random must be >= 0 and n_noise >= 1, got {n_random} and {n_noise}")
        if n_random == 0 and not (single_targets or observational):
            raise ValueError("the probe needs candidates: n_random > 0, single_targets or observational")
        self.n_random = int(n_random)
        self.single_targets = bool(single_targets)
        self.observational = bool(observational)
        self.n_noise = int(n_noise)
        self.name = name
        self._env: Any = None

    def bind(self, env: Any) -> None:
        """Use ``env``'s privileged lookahead (a native ``caasl_gym`` vector env; the rollout calls this).

        Raises:
            ValueError: an env without ``lookahead_scores`` (e.g. Gymnasium's ``SyncVectorEnv``).
        """
        if not callable(getattr(env, "lookahead_scores", None)):
            raise ValueError(
                f"{self.name} needs a native caasl_gym vector env (gym.make_vec of a caasl_gym id) to simulate on "
                f"its hidden models; got {type(env).__name__}"
            )
        self._env = env

    def candidates(self, rng: np.random.Generator, d: int) -> np.ndarray:
        """``(C, d, 2)`` float32 candidate actions of one copy: observational, single targets, ``n_random``
        uniform draws (in that order, drawn from ``rng``)."""
        out = []
        if self.observational:
            empty = np.zeros((1, d, 2))
            empty[..., 0] = -1.0
            out.append(empty)
        if self.single_targets:
            single = np.zeros((d, d, 2))
            single[..., 0] = np.where(np.eye(d, dtype=bool), 1.0, -1.0)
            single[..., 1] = rng.uniform(-1.0, 1.0, size=d)[None, :]
            out.append(single)
        if self.n_random:
            out.append(rng.uniform(-1.0, 1.0, size=(self.n_random, d, 2)))
        return np.concatenate(out).astype(np.float32)

    def act(self, obs: np.ndarray, rngs: Sequence[np.random.Generator]) -> np.ndarray:
        """The best candidate ``(B, d, 2)`` per copy for the histories ``obs`` ``(B, N, d, 3)`` of the bound env.

        Raises:
            RuntimeError: not bound.
            ValueError: ``obs`` is not the bound env's current history.
        """
        if self._env is None:
            raise RuntimeError(f"{self.name} is not bound to an env: run it through caasl_gym.evaluation.rollout")
        obs = np.asarray(obs)
        batch, d = obs.shape[0], obs.shape[2]
        cands = np.stack([self.candidates(rng, d) for rng in rngs])  # (B, C, d, 2)
        seeds = np.stack([rng.integers(0, 2**63, size=self.n_noise) for rng in rngs])  # (B, R)
        values = np.zeros(cands.shape[:2])  # (B, C)
        for r in range(self.n_noise):
            values += self.candidate_scores(obs, cands, seeds[:, r])
        best = values.argmax(axis=1)  # ties: the first candidate
        return cands[np.arange(batch), best]

    def candidate_scores(self, obs: np.ndarray, cands: np.ndarray, seeds: np.ndarray) -> np.ndarray:
        """Scores ``(B, C)`` of the bound env's histories ``obs`` each extended by one experiment ``cands``
        ``(B, C, d, 2)`` simulated on the hidden model; copy ``b``'s candidates draw their noise from
        ``default_rng(seeds[b])`` (the env's ``lookahead_scores``, which raises ``ValueError`` when ``obs`` is
        not its current history)."""
        return self._env.lookahead_scores(obs, cands, seeds)
