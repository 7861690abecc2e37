"""Graph-recovery metrics, batched over ``B`` graphs.

Conventions:
    * ``probs[b, i, j]`` is the posterior probability of the edge ``i -> j``; ``adj[b, i, j]`` the truth.
    * :func:`expected_correct` counts all ``d^2`` entries, diagonal included (as the CAASL paper's reward;
      with ``p_ii = 0`` the diagonal adds a constant ``d``).
    * :func:`shd` and :func:`expected_shd` count each unordered pair ``{i, j}`` at most once, so a reversed
      edge costs 1 (as AVICI and CDT do).
    * :func:`auprc`, :func:`auroc` and :func:`edge_f1` score the ``d(d-1)`` off-diagonal entries only
      (the diagonal would add ``d`` trivially correct negatives). AUPRC is the average precision
      (step-wise, ties grouped as in scikit-learn); it is NaN for a graph without edges, and AUROC is NaN
      when a graph has no edges or is complete.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import rankdata


def _as_batch(probs: np.ndarray, adj: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    p = np.asarray(probs, dtype=np.float64)
    a = np.asarray(adj).astype(bool)
    if p.ndim == 2:
        p = p[None]
    if a.ndim == 2:
        a = a[None]
    if p.ndim != 3 or p.shape[-1] != p.shape[-2]:
        raise ValueError(f"probs must have shape (B, d, d), got {np.shape(probs)}")
    if a.shape != p.shape:
        raise ValueError(f"adj must have the shape of probs {p.shape}, got {np.shape(adj)}")
    if not np.isfinite(p).all() or (p < 0).any() or (p > 1).any():
        raise ValueError("probs must be finite and lie in [0, 1]")
    return p, a


def _off_diagonal(x: np.ndarray) -> np.ndarray:
    """``(B, d, d) -> (B, d(d-1))`` off-diagonal entries."""
    d = x.shape[-1]
    return x[:, ~np.eye(d, dtype=bool)]


def correct_probability(probs: np.ndarray, adj: np.ndarray) -> np.ndarray:
    """Per-entry probability that a Bernoulli(``probs``) graph agrees with ``adj``: ``(B, d, d)``."""
    p, a = _as_batch(probs, adj)
    return np.where(a, p, 1.0 - p)


def expected_correct(probs: np.ndarray, adj: np.ndarray) -> np.ndarray:
    """Expected number of correct adjacency entries, ``sum_ij A p + (1 - A)(1 - p)``, closed form: ``(B,)``."""
    return correct_probability(probs, adj).sum(axis=(1, 2))


def log_likelihood(probs: np.ndarray, adj: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """``sum_ij log q(A_ij)`` over off-diagonal entries, probabilities clipped to ``[eps, 1 - eps]``: ``(B,)``."""
    c = np.clip(correct_probability(probs, adj), eps, 1.0 - eps)
    return np.log(_off_diagonal(c)).sum(axis=1)


def shd(pred: np.ndarray, adj: np.ndarray) -> np.ndarray:
    """Structural Hamming distance between bool graphs ``(B, d, d)``: ``(B,)`` int."""
    p, a = _as_batch(np.asarray(pred, dtype=np.float64), adj)
    diff = (p > 0.5) != a
    pair = diff | np.swapaxes(diff, 1, 2)
    return np.triu(pair, k=1).sum(axis=(1, 2))


def expected_shd(probs: np.ndarray, adj: np.ndarray) -> np.ndarray:
    """Expected SHD of a graph with independent Bernoulli(``probs``) edges: ``(B,)``.

    A pair ``{i, j}`` is correct iff both directed entries are, so
    ``E[SHD] = sum_{i<j} 1 - c_ij c_ji`` with ``c`` from :func:`correct_probability`.
    """
    c = correct_probability(probs, adj)
    pair_ok = c * np.swapaxes(c, 1, 2)
    d = c.shape[-1]
    return (1.0 - pair_ok)[:, np.triu(np.ones((d, d), dtype=bool), k=1)].sum(axis=1)


def auprc(probs: np.ndarray, adj: np.ndarray) -> np.ndarray:
    """Average precision of the off-diagonal edge scores: ``(B,)`` (NaN for graphs with no edges)."""
    p, a = _as_batch(probs, adj)
    scores, labels = _off_diagonal(p), _off_diagonal(a)
    out = np.full(p.shape[0], np.nan)
    for b in range(p.shape[0]):
        n_pos = labels[b].sum()
        if n_pos == 0:
            continue
        order = np.argsort(-scores[b], kind="stable")
        s, y = scores[b][order], labels[b][order]
        last = np.r_[s[1:] != s[:-1], True]  # end of each group of tied scores
        tp = np.cumsum(y)[last]
        fp = np.cumsum(~y)[last]
        precision = tp / (tp + fp)
        recall = tp / n_pos
        out[b] = np.sum(np.diff(np.r_[0.0, recall]) * precision)
    return out


def auroc(probs: np.ndarray, adj: np.ndarray) -> np.ndarray:
    """Area under the ROC curve of the off-diagonal edge scores (ties count 1/2): ``(B,)``."""
    p, a = _as_batch(probs, adj)
    scores, labels = _off_diagonal(p), _off_diagonal(a)
    ranks = rankdata(scores, axis=1)  # average ranks for ties
    n_pos = labels.sum(axis=1)
    n_neg = labels.shape[1] - n_pos
    rank_sum = np.where(labels, ranks, 0.0).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        u = (rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)
    return np.where((n_pos > 0) & (n_neg > 0), u, np.nan)


def edge_f1(probs: np.ndarray, adj: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """F1 score of the off-diagonal edges predicted by ``probs > threshold``: ``(B,)``.

    Both graphs empty gives 1; exactly one empty gives 0.
    """
    p, a = _as_batch(probs, adj)
    pred, true = _off_diagonal(p) > threshold, _off_diagonal(a)
    tp = (pred & true).sum(axis=1)
    fp = (pred & ~true).sum(axis=1)
    fn = (~pred & true).sum(axis=1)
    denom = 2 * tp + fp + fn
    return np.where(denom == 0, 1.0, 2 * tp / np.maximum(denom, 1))


def expected_calibration_error(probs: np.ndarray, adj: np.ndarray, bins: int = 10) -> float:
    """Expected calibration error of the off-diagonal edge probabilities pooled over the batch.

    Entries fall into ``bins`` equal-width probability bins; ECE is the entry-weighted mean of
    ``|mean probability - edge frequency|`` over the bins. 0 for a calibrated posterior.
    """
    p, a = _as_batch(probs, adj)
    scores, labels = _off_diagonal(p).ravel(), _off_diagonal(a).ravel()
    which = np.minimum((scores * bins).astype(np.int64), bins - 1)
    count = np.bincount(which, minlength=bins)
    gap = np.abs(np.bincount(which, scores, bins) - np.bincount(which, labels.astype(float), bins))
    return float(gap.sum() / max(count.sum(), 1))


def all_zeros_score(adj: np.ndarray) -> np.ndarray:
    """:func:`expected_correct` of the empty-graph predictor, ``d^2 - |E|``: ``(B,)``."""
    a = np.asarray(adj).astype(bool)
    if a.ndim == 2:
        a = a[None]
    return a.shape[-1] ** 2 - a.sum(axis=(1, 2))
