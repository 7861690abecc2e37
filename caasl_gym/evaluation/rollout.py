"""The one batched rollout: a design strategy on seeded held-out episodes of a registered id.

Episode ``i`` of a rollout with ``seed_base`` is reset with seed ``seed_base + i`` and its strategy draws
from ``np.random.default_rng([STRATEGY_SEED, seed_base + i])``, so every strategy sees the same hidden
models and initial data (paired comparisons) and the results do not depend on ``chunk_size``: the
episodes run ``chunk_size`` at a time on the id's native vector env (``gym.make_vec``; Gymnasium's
``SyncVectorEnv`` for ids without one), where copy ``i`` of a vector env seeded ``s`` replays a single
env seeded ``s + i`` (observations bit-identical, scores equal up to the reward model's floating-point
batch effects).

Recorded per episode and step ``t = 0..T``: the score ``S(h_t)`` (``info["score"]``), optionally the
posterior's expected SHD, AUPRC and edge F1 (:mod:`caasl_gym.metrics` on ``edge_probabilities()``), and
per design the strategy's wall time and the process's CPU time (its batched ``act`` call divided by the
chunk's episodes; on a loaded machine the wall time grows, the CPU time does not).

A strategy with a ``bind(env)`` method is handed each chunk's vector env after its reset. Only the
**privileged** reference :class:`~caasl_gym.evaluation.probe.PrivilegedProbe` has one (it reads the hidden
models); strategies proper see the observations alone.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np
import pandas as pd

from caasl_gym import metrics as graph_metrics
from caasl_gym.evaluation.seeds import strategy_rngs
from caasl_gym.evaluation.strategies import Strategy

METRICS = {"expected_shd": graph_metrics.expected_shd, "auprc": graph_metrics.auprc, "edge_f1": graph_metrics.edge_f1}
"""Posterior metrics recorded with ``metrics=True``: name to ``f(probs (B, d, d), adj (B, d, d)) -> (B,)``."""
DEFAULT_CHUNK = 50
"""Episodes per vector env: bounds the memory of the simulator, the reward model and the strategy."""


@dataclass
class Rollout:
    """The records of one strategy on ``n`` episodes with ``T`` design steps.

    Attributes:
        strategy: the strategy's name.
        seeds: ``(n,)`` reset seeds of the episodes.
        score: ``(n, T + 1)`` scores ``S(h_t)``.
        design_seconds: ``(n, T)`` wall seconds per design.
        design_cpu_seconds: ``(n, T)`` CPU seconds of this process per design (all its threads).
        metrics: name to ``(n, T + 1)`` posterior metrics (empty unless requested).
        actions: ``(n, T, d, 2)`` float32 designs (``None`` unless requested).
    """

    strategy: str
    seeds: np.ndarray
    score: np.ndarray
    design_seconds: np.ndarray
    design_cpu_seconds: np.ndarray
    metrics: dict[str, np.ndarray] = field(default_factory=dict)
    actions: np.ndarray | None = None

    def frame(self, env_id: str) -> pd.DataFrame:
        """Tidy records: one row per (episode, t) with ``env_id, strategy, episode, seed, t, score``, the
        metrics, ``design_seconds`` and ``design_cpu_seconds`` (the wall and CPU time of the design that led
        to ``h_t``; NaN at ``t = 0``)."""
        n, steps = self.score.shape

        def timing(per_design: np.ndarray) -> np.ndarray:
            return np.concatenate([np.full((n, 1), np.nan), per_design], axis=1)

        columns = {"score": self.score, **self.metrics, "design_seconds": timing(self.design_seconds),
                   "design_cpu_seconds": timing(self.design_cpu_seconds)}  # fmt: skip
        return pd.DataFrame(
            {
                "env_id": env_id,
                "strategy": self.strategy,
                "episode": np.repeat(np.arange(n), steps),
                "seed": np.repeat(self.seeds, steps),
                "t": np.tile(np.arange(steps), n),
                **{k: v.reshape(-1) for k, v in columns.items()},
            }
        )


def rollout(
    env_id: str,
    strategy: Strategy,
    n_episodes: int,
    seed_base: int,
    env_kwargs: dict[str, Any] | None = None,
    *,
    metrics: bool = False,
    score_model: Any = None,
    record_actions: bool = False,
    chunk_size: int = DEFAULT_CHUNK,
) -> Rollout:
    """Run ``strategy`` on the episodes ``seed_base + i``, ``i < n_episodes`` (see the module docstring).

    Args:
        env_id: a registered id.
        strategy: batched design strategy (:class:`~caasl_gym.evaluation.strategies.Strategy`).
        n_episodes: episodes ``n``.
        seed_base: seed of episode 0 (a family's start, :mod:`caasl_gym.evaluation.seeds`).
        env_kwargs: kwargs for ``gym.make_vec``.
        metrics: also record the posterior metrics of :data:`METRICS` (needs ``edge_probabilities()`` and
            ``true_adjacency``, which caasl_gym's environments have).
        score_model: rescore: the reward model (name, path or object, e.g. ``"exact"``) whose posterior gives
            the scores and metrics instead of the env's default one. Observations, and therefore the
            designs, do not depend on the reward model, so these are the default run's histories.
        record_actions: keep every design in :attr:`Rollout.actions`.
        chunk_size: episodes per vector env (results do not depend on it).

    Raises:
        ValueError: a bad count, an env that reports no ``info["score"]``, actions of the wrong shape,
            or ``metrics`` on an env without a posterior.
    """
    if n_episodes < 1 or chunk_size < 1:
        raise ValueError(f"n_episodes and chunk_size must be >= 1, got {n_episodes} and {chunk_size}")
    kwargs = dict(env_kwargs or {})
    if score_model is not None:
        kwargs["reward_model"] = score_model
    parts, venv = [], None
    try:
        for start in range(0, n_episodes, chunk_size):
            size = min(chunk_size, n_episodes - start)
            if venv is None or venv.num_envs != size:
                if venv is not None:
                    venv.close()
                venv = gym.make_vec(env_id, num_envs=size, **kwargs)
            parts.append(_run_chunk(venv, env_id, strategy, seed_base + start, metrics, record_actions))
    finally:
        if venv is not None:
            venv.close()

    def cat(field: str) -> Any:
        return np.concatenate([getattr(p, field) for p in parts])

    metrics_ = {m: np.concatenate([p.metrics[m] for p in parts]) for m in parts[0].metrics}
    actions = cat("actions") if record_actions else None
    seconds = cat("design_seconds"), cat("design_cpu_seconds")
    return Rollout(strategy.name, cat("seeds"), cat("score"), *seconds, metrics_, actions)


def evaluate(
    env_id: str,
    strategies: Sequence[Strategy],
    n_episodes: int,
    seed_base: int,
    env_kwargs: dict[str, Any] | None = None,
    **options: Any,
) -> pd.DataFrame:
    """Tidy records (:meth:`Rollout.frame`) of every strategy on the same episodes; ``options`` go to
    :func:`rollout` (``metrics``, ``score_model``, ``chunk_size``)."""
    frames = [rollout(env_id, s, n_episodes, seed_base, env_kwargs, **options).frame(env_id) for s in strategies]
    return pd.concat(frames, ignore_index=True)


def bind_env(strategy: Strategy, env: Any) -> None:
    """Hand ``env`` (a vector env just reset) to ``strategy`` if it has a ``bind(env)`` method: only the privileged
    probe has one (the module docstring); strategies proper see the observations alone."""
    bind = getattr(strategy, "bind", None)
    if callable(bind):
        bind(env)


def _run_chunk(venv: Any, env_id: str, strategy: Strategy, seed: int, metrics: bool, record_actions: bool) -> Rollout:
    """One episode per copy of ``venv``, reset with ``seed`` (see :func:`rollout`)."""
    size, base = venv.num_envs, venv.unwrapped
    if metrics and not (callable(getattr(base, "edge_probabilities", None)) and hasattr(base, "true_adjacency")):
        raise ValueError(f"metrics=True needs an env with edge_probabilities() and true_adjacency; {env_id} has none")
    rngs = strategy_rngs(range(seed, seed + size))
    obs, info = venv.reset(seed=seed)
    bind_env(strategy, base)
    steps, seconds, cpu_seconds, actions, done = [], [], [], [], False
    while True:
        if "score" not in info:
            raise ValueError(f"{env_id} reports no info['score']; the rollout records the score S(h_t) of each history")
        step = {"score": np.asarray(info["score"], dtype=float)}  # (B,)
        if metrics:
            probs, truth = base.edge_probabilities(), base.true_adjacency  # (B, d, d) each
            step.update({m: np.asarray(fn(probs, truth), dtype=float) for m, fn in METRICS.items()})
        steps.append(step)
        if done:
            break
        start, cpu_start = time.perf_counter(), time.process_time()
        action = np.asarray(strategy.act(obs, rngs))
        seconds.append(np.full(size, (time.perf_counter() - start) / size))
        cpu_seconds.append(np.full(size, (time.process_time() - cpu_start) / size))
        if action.shape != venv.action_space.shape:
            raise ValueError(
                f"strategy {strategy.name!r} returned actions of shape {action.shape}; {env_id} needs "
                f"{venv.action_space.shape} (B, d, 2)"
            )
        actions.append(action.astype(np.float32))
        obs, _, terminated, truncated, info = venv.step(action)
        ended = np.asarray(terminated) | np.asarray(truncated)
        if ended.any() and not ended.all():
            raise ValueError(f"{env_id}: copies of one vector env must end their episodes together")
        done = bool(ended.all())
    columns = {k: np.stack([step[k] for step in steps], axis=1) for k in steps[0]}  # (B, T + 1) each
    score = columns.pop("score")
    recorded = np.stack(actions, axis=1) if record_actions else None  # (B, T, d, 2)
    timings = np.stack(seconds, axis=1), np.stack(cpu_seconds, axis=1)  # (B, T) each
    return Rollout(strategy.name, np.arange(seed, seed + size), score, *timings, columns, recorded)
