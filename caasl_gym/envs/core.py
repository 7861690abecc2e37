"""The batched core shared by the single env (a batch of one) and the native vector env.

:class:`DesignCore` holds ``B`` episodes that run in lockstep: the hidden models, the padded history
``(B, N, d, 3)``, the current edge posterior and the score. It knows nothing about Gymnasium.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
from gymnasium import spaces

from caasl_gym.envs.config import DesignConfig
from caasl_gym.envs.domain import Domain, concat_params
from caasl_gym.envs.scoring import resolve_reward_model, score

LOOKAHEAD_CHUNK = 256
"""Histories per reward-model call in :meth:`DesignCore.lookahead_scores` (bounds memory)."""


def observation_space(config: DesignConfig, value_low: float, value_high: float) -> spaces.Box:
    """``Box((N, d, 3), float32)``: value, intervention indicator, row-filled flag."""
    shape = (config.num_rows, config.num_nodes, 3)
    low = np.zeros(shape, dtype=np.float32)
    high = np.ones(shape, dtype=np.float32)
    low[..., 0], high[..., 0] = value_low, value_high
    return spaces.Box(low, high, dtype=np.float32)


def action_space(config: DesignConfig) -> spaces.Box:
    """``Box(-1, 1, (d, 2), float32)``: target iff column 0 > 0, value from column 1."""
    return spaces.Box(-1.0, 1.0, (config.num_nodes, 2), dtype=np.float32)


def as_action_array(action: Any, shape: tuple[int, ...]) -> np.ndarray:
    """``action`` as a float64 array of ``shape``; raises ``ValueError`` on a wrong shape, a non-real dtype
    (complex, strings, objects) or NaN/inf."""
    raw = np.asarray(action)
    if not (np.issubdtype(raw.dtype, np.floating) or np.issubdtype(raw.dtype, np.integer) or raw.dtype == bool):
        raise ValueError(f"action must be an array of real numbers of shape {shape}, got dtype {raw.dtype}")
    try:
        a = raw.astype(np.float64)
    except (TypeError, ValueError) as e:
        raise ValueError(f"action must be a numeric array of shape {shape}: {e}") from None
    if a.shape != shape:
        raise ValueError(f"action must have shape {shape}, got {a.shape}")
    if not np.isfinite(a).all():
        raise ValueError("action entries must be finite (no NaN or inf)")
    return a


class DesignCore:
    """``B`` lockstep design episodes of one configuration.

    Args:
        config: the validated configuration.
        domain: the simulator side (a :class:`~caasl_gym.envs.domain.Domain` built from ``config``).
        batch: number of copies ``B``.
    """

    def __init__(self, config: DesignConfig, domain: Domain, batch: int) -> None:
        self.config = config
        self.domain = domain
        self.batch = int(batch)
        self.model = resolve_reward_model(config.reward_model, config=config)
        c = config
        self.history = np.zeros((self.batch, c.num_rows, c.num_nodes, 3), dtype=np.float32)  # (B, N, d, 3)
        self.t = 0
        self.filled = 0
        self.per_copy: list[Any] = []
        self.params: Any = None
        self.adjacency = np.zeros((self.batch, c.num_nodes, c.num_nodes), dtype=bool)  # (B, d, d)
        self.probs = np.zeros((self.batch, c.num_nodes, c.num_nodes))  # (B, d, d)
        self.score = np.zeros(self.batch)  # (B,)
        self.clipped = 0
        """Simulated values clipped to the observation bounds so far (each clipping also warns)."""
        self.timings = {"simulate": 0.0, "reward": 0.0}
        """Benchmark-only: cumulative seconds spent in simulation and in the reward model."""

    # ------------------------------------------------------------------ pickling
    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        if not callable(getattr(self.config.reward_model, "edge_probabilities", None)):
            state["model"] = None  # reloaded (from the per-process cache) on unpickling
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        if self.model is None:
            self.model = resolve_reward_model(self.config.reward_model, config=self.config)

    # ------------------------------------------------------------------ episodes
    @property
    def terminated(self) -> bool:
        """Whether the budget is spent (all copies end together)."""
        return self.t >= self.config.budget

    def reset(self, rngs: Sequence[np.random.Generator]) -> None:
        """Draw a fresh model and ``n0`` observational rows per copy, then score the history.

        Args:
            rngs: ``B`` generators, copy ``b`` draws from ``rngs[b]`` only.
        """
        c, d = self.config, self.config.num_nodes
        start = time.perf_counter()
        self.per_copy = self.domain.sample_params(rngs)
        self.params = concat_params(self.per_copy)
        self.adjacency = np.asarray(self.params.adjacency, dtype=bool).copy()
        no_design = np.zeros((self.batch, d), dtype=bool)
        rows = self.domain.observe(rngs, self.per_copy, self.params, no_design, np.zeros((self.batch, d)), c.n_initial)
        self.timings["simulate"] += time.perf_counter() - start
        self.history.fill(0.0)
        self.t, self.filled = 0, 0
        self._append(rows, no_design)
        self.score = self._score()

    def step(self, rngs: Sequence[np.random.Generator], actions: np.ndarray) -> np.ndarray:
        """Run one experiment per copy and return the rewards.

        Args:
            rngs: the generators given to :meth:`reset`.
            actions: ``(B, d, 2)`` validated actions (see :meth:`parse_actions`).

        Returns:
            ``(B,)`` float64 rewards ``S(h_t) - S(h_{t-1})``.
        """
        if self.terminated:
            raise RuntimeError("the episode has terminated (budget spent); call reset() first")
        design, values = self.parse_actions(actions)
        start = time.perf_counter()
        rows = self.domain.observe(rngs, self.per_copy, self.params, design, values, self.config.samples_per_step)
        self.timings["simulate"] += time.perf_counter() - start
        self._append(rows, design)
        self.t += 1
        previous, self.score = self.score, self._score()
        return self.score - previous

    def parse_actions(self, actions: Any) -> tuple[np.ndarray, np.ndarray]:
        """Validate and decode actions.

        Args:
            actions: ``(B, d, 2)`` array-like; finite entries outside ``[-1, 1]`` are clipped.

        Returns:
            ``design`` ``(B, d)`` bool (target iff column 0 > 0) and ``values`` ``(B, d)`` float64
            (the domain's :meth:`~caasl_gym.envs.domain.Domain.intervention_values` of column 1).

        Raises:
            ValueError: wrong shape or non-finite entries.
        """
        a = as_action_array(actions, (self.batch, self.config.num_nodes, 2))
        a = np.clip(a, -1.0, 1.0)
        return a[..., 0] > 0, self.domain.intervention_values(a[..., 1])

    def lookahead_scores(self, actions: np.ndarray, seeds: np.ndarray) -> np.ndarray:
        """PRIVILEGED: the scores of the current histories each extended by one experiment per candidate, run on
        the hidden models; nothing of the episodes (history, generators, score) changes.

        Args:
            actions: ``(B, C, d, 2)`` candidate actions per copy (decoded as :meth:`step` decodes them).
            seeds: ``(B,)`` integer seeds; all candidates of copy ``b`` draw their noise from
                ``default_rng(seeds[b])`` (common random numbers).

        Returns:
            ``(B, C)`` float64 scores ``S`` (the reward model's posterior against the hidden graph).

        Raises:
            ValueError: actions or seeds of the wrong shape, or non-finite actions.
        """
        actions = np.asarray(actions)
        d = self.config.num_nodes
        if actions.ndim != 4 or actions.shape[0] != self.batch or actions.shape[2:] != (d, 2):
            raise ValueError(f"lookahead actions must have shape ({self.batch}, C, {d}, 2), got {actions.shape}")
        seeds = np.asarray(seeds)
        if seeds.shape != (self.batch,):
            raise ValueError(f"lookahead seeds must have shape ({self.batch},), got {seeds.shape}")
        n_cand = actions.shape[1]
        decoded = [self.parse_actions(actions[:, c]) for c in range(n_cand)]  # (B, d) each
        design = np.stack([dv[0] for dv in decoded], axis=1).reshape(self.batch * n_cand, d)
        values = np.stack([dv[1] for dv in decoded], axis=1).reshape(self.batch * n_cand, d)
        per_copy = [self.per_copy[b] for b in range(self.batch) for _ in range(n_cand)]
        rngs = [np.random.default_rng(int(seeds[b])) for b in range(self.batch) for _ in range(n_cand)]
        n_rows = self.config.samples_per_step
        rows = self.domain.observe(rngs, per_copy, concat_params(per_copy), design, values, n_rows)
        past = np.repeat(self.history[:, : self.filled], n_cand, axis=0)  # (B C, f, d, 3)
        block = np.ones((self.batch * n_cand, rows.shape[1], d, 3), dtype=past.dtype)
        block[..., 0] = np.clip(rows, self.domain.value_low, self.domain.value_high)
        block[..., 1] = design[:, None, :]
        h = np.concatenate([past, block], axis=1)
        truth = np.repeat(self.adjacency, n_cand, axis=0)  # (B C, d, d)
        out = np.empty(self.batch * n_cand)
        for s in range(0, len(h), LOOKAHEAD_CHUNK):
            part, chunk = h[s : s + LOOKAHEAD_CHUNK], slice(s, s + LOOKAHEAD_CHUNK)
            probs = np.asarray(self.model.edge_probabilities(part[..., 0], part[..., 1] > 0, None), dtype=np.float64)
            out[chunk] = score(probs.reshape(-1, d, d), truth[chunk], self.config.reward)
        return out.reshape(self.batch, n_cand)

    # ------------------------------------------------------------------ internals
    def _append(self, rows: np.ndarray, design: np.ndarray) -> None:
        """Write ``rows`` ``(B, n, d)`` measured under ``design`` ``(B, d)`` after the filled rows."""
        n = rows.shape[1]
        block = self.history[:, self.filled : self.filled + n]  # (B, n, d, 3) view
        clipped = int(((rows < self.domain.value_low) | (rows > self.domain.value_high)).sum())
        if clipped:
            self.clipped += clipped
            warnings.warn(
                f"{clipped} simulated values fell outside the observation bounds [{self.domain.value_low:g}, "
                f"{self.domain.value_high:g}] and were clipped ({self.clipped} so far in this env)",
                RuntimeWarning,
                stacklevel=2,
            )
        block[..., 0] = np.clip(rows, self.domain.value_low, self.domain.value_high)
        block[..., 1] = design[:, None, :]
        block[..., 2] = 1.0
        self.filled += n

    def _score(self) -> np.ndarray:
        """Query the reward model once for all copies; returns ``(B,)`` scores."""
        start = time.perf_counter()
        h = self.history[:, : self.filled]  # (B, n, d, 3) filled rows only: no mask needed
        probs = self.model.edge_probabilities(h[..., 0], h[..., 1] > 0, None)
        self.timings["reward"] += time.perf_counter() - start
        self.probs = np.asarray(probs, dtype=np.float64).reshape(self.adjacency.shape)
        return score(self.probs, self.adjacency, self.config.reward)
