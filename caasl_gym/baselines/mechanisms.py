"""Linear-Gaussian mechanisms for posterior particles: sampling them, fitting them, and simulating designs.

A particle is a DAG ``A`` ``(d, d)`` with weights ``W`` ``(d, d)`` (``W[i, j]`` the weight of ``i -> j``,
zero off the graph) and noise variances ``t`` ``(d,)``. The likelihood-based designers draw particles
from a posterior over graphs, then simulate candidate experiments under each (:func:`simulate_rows`)
and score them (:func:`row_log_likelihood`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from caasl_gym.reward.exact import ExactLinearPosterior, LinearPrior

_LOG_T = np.linspace(math.log(1e-4), math.log(1e3), 1201)
"""Grid over ``log t`` for the conditional noise posterior of non-root nodes."""


def history(obs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The filled rows of one observation ``(N, d, 3)``: values ``(n, d)`` float64, targets ``(n, d)`` bool."""
    obs = np.asarray(obs)
    if obs.ndim != 3 or obs.shape[-1] != 3:
        raise ValueError(f"an observation must have shape (N, d, 3), got {obs.shape}")
    filled = obs[:, 0, 2] > 0
    return obs[filled, :, 0].astype(np.float64), obs[filled, :, 1] > 0


class PerHistoryDesigner:
    """``act`` of the designers that design for one history at a time: copy ``b`` by ``design(obs[b], rngs[b])``."""

    def design(self, obs: np.ndarray, rng: np.random.Generator) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def act(self, obs: np.ndarray, rngs: Sequence[np.random.Generator]) -> np.ndarray:
        """Actions ``(B, d, 2)`` for the histories ``obs`` ``(B, N, d, 3)``; copy ``b`` draws from ``rngs[b]``."""
        if len(obs) != len(rngs):
            raise ValueError(f"need one generator per history, got {len(rngs)} for {len(obs)}")
        return np.stack([self.design(o, rng) for o, rng in zip(obs, rngs)]).astype(np.float32)


def sample_mechanisms(
    prior: LinearPrior,
    values: np.ndarray,
    intervened: np.ndarray,
    dags: np.ndarray,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Weights and noise variances from their posterior given each DAG, under the ``CausalLinear`` prior.

    The model of :class:`~caasl_gym.reward.exact.ExactLinearPosterior`: node ``j`` with parents ``S``
    (``k = |S|``), over the rows where ``j`` is not a target, has ``y = X_S w + e``, ``e ~ N(0, t I)``,
    ``w ~ N(mu 1, c(t) I)``, ``c(t) = max(1 - t, 0.05) / k``, ``t ~ InvGamma(alpha, beta)``. Roots draw
    ``t`` from its conjugate posterior; other nodes draw ``t`` from its marginal posterior on a fine
    ``log t`` grid (jittered within the cell), then ``w | t`` from its Gaussian posterior.

    Args:
        prior: the prior's parameters.
        values: ``(n, d)`` one history's values.
        intervened: ``(n, d)`` bool do-targets of its rows.
        dags: ``(M, d, d)`` bool graphs (e.g. from :meth:`ExactLinearPosterior.sample_dags`).
        rng: the only source of randomness.

    Returns:
        weights ``(M, d, d)`` float64 and noise variances ``(M, d)`` float64.
    """
    m_count, d, _ = dags.shape
    alpha, rate, mu = prior.noise_concentration, prior.noise_rate, prior.weight_mean
    scorer = ExactLinearPosterior(prior)
    weights = np.zeros((m_count, d, d))
    noise = np.zeros((m_count, d))
    cell = _LOG_T[1] - _LOG_T[0]
    for j in range(d):
        rows = ~intervened[:, j]
        y, x_all = values[rows, j], values[rows]
        n = len(y)
        for m in range(m_count):
            parents = np.flatnonzero(dags[m, :, j])
            k = len(parents)
            if k == 0:
                noise[m, j] = 1.0 / rng.gamma(alpha + n / 2, 1.0 / (rate + y @ y / 2))
                continue
            x = x_all[:, parents]
            gram, xty = x.T @ x, x.T @ y
            resid = y - mu * x.sum(axis=1)
            evals, evecs = np.linalg.eigh(gram)
            proj2 = (evecs.T @ (x.T @ resid)) ** 2
            f = torch.float64
            log_post = scorer._integrand(
                torch.tensor(resid @ resid, dtype=f),
                torch.tensor(proj2, dtype=f),
                torch.tensor(np.clip(evals, 0.0, None), dtype=f),
                torch.tensor(float(n), dtype=f),
                k,
                torch.tensor(_LOG_T, dtype=f),
            ).numpy()
            w = np.exp(log_post - log_post.max())
            log_t = _LOG_T[rng.choice(len(w), p=w / w.sum())] + cell * (rng.random() - 0.5)
            t = math.exp(log_t)
            c = max(1.0 - t, 0.05) / k
            precision = gram / t + np.eye(k) / c
            chol = np.linalg.cholesky(precision)
            mean = np.linalg.solve(precision, xty / t + mu / c)
            weights[m, parents, j] = mean + np.linalg.solve(chol.T, rng.standard_normal(k))
            noise[m, j] = t
    return weights, noise


def fit_mechanisms(values: np.ndarray, intervened: np.ndarray, dags: np.ndarray, ridge: float = 1e-6):
    """Least-squares weights and residual variances of each DAG (rows where a node is a target excluded).

    Args:
        values: ``(n, d)``; intervened: ``(n, d)`` bool; dags: ``(M, d, d)`` bool.
        ridge: added to the Gram matrix's diagonal (keeps collinear parents solvable).

    Returns:
        weights ``(M, d, d)`` and noise variances ``(M, d)`` (floored at ``1e-4``).
    """
    m_count, d, _ = dags.shape
    weights, noise = np.zeros((m_count, d, d)), np.ones((m_count, d))
    for j in range(d):
        rows = ~intervened[:, j]
        y, x_all = values[rows, j], values[rows]
        for m in range(m_count):
            parents = np.flatnonzero(dags[m, :, j])
            r = y
            if len(parents):
                x = x_all[:, parents]
                w = np.linalg.solve(x.T @ x + ridge * np.eye(len(parents)), x.T @ y)
                weights[m, parents, j], r = w, y - x @ w
            noise[m, j] = max(float(r @ r) / max(len(y), 1), 1e-4)
    return weights, noise


def simulate_rows(
    weights: np.ndarray, noise: np.ndarray, targets: np.ndarray, values: np.ndarray, eps: np.ndarray
) -> np.ndarray:
    """Rows under do-interventions, for every candidate design and particle.

    Args:
        weights: ``(M, d, d)``; noise: ``(M, d)`` variances.
        targets: ``(C, d)`` bool; values: ``(C, d)`` do-values.
        eps: ``(..., M, d)`` standard-normal noise broadcast against ``(C, M, d)`` (shared across
            candidates gives common random numbers; e.g. ``(S, 1, M, d)`` for ``S`` rows of each).

    Returns:
        ``(..., C, M, d)`` rows (the broadcast shape): ``x_j = value_j`` for targets, else
        ``sum_i W_ij x_i + sqrt(t_j) eps_j``.
    """
    d = weights.shape[-1]
    tg, val = targets[:, None, :], values[:, None, :]
    exo = np.sqrt(noise)[None] * eps
    x = np.where(tg, val, exo)
    for _ in range(d):  # a DAG's weights are nilpotent: d passes reach the fixed point exactly
        x = np.where(tg, val, np.einsum("...mi,mij->...mj", x, weights) + exo)
    return x


def row_log_likelihood(weights: np.ndarray, noise: np.ndarray, rows: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """``log p(row | particle)`` of every row under every particle, the targets' factors left out.

    Args:
        weights: ``(M, d, d)``; noise: ``(M, d)``.
        rows: ``(C, R, d)`` rows of candidate ``c``; targets: ``(C, d)`` bool.

    Returns:
        ``(C, R, M)``.
    """
    mean = np.einsum("cri,mij->crmj", rows, weights)  # (C, R, M, d)
    z = (rows[:, :, None, :] - mean) ** 2 / noise[None, None]
    terms = -0.5 * (z + np.log(2 * math.pi * noise)[None, None])
    return np.where(targets[:, None, None, :], 0.0, terms).sum(axis=-1)
