import itertools

import numpy as np
import pytest

pytest.importorskip("gies")

from benchmarks.gies_baseline import (
    PooledInterventionalBIC,
    gies_edge_probabilities,
    make_heldout_linear,
)


def _chain(rng: np.random.Generator, n: int, do_first: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` observational rows of 0 -> 1 -> 2, then ``do_first`` rows with do(x0 = U(-2, 2))."""
    m = n + do_first
    targets = np.zeros((m, 3), bool)
    targets[n:, 0] = True
    x0 = np.where(targets[:, 0], rng.uniform(-2, 2, m), rng.standard_normal(m))
    x1 = 0.9 * x0 + 0.5 * rng.standard_normal(m)
    x2 = -0.8 * x1 + 0.5 * rng.standard_normal(m)
    return np.stack([x0, x1, x2], axis=1), targets


def test_chain_skeleton_recovered():
    values, targets = _chain(np.random.default_rng(0), 500)
    p = gies_edge_probabilities(np.random.default_rng(1), values, targets, n_boot=10)
    skeleton = p + p.T
    assert skeleton[0, 1] > 0.9 and skeleton[1, 2] > 0.9
    assert skeleton[0, 2] < 0.2
    assert np.all(np.diag(p) == 0) and np.all((p >= 0) & (p <= 1))
    # observational data alone cannot orient a chain: each direction gets about 1/2
    assert p[0, 1] == pytest.approx(p[1, 0], abs=0.2)


def test_interventions_orient_edges():
    values, targets = _chain(np.random.default_rng(2), 200, do_first=100)
    p = gies_edge_probabilities(np.random.default_rng(3), values, targets, n_boot=10)
    assert p[0, 1] > 0.9 > 0.1 > p[1, 0]
    assert p[1, 2] > 0.9 > 0.1 > p[2, 1]


def test_single_row_interventions_are_used():
    # 16 one-row environments with distinct target sets {1} | S, S a subset of {2..5}; truth 1 -> 0
    rng = np.random.default_rng(4)
    subsets = [s for k in range(5) for s in itertools.combinations(range(2, 6), k)]
    n, m = 100, 100 + len(subsets)
    targets = np.zeros((m, 6), bool)
    for r, s in enumerate(subsets):
        targets[n + r, [1, *s]] = True
    x = rng.standard_normal((m, 6))
    x = np.where(targets, rng.uniform(-2, 2, (m, 6)), x)
    x[:, 0] = 0.9 * x[:, 1] + 0.5 * x[:, 0]
    p = gies_edge_probabilities(np.random.default_rng(5), x, targets, n_boot=6)
    assert p[1, 0] > 0.9 > 0.1 > p[0, 1]
    assert (p[2:, 2:] + p[2:, 2:].T)[np.triu_indices(4, 1)].mean() < 0.25  # independent bystanders: few edges


def test_pooled_score_is_ols_bic():
    values, targets = _chain(np.random.default_rng(6), 80, do_first=20)
    score = PooledInterventionalBIC(values, targets)
    keep = ~targets[:, 0]  # node 0 is never used where it is a target
    keep1 = ~targets[:, 1]
    z = np.c_[np.ones(keep1.sum()), values[keep1, 0]]
    resid = values[keep1, 1] - z @ np.linalg.lstsq(z, values[keep1, 1], rcond=None)[0]
    n = keep1.sum()
    expected = -0.5 * n * (1 + np.log(resid @ resid / n)) - 0.5 * np.log(len(values)) * 2
    assert score.local_score(1, {0}) == pytest.approx(expected)
    assert score.n_free[0] == keep.sum() and score.n_free[1] == len(values)
    assert sorted(score.interv) == [[], [0]]


def test_deterministic_given_rng():
    values, targets = _chain(np.random.default_rng(7), 60, do_first=5)
    a = gies_edge_probabilities(np.random.default_rng(8), values, targets, n_boot=4)
    b = gies_edge_probabilities(np.random.default_rng(8), values, targets, n_boot=4)
    np.testing.assert_array_equal(a, b)


def test_bad_inputs_raise():
    values, targets = _chain(np.random.default_rng(9), 20)
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="shape"):
        gies_edge_probabilities(rng, values, targets[:, :2])
    with pytest.raises(ValueError, match="shape"):
        gies_edge_probabilities(rng, values[0], targets[0])
    with pytest.raises(ValueError, match="bool"):
        gies_edge_probabilities(rng, values, targets.astype(int))
    bad = values.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="finite"):
        gies_edge_probabilities(rng, bad, targets)
    with pytest.raises(ValueError, match="n_boot"):
        gies_edge_probabilities(rng, values, targets, n_boot=0)


def test_heldout_datasets_reproducible():
    params, h0, h10 = make_heldout_linear(3)
    params2, _, h10b = make_heldout_linear(3)
    np.testing.assert_array_equal(h10.values, h10b.values)
    np.testing.assert_array_equal(params.adjacency, params2.adjacency)
    assert h0.values.shape == (3, 50, 10) and h10.values.shape == (3, 60, 10)
    np.testing.assert_array_equal(h0.values, h10.values[:, :50])
    assert not h10.targets[:, :50].any() and h10.targets[:, 50:].any()
    assert np.all(h10.design_values[~h10.targets] == 0)
    on = h10.targets
    np.testing.assert_array_equal(h10.values[on], h10.design_values[on])  # do-interventions clamp
