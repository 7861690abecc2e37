"""Paired statistics of evaluation records: means with 95% Student-t CIs, and the gain over a reference.

The vocabulary of every evaluation output: the **score** ``S(h_t)`` of a history and the **gain**
``S(h_T) - S_ref(h_T)`` of a strategy over a reference (Random by default) on the same episodes. Both
are reported per step ``t`` by :func:`summarize`; the gain at the final step ``T`` is *the* gain.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

METRIC_COLUMNS = ("score", "expected_shd", "auprc", "edge_f1")
"""Columns of the tidy records that :func:`summarize` averages (those present)."""


def mean_ci95(x: np.ndarray | Sequence[float]) -> tuple[float, float]:
    """Mean and half-width of the 95% Student-t CI of the finite entries of ``x`` ``(n,)``.

    NaNs (e.g. AUPRC of a graph without edges) are left out; one finite value has a NaN half-width and
    none gives ``(nan, nan)``.
    """
    v = np.asarray(x, dtype=float).reshape(-1)
    v = v[np.isfinite(v)]
    if len(v) == 0:
        return float("nan"), float("nan")
    if len(v) < 2:
        return float(v.mean()), float("nan")
    return float(v.mean()), float(stats.t.ppf(0.975, len(v) - 1) * v.std(ddof=1) / np.sqrt(len(v)))


def paired_difference(x: np.ndarray, reference: np.ndarray) -> tuple[float, float]:
    """Mean and 95% CI half-width of ``x - reference``, both ``(n,)`` over the same episodes."""
    x, reference = np.asarray(x, dtype=float), np.asarray(reference, dtype=float)
    if x.shape != reference.shape:
        raise ValueError(f"paired values need the same shape, got {x.shape} and {reference.shape}")
    return mean_ci95(x - reference)


TIMING_COLUMNS = ("design_seconds", "design_cpu_seconds")
"""Per-design wall and CPU seconds (:meth:`~caasl_gym.evaluation.rollout.Rollout.frame`), averaged, not CI'd."""


def summarize(episodes: pd.DataFrame, reference: str = "Random") -> pd.DataFrame:
    """One row per (``env_id``, ``strategy``, ``t``) of tidy records (``Rollout.frame``).

    Columns: ``n``; mean and ``<m>_ci95`` of each of :data:`METRIC_COLUMNS` present; ``gain`` and
    ``gain_ci95``, the paired score difference to ``reference`` on the same episodes (NaN for the
    reference itself or when it was not run); ``design_seconds`` and ``design_cpu_seconds`` (mean wall and
    CPU time per design, NaN at ``t = 0``) when recorded.
    """
    present = [m for m in METRIC_COLUMNS if m in episodes]
    keys = ["env_id", "episode", "t"]
    ref = episodes[episodes.strategy == reference].set_index(keys)["score"]
    rows = []
    for (env_id, strategy, t), g in episodes.groupby(["env_id", "strategy", "t"], sort=False):
        row = dict(env_id=env_id, strategy=strategy, t=t, n=len(g))
        for m in present:
            row[m], row[f"{m}_ci95"] = mean_ci95(g[m].to_numpy())
        diff = (g.set_index(keys)["score"] - ref).dropna().to_numpy() if strategy != reference else []
        row["gain"], row["gain_ci95"] = mean_ci95(diff)
        for column in TIMING_COLUMNS:
            if column in g:
                row[column] = mean_ci95(g[column].to_numpy())[0]
        rows.append(row)
    return pd.DataFrame(rows)


def final(summary: pd.DataFrame) -> pd.DataFrame:
    """The rows of the final step ``T`` of :func:`summarize`'s output, one per (``env_id``, ``strategy``);
    the timing columns become the means over all designs of the episode."""
    groups = summary.groupby(["env_id", "strategy"], sort=False)
    last = summary.loc[groups.t.idxmax()].reset_index(drop=True)
    for column in TIMING_COLUMNS:
        if column in summary:
            last[column] = groups[column].mean().to_numpy()
    return last
