import numpy as np
import pytest

from caasl_gym.simulators.graphs import (
    GRAPH_PRIORS,
    erdos_renyi,
    is_acyclic,
    sample_graphs,
    scale_free,
    topological_depth,
)


@pytest.mark.parametrize("prior", GRAPH_PRIORS)
@pytest.mark.parametrize("batch", [1, 4])
@pytest.mark.parametrize("d", [2, 5, 10, 30])
def test_shapes_acyclic_no_self_loops(prior, batch, d):
    adj = sample_graphs(np.random.default_rng(0), batch, d, prior)
    assert adj.shape == (batch, d, d) and adj.dtype == bool
    assert is_acyclic(adj).all()
    assert not np.diagonal(adj, axis1=1, axis2=2).any()


def test_erdos_renyi_edge_count():
    d, batch = 10, 4000
    adj = erdos_renyi(np.random.default_rng(1), batch, d, 3.0)
    counts = adj.sum(axis=(1, 2))
    p = 30 / 45
    se = np.sqrt(45 * p * (1 - p) / batch)
    assert abs(counts.mean() - 30) < 5 * se
    # edge probability capped at 0.99 for small d
    small = erdos_renyi(np.random.default_rng(2), 2000, 4, 3.0).sum(axis=(1, 2))
    assert abs(small.mean() - 6 * 0.99) < 0.05


def test_scale_free_structure():
    d, m = 10, 3
    adj = scale_free(np.random.default_rng(3), 2000, d, m)
    counts = adj.sum(axis=(1, 2))
    assert (counts == sum(min(m, t) for t in range(d))).all()  # deterministic edge count
    # preferential attachment: in-degrees are far more skewed than out-degrees (at most m each)
    assert adj.sum(axis=2).max() <= m
    assert np.sort(adj.sum(axis=1), axis=1)[:, -1].mean() > 5


def test_random_order_and_seeding():
    a = erdos_renyi(np.random.default_rng(5), 500, 6)
    # node 0 is not always a root: the topological order is randomised per graph
    roots0 = (~a[:, :, 0].any(axis=1)).mean()
    assert 0.05 < roots0 < 0.95
    np.testing.assert_array_equal(a, erdos_renyi(np.random.default_rng(5), 500, 6))
    assert not np.array_equal(a, erdos_renyi(np.random.default_rng(6), 500, 6))


def test_acyclicity_detects_cycles_and_depth_orders():
    g = np.zeros((2, 3, 3), dtype=bool)
    g[:, 0, 1] = g[:, 1, 2] = True
    g[1, 2, 0] = True
    np.testing.assert_array_equal(is_acyclic(g), [True, False])
    np.testing.assert_array_equal(topological_depth(g[:1]), [[0, 1, 2]])


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(batch=2, d=1, prior="erdos_renyi"), "d must be >= 2"),
        (dict(batch=0, d=5, prior="erdos_renyi"), "batch"),
        (dict(batch=2, d=5, prior="small_world"), "erdos_renyi, scale_free"),
    ],
)
def test_invalid_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        sample_graphs(np.random.default_rng(0), **kwargs)
