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

import hashlib

import numpy as np

from caasl_gym.baselines import gies_search

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

    The search is the ``gies`` package's, with its forward phase sped up without changing the result
    (:func:`caasl_gym.baselines.gies_search.fit`).

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
    estimate, _ = gies_search.fit(PooledInterventionalBIC(values, intervened))
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


def bootstrap_estimates(
    rng: np.random.Generator, values: np.ndarray, intervened: np.ndarray, n_boot: int
) -> np.ndarray:
    """The I-essential graphs ``(K, d, d)`` (:func:`gies_estimate`) of ``K = n_boot`` bootstrap resamples.

    Resample ``k`` draws ``n`` rows with replacement (``rng.integers(0, n, n)``, all resamples first, in
    order); the input checks and errors are :func:`bootstrap_gies`'s.
    """
    values, intervened = _check_inputs(values, intervened)
    if int(n_boot) != n_boot or n_boot < 1:
        raise ValueError(f"n_boot must be a positive integer, got {n_boot}")
    n = len(values)
    resamples = [rng.integers(0, n, n) for _ in range(int(n_boot))]
    return np.stack([gies_estimate(values[rows], intervened[rows]) for rows in resamples])


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
    estimates = bootstrap_estimates(rng, values, intervened, n_boot)  # (K, d, d)
    undirected = (estimates == 1) & (estimates.transpose(0, 2, 1) == 1)
    probs = np.where(undirected, 0.5, estimates.astype(np.float64)).mean(axis=0)
    np.fill_diagonal(probs, 0.0)
    return np.stack([essential_graph_member(rng, est) for est in estimates]), probs


class CarriedBootstrap:
    """Bootstrap estimates carried along an episode: each step refits only ``refit`` of the ``K`` resamples.

    :meth:`estimates` for a history that extends by ``rows_per_step`` rows a history it answered before
    (found by content, so copies of a batch and interleaved episodes are told apart) keeps that answer's
    ``K - refit`` newest estimates and replaces its ``refit`` oldest by :func:`bootstrap_estimates` of
    ``refit`` fresh resamples of the current history; any other history gets all ``K`` fitted fresh. So
    every estimate is at most ``ceil(K / refit) - 1`` steps old, and a design costs ``refit`` GIES runs
    instead of ``K`` after the first step. The answer depends on the history, ``rng`` and which earlier
    histories of the same episode this object answered (an episode run step by step from its start gives
    the same answers every time). At most ``max_entries`` answers are held (the oldest dropped first).

    Args:
        refit: resamples refitted per step, ``>= 1``.
        rows_per_step: rows one step appends (the environment's ``samples_per_step``).
        max_entries: answers held.
    """

    def __init__(self, refit: int, rows_per_step: int = 1, max_entries: int = 4096) -> None:
        for label, v in [("refit", refit), ("rows_per_step", rows_per_step), ("max_entries", max_entries)]:
            if isinstance(v, bool) or int(v) != v or v < 1:
                raise ValueError(f"{label} must be an integer >= 1, got {v!r}")
        self.refit, self.k, self.max_entries = int(refit), int(rows_per_step), int(max_entries)
        self._held: dict[bytes, np.ndarray] = {}

    @staticmethod
    def _key(values: np.ndarray, intervened: np.ndarray) -> bytes:
        digest = hashlib.sha256(np.ascontiguousarray(values, dtype=np.float64).tobytes())
        digest.update(np.ascontiguousarray(intervened, dtype=bool).tobytes())
        digest.update(repr(values.shape).encode())
        return digest.digest()

    def estimates(self, rng: np.random.Generator, values: np.ndarray, intervened: np.ndarray, n_boot: int):
        """``(K, d, d)`` I-essential graphs for the history ``values`` ``(n, d)``, ``intervened`` ``(n, d)``."""
        values, intervened = _check_inputs(values, intervened)
        previous = None
        if len(values) > self.k:
            previous = self._held.pop(self._key(values[: -self.k], intervened[: -self.k]), None)
        if previous is None or len(previous) != n_boot or self.refit >= n_boot:
            estimates = bootstrap_estimates(rng, values, intervened, n_boot)
        else:
            fresh = bootstrap_estimates(rng, values, intervened, self.refit)
            estimates = np.concatenate([previous[self.refit :], fresh])
        self._held[self._key(values, intervened)] = estimates
        while len(self._held) > self.max_entries:
            self._held.pop(next(iter(self._held)))
        return estimates
