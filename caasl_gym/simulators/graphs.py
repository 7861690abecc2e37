"""Batched priors over directed acyclic graphs.

Adjacency convention everywhere in caasl: ``adj[b, i, j]`` is True iff model ``b`` has the edge
``i -> j`` (row = parent, column = child). Diagonals are always False.
"""

from __future__ import annotations

import numpy as np

GRAPH_PRIORS = ("erdos_renyi", "scale_free")
"""Names accepted by :func:`sample_graphs`."""


def _check_common(batch: int, d: int) -> None:
    if int(batch) < 1:
        raise ValueError(f"batch must be >= 1, got {batch}")
    if int(d) < 2:
        raise ValueError(f"the number of variables d must be >= 2, got {d}")


def _random_relabel(rng: np.random.Generator, adj: np.ndarray) -> np.ndarray:
    """Apply an independent uniformly random node relabelling to each graph.

    Args:
        adj: ``(B, d, d)`` bool.

    Returns:
        ``(B, d, d)`` bool with ``out[b, i, j] = adj[b, perm_b[i], perm_b[j]]``.
    """
    batch, d, _ = adj.shape
    perm = rng.permuted(np.broadcast_to(np.arange(d), (batch, d)), axis=1)  # (B, d)
    rows = np.arange(batch)[:, None, None]
    return adj[rows, perm[:, :, None], perm[:, None, :]]


def erdos_renyi(rng: np.random.Generator, batch: int, d: int, edges_per_node: float = 3.0) -> np.ndarray:
    """Erdős–Rényi DAGs with ``edges_per_node * d`` edges in expectation.

    Each of the ``d(d-1)/2`` pairs of a random topological order carries an edge with probability
    ``p = min(edges_per_node * d / (d(d-1)/2), 0.99)``.

    Args:
        rng: the only source of randomness.
        batch: number of graphs ``B``.
        d: number of variables.
        edges_per_node: expected number of edges per node (expected in-degree).

    Returns:
        ``(B, d, d)`` bool adjacency, acyclic, randomly ordered.
    """
    _check_common(batch, d)
    if not edges_per_node > 0:
        raise ValueError(f"edges_per_node must be > 0, got {edges_per_node}")
    p = min(edges_per_node * d / (d * (d - 1) / 2), 0.99)
    lower = np.tril(np.ones((d, d), dtype=bool), k=-1)
    adj = (rng.random((batch, d, d)) < p) & lower  # edges from later to earlier index: a DAG
    return _random_relabel(rng, adj)


def scale_free(rng: np.random.Generator, batch: int, d: int, edges_per_node: int = 3) -> np.ndarray:
    """Barabási–Albert DAGs (linear preferential attachment), randomly relabelled.

    Nodes arrive one at a time; node ``t`` draws ``min(edges_per_node, t)`` distinct earlier nodes
    with probability proportional to ``in_degree + 1`` and adds an edge ``t -> earlier``. Early nodes
    collect many parents, so in-degrees follow a power law (as with igraph's ``Barabasi`` used by
    AVICI and CAASL). Vectorised over the batch with the Gumbel-top-k trick.

    Args:
        rng: the only source of randomness.
        batch: number of graphs ``B``.
        d: number of variables.
        edges_per_node: edges added per arriving node (an int >= 1).

    Returns:
        ``(B, d, d)`` bool adjacency, acyclic, randomly ordered.
    """
    _check_common(batch, d)
    m = int(edges_per_node)
    if m != edges_per_node or m < 1:
        raise ValueError(f"edges_per_node must be a positive integer for scale_free, got {edges_per_node}")
    adj = np.zeros((batch, d, d), dtype=bool)
    in_degree = np.zeros((batch, d))
    for t in range(1, d):
        k = min(m, t)
        keys = np.log(in_degree[:, :t] + 1.0) + rng.gumbel(size=(batch, t))  # (B, t)
        chosen = np.argpartition(-keys, k - 1, axis=1)[:, :k]  # (B, k) top-k without replacement
        rows = np.arange(batch)[:, None]
        adj[rows, t, chosen] = True
        in_degree[rows, chosen] += 1.0
    return _random_relabel(rng, adj)


def sample_graphs(
    rng: np.random.Generator, batch: int, d: int, prior: str = "erdos_renyi", edges_per_node: float = 3.0
) -> np.ndarray:
    """Sample ``(B, d, d)`` bool DAGs from a named prior (one of :data:`GRAPH_PRIORS`)."""
    if prior == "erdos_renyi":
        return erdos_renyi(rng, batch, d, edges_per_node)
    if prior == "scale_free":
        return scale_free(rng, batch, d, round(edges_per_node))
    raise ValueError(f"unknown graph prior {prior!r}; valid choices: {', '.join(GRAPH_PRIORS)}")


def is_acyclic(adj: np.ndarray) -> np.ndarray:
    """Whether each graph is a DAG.

    Args:
        adj: ``(B, d, d)`` (or ``(d, d)``) bool adjacency.

    Returns:
        ``(B,)`` bool (or a scalar bool for a single graph).
    """
    a = np.asarray(adj).astype(np.float64)
    d = a.shape[-1]
    reach = a.copy()
    for _ in range(int(np.ceil(np.log2(max(d, 2))))):  # reach = A + A^2 + ... up to paths of length >= d
        reach = np.minimum(reach + reach @ reach, 1.0)
    return np.trace(reach, axis1=-2, axis2=-1) == 0


def topological_depth(adj: np.ndarray) -> np.ndarray:
    """Longest-path distance from a root for every node (roots have depth 0).

    Args:
        adj: ``(B, d, d)`` bool adjacency of DAGs.

    Returns:
        ``(B, d)`` int; sorting nodes by depth gives a topological order.
    """
    a = np.asarray(adj, dtype=bool)
    depth = np.zeros(a.shape[:-1], dtype=np.int64)
    for _ in range(a.shape[-1]):
        # depth_j = max over parents i of depth_i + 1
        cand = np.where(a, depth[..., :, None] + 1, 0).max(axis=-2)
        if np.array_equal(cand, depth):
            break
        depth = cand
    return depth
