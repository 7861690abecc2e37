"""Held-out evaluation of an edge posterior on environment-like histories.

Held-out data come from seeds disjoint from training: training streams use
``SeedSequence(seed, spawn_key=(TRAIN_KEY, ...))`` and held-out sets ``SeedSequence(seed,
spawn_key=(HELDOUT_KEY, ...))``, so no training history can coincide with a held-out one whatever the
seeds.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

import numpy as np

from caasl_gym import metrics
from caasl_gym.envs.config import DesignConfig
from caasl_gym.reward.data import Histories, default_setting, simulate_histories

TRAIN_KEY = 1
"""First spawn-key entry of every training data stream."""
HELDOUT_KEY = 2
"""First spawn-key entry of every held-out data set."""
HELDOUT_SEED = 20261128
"""Default entropy of the held-out sets written into the sidecars."""


def heldout_rng(seed: int, *key: int) -> np.random.Generator:
    """A generator of the held-out family (disjoint from every training stream)."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(HELDOUT_KEY, *key)))


@lru_cache(maxsize=16)
def heldout_histories(
    setting: DesignConfig,
    n_datasets: int,
    d: int = 10,
    *,
    n_obs: int = 50,
    n_int: int = 10,
    seed: int = HELDOUT_SEED,
    chunk: int = 64,
    design_kind: str = "random",
) -> Histories:
    """``n_datasets`` histories of ``n_obs`` observational rows and ``n_int`` rows from Random designs
    (every variable a target w.p. 0.5, values ``U(-1, 1)``), as an environment under the Random
    policy produces them (``design_kind="single"``: one uniformly chosen target per row instead).
    Simulated in chunks so the result does not depend on memory limits; cached
    per process (treat the arrays as read-only)."""
    rng = heldout_rng(seed, d, n_obs, n_int) if design_kind == "random" else heldout_rng(seed, d, n_obs, n_int, 1)
    parts = []
    for start in range(0, n_datasets, chunk):
        size = min(chunk, n_datasets - start)
        parts.append(simulate_histories(rng, setting, size, d, n_obs, n_int, design_kind=design_kind))
    return Histories(
        np.concatenate([p.values for p in parts]),
        np.concatenate([p.intervened for p in parts]),
        np.concatenate([p.adjacency for p in parts]),
    )


def graph_metrics(probs: np.ndarray, adjacency: np.ndarray) -> dict[str, float]:
    """Mean metrics over a batch: AUPRC, AUROC, edge F1, expected SHD, score S, the all-zeros S and ECE."""
    return {
        "auprc": float(np.nanmean(metrics.auprc(probs, adjacency))),
        "auroc": float(np.nanmean(metrics.auroc(probs, adjacency))),
        "f1": float(np.mean(metrics.edge_f1(probs, adjacency))),
        "expected_shd": float(np.mean(metrics.expected_shd(probs, adjacency))),
        "score": float(np.mean(metrics.expected_correct(probs, adjacency))),
        "score_all_zeros": float(np.mean(metrics.all_zeros_score(adjacency))),
        "ece": metrics.expected_calibration_error(probs, adjacency),
    }


def evaluate_posterior(
    edge_probabilities: Callable[..., np.ndarray], histories: Histories, rows: tuple[int, ...]
) -> dict[int, dict[str, float]]:
    """Metrics of ``edge_probabilities(values, intervened)`` on the first ``r`` rows, for each ``r``."""
    out = {}
    for r in rows:
        h = histories.head(r)
        out[r] = graph_metrics(edge_probabilities(h.values, h.intervened), h.adjacency)
    return out


def heldout_report(model, n_datasets: int = 256, seed: int = HELDOUT_SEED) -> dict:
    """Held-out metrics of a :class:`~caasl_gym.reward.loading.RewardModel` on its domain's training
    prior at d = 10: ``h0`` (50 observational rows) and ``h10`` (plus 10 Random-design rows)."""
    hist = heldout_histories(default_setting(model.domain), n_datasets, seed=seed)
    res = evaluate_posterior(model.edge_probabilities, hist, (50, 60))
    return {"n_datasets": n_datasets, "seed": seed, "d": 10, "h0": res[50], "h10": res[60]}
