"""Bootstrapped GIES: DAG particles and edge probabilities of one history.

:func:`bootstrap_gies` resamples the rows of one history with replacement ``n_boot`` times and runs GIES
(Hauser & Bühlmann 2012; the pure-Python ``gies`` package of the ``baselines`` extra) on every resample.
Each estimate is an I-essential graph; its particle is one DAG of that interventional Markov equivalence
class, and the edge probability of ``(i, j)`` is the fraction of estimates containing ``i -> j``, where an
undirected edge ``i - j`` counts 1/2 for each direction (so ``p_ij + p_ji`` is the skeleton frequency).

Score. The package's stock score (``GaussIntL0Pen``) centres every interventional environment
separately, so an environment with a single row contributes nothing, and the environments' histories are
observational rows plus many one-row designs with distinct targets. :class:`PooledInterventionalBIC`
instead scores node ``j`` by an ordinary least-squares regression of ``x_j`` on ``[1, x_pa(j)]`` over all
rows in which ``j`` is *not* a target, pooled across environments without per-environment centring (one
shared intercept): ``s(j, pa) = -n_j/2 (1 + log RSS/n_j) - log(N)/2 (|pa| + 1)``, with ``n_j`` those rows
and ``N`` all rows. This is the exact Gaussian BIC of a linear SCM under do-interventions. The
interventional environments GIES needs for its I-essential graphs are the distinct target sets of the rows.
"""

from __future__ import annotations

import numpy as np

try:  # optional dependency: the ``baselines`` extra
    from gies import fit as _gies_fit
    from gies.scores import DecomposableScore as _ScoreBase
except ImportError:  # pragma: no cover - exercised only without the extra
    _gies_fit = None
    _ScoreBase = object


class PooledInterventionalBIC(_ScoreBase):
    """Uncentred, pooled interventional Gaussian BIC, a plug-in score for ``gies.fit``.

    The local score of node ``j`` with parents ``pa`` regresses ``x_j`` on ``[1, x_pa]`` over the rows in
    which ``j`` is not intervened on (all environments pooled, one intercept), see the module docstring.

    Args:
        values: ``(n, d)`` float samples.
        intervened: ``(n, d)`` bool, ``intervened[r, j]`` iff variable ``j`` was a target in row ``r``.
        lmbda: penalty per parameter; ``None`` gives BIC, ``log(n) / 2``.

    Attributes:
        p: number of variables ``d`` (required by ``gies.fit``).
        interv: the family of intervention targets (distinct target sets of the rows, as sorted lists),
            used by ``gies`` to compute I-essential graphs.
    """

    def __init__(self, values: np.ndarray, intervened: np.ndarray, lmbda: float | None = None) -> None:
        n, d = values.shape
        self._cache: dict = {}
        self._debug = 0
        self.p = d
        self.interv = [list(map(int, np.flatnonzero(t))) for t in np.unique(intervened, axis=0)]
        self.lmbda = 0.5 * np.log(n) if lmbda is None else float(lmbda)
        z = np.concatenate([np.ones((n, 1)), values], axis=1)  # (n, d + 1), column 0 the intercept
        keep = ~intervened  # (n, d) rows usable for node j
        self.n_free = keep.sum(axis=0).astype(np.float64)  # (d,)
        self.scatter = np.einsum("rj,ra,rb->jab", keep.astype(np.float64), z, z)  # (d, d + 1, d + 1)

    def _compute_local_score(self, x: int, pa) -> float:
        n = self.n_free[x]
        pa = sorted(int(i) for i in pa)
        if n == 0:  # x is a target in every row: its mechanism is never observed
            return -self.lmbda * (len(pa) + 1)
        m = self.scatter[x]
        cols = [0, *[i + 1 for i in pa]]
        s_pp, s_py, s_yy = m[np.ix_(cols, cols)], m[cols, x + 1], m[x + 1, x + 1]
        coef = np.linalg.lstsq(s_pp, s_py, rcond=None)[0]
        rss = s_yy - coef @ s_py
        sigma2 = max(rss / n, 1e-12 * max(s_yy / n, 1e-300))
        return float(-0.5 * n * (1.0 + np.log(sigma2)) - self.lmbda * (len(pa) + 1))

    def full_score(self, adjacency: np.ndarray) -> float:
        """Score of a DAG ``(d, d)`` (``adjacency[i, j] != 0`` iff ``i -> j``): the sum of local scores."""
        return float(sum(self.local_score(j, set(np.flatnonzero(adjacency[:, j]))) for j in range(self.p)))


def _check_inputs(values: np.ndarray, intervened: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    values = np.asarray(values, dtype=np.float64)
    intervened = np.asarray(intervened)
    if values.ndim != 2 or values.shape[0] < 2 or values.shape[1] < 1:
        raise ValueError(f"values must have shape (n >= 2, d >= 1), got {values.shape}")
    if intervened.shape != values.shape:
        raise ValueError(f"intervened must have the shape of values {values.shape}, got {intervened.shape}")
    if intervened.dtype != bool:
        raise ValueError(f"intervened must be a bool array, got dtype {intervened.dtype}")
    if not np.isfinite(values).all():
        raise ValueError("values must be finite (no NaN or inf)")
    return values, intervened


def gies_estimate(values: np.ndarray, intervened: np.ndarray) -> np.ndarray:
    """One GIES run with :class:`PooledInterventionalBIC` (phases forward, backward, turning, iterated).

    Args:
        values: ``(n, d)`` float samples.
        intervened: ``(n, d)`` bool intervention indicators.

    Returns:
        ``(d, d)`` int adjacency of the estimated I-essential graph: ``i -> j`` iff ``[i, j] = 1`` and
        ``[j, i] = 0``; an undirected edge has both entries 1.

    Raises:
        ImportError: without the ``gies`` package (the ``baselines`` extra).
    """
    if _gies_fit is None:  # pragma: no cover
        raise ImportError("the GIES baseline needs the 'gies' package: pip install 'caasl[baselines]'")
    values, intervened = _check_inputs(values, intervened)
    estimate, _ = _gies_fit(PooledInterventionalBIC(values, intervened))
    return (np.asarray(estimate) != 0).astype(np.int64)


def essential_graph_member(rng: np.random.Generator, essential: np.ndarray) -> np.ndarray:
    """A random DAG of the class of an I-essential graph: its undirected edges oriented without v-structures.

    The undirected part of an I-essential graph is chordal, and orienting it along a maximum-cardinality-search
    order (ties broken uniformly by ``rng``) creates neither a v-structure nor a cycle, so the result is a
    member of the class (Hauser & Bühlmann 2012, Thm. 18). Members are not drawn uniformly.

    Args:
        rng: the only source of randomness.
        essential: ``(d, d)`` adjacency as returned by :func:`gies_estimate`.

    Returns:
        ``(d, d)`` bool DAG, ``[i, j]`` iff ``i -> j``.
    """
    est = np.asarray(essential) != 0
    undirected = est & est.T
    d = len(est)
    rank, weight = np.full(d, d), np.zeros(d)
    for t in range(d):  # maximum cardinality search on the undirected part
        free = rank == d
        ties = np.flatnonzero(free & (weight == weight[free].max()))
        v = ties[rng.integers(len(ties))]
        rank[v] = t
        weight += undirected[v]
    return (est & ~est.T) | (undirected & (rank[:, None] < rank[None, :]))


def bootstrap_gies(
    rng: np.random.Generator, values: np.ndarray, intervened: np.ndarray, n_boot: int = 30
) -> tuple[np.ndarray, np.ndarray]:
    """Bootstrapped GIES on one history: DAG particles and edge probabilities.

    Resample ``k`` draws ``n`` rows with replacement (``rng.integers(0, n, n)``, all ``n_boot`` resamples
    first, in order), and GIES with :class:`PooledInterventionalBIC` estimates an I-essential graph from it.
    Particle ``k`` is :func:`essential_graph_member` of estimate ``k`` (drawn from ``rng`` afterwards). In the
    edge probabilities a directed edge ``i -> j`` counts 1 for ``(i, j)``, an undirected ``i - j`` 1/2 for
    each direction.

    Args:
        rng: the only source of randomness (the search itself is deterministic).
        values: ``(n, d)`` float samples, finite.
        intervened: ``(n, d)`` bool, ``intervened[r, j]`` iff variable ``j`` was a target in row ``r``.
        n_boot: number of bootstrap resamples ``K``, ``>= 1``.

    Returns:
        ``(particles, edge_probabilities)``: ``(K, d, d)`` bool DAGs and ``(d, d)`` float64 probabilities in
        ``[0, 1]``, ``[i, j]`` for ``i -> j``, zero diagonal.

    Raises:
        ValueError: on shape or dtype mismatches, non-finite values, fewer than 2 rows or ``n_boot < 1``.
        ImportError: without the ``gies`` package (the ``baselines`` extra).
    """
    values, intervened = _check_inputs(values, intervened)
    if int(n_boot) != n_boot or n_boot < 1:
        raise ValueError(f"n_boot must be a positive integer, got {n_boot}")
    n = len(values)
    resamples = [rng.integers(0, n, n) for _ in range(int(n_boot))]
    estimates = np.stack([gies_estimate(values[rows], intervened[rows]) for rows in resamples])  # (K, d, d)
    undirected = (estimates == 1) & (estimates.transpose(0, 2, 1) == 1)
    probs = np.where(undirected, 0.5, estimates.astype(np.float64)).mean(axis=0)
    np.fill_diagonal(probs, 0.0)
    return np.stack([essential_graph_member(rng, est) for est in estimates]), probs
