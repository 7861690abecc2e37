"""Paired evaluation of a trained policy against the Random design strategy on held-out environments."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np
import pandas as pd
from scipy import stats
from stable_baselines3.common.base_class import BaseAlgorithm

import caasl_gym  # noqa: F401  (registers the environment ids evaluated here)
from caasl_agents.redq.predict import predict_any_d

PolicyFn = Callable[[np.ndarray], np.ndarray]
"""Batched observations ``(B, N, d, 3)`` to actions ``(B, d, k)``."""


def rollout(
    policy_fn: PolicyFn, env_id: str, n_episodes: int, seed: int, env_kwargs: dict[str, Any] | None = None
) -> dict[str, np.ndarray]:
    """Run one episode in each of ``n_episodes`` copies reset with ``seed``.

    The same ``(env_id, env_kwargs, n_episodes, seed)`` gives every strategy the same hidden models
    and initial data (paired comparison).

    :param policy_fn: batched observations to actions
    :param env_id: registered id (the native vector env is used when the id has one)
    :param n_episodes: episodes, run as one vector env
    :param seed: reset seed of the batch (copy ``i`` gets ``seed + i``)
    :param env_kwargs: env kwargs
    :return: ``{"return": (n,)}`` (sum of rewards) plus ``{"final_score": (n,)}`` when the env
        reports ``info["score"]`` (``S(h_T)``, the paper's return)
    """
    venv = gym.make_vec(env_id, num_envs=n_episodes, **(env_kwargs or {}))
    try:
        obs, info = venv.reset(seed=seed)
        returns = np.zeros(n_episodes)
        done = np.zeros(n_episodes, dtype=bool)
        score = np.asarray(info["score"], dtype=float) if "score" in info else None
        for _ in range(100_000):
            obs, rewards, terminated, truncated, info = venv.step(policy_fn(obs))
            returns += np.where(done, 0.0, rewards)
            if score is not None and "score" in info:
                score = np.where(done, score, np.asarray(info["score"], dtype=float))
            done |= np.asarray(terminated) | np.asarray(truncated)
            if done.all():
                break
    finally:
        venv.close()
    out = {"return": returns}
    if score is not None:
        out["final_score"] = score
    return out


def _mean_ci(x: np.ndarray) -> tuple[float, float]:
    """Mean and half-width of the 95% Student-t confidence interval."""
    if len(x) < 2:
        return float(np.mean(x)), float("nan")
    return float(np.mean(x)), float(stats.t.ppf(0.975, len(x) - 1) * np.std(x, ddof=1) / np.sqrt(len(x)))


def evaluate_against_random(
    model: BaseAlgorithm,
    env_id: str,
    n_episodes: int = 100,
    seed: int = 1_000_000,
    env_kwargs: dict[str, Any] | None = None,
    deterministic: bool = False,
) -> pd.DataFrame:
    """Returns of ``model`` and of Random on the same held-out environments, with 95% CIs.

    Random draws every action uniformly from the action box (each variable targeted with
    probability 1/2, value uniform in ``[-1, 1]``) from ``np.random.default_rng(seed)``.

    :param model: a trained model whose actor accepts the env's observations (any ``d``)
    :param env_id: registered id
    :param n_episodes: held-out episodes (paper: 100)
    :param seed: evaluation seed; keep it disjoint from the training seeds
    :param env_kwargs: env kwargs
    :param deterministic: deterministic policy actions; by default designs are sampled from the
        policy (as in the official CAASL evaluation) with noise from ``np.random.default_rng([seed, 1])``
    :return: one row per strategy: ``mean_return``, ``ci95_return``, ``diff_vs_random`` (paired
        mean difference of returns) with ``ci95_diff``, and ``mean_final_score`` when available
    """
    rng = np.random.default_rng(seed)

    def random_fn(obs: np.ndarray) -> np.ndarray:
        d = obs.shape[2]
        width = model.action_space.shape[-1] if model.action_space.shape else 2
        return rng.uniform(-1.0, 1.0, size=(obs.shape[0], d, width)).astype(np.float32)

    policy_rng = np.random.default_rng([seed, 1])

    def policy_fn(obs: np.ndarray) -> np.ndarray:
        return predict_any_d(model, obs, deterministic=deterministic, rng=policy_rng)

    results = {"CAASL": rollout(policy_fn, env_id, n_episodes, seed, env_kwargs)}
    results["Random"] = rollout(random_fn, env_id, n_episodes, seed, env_kwargs)
    rows = []
    for name, res in results.items():
        mean, ci = _mean_ci(res["return"])
        diff, diff_ci = _mean_ci(res["return"] - results["Random"]["return"])
        row = {"strategy": name, "episodes": n_episodes, "mean_return": mean, "ci95_return": ci}
        if "final_score" in res:
            row["mean_final_score"] = float(np.mean(res["final_score"]))
        row.update(diff_vs_random=diff, ci95_diff=diff_ci)
        rows.append(row)
    return pd.DataFrame(rows)
