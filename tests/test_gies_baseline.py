import itertools

import numpy as np
import pytest

pytest.importorskip("gies")

from gies.utils import is_consistent_extension, replace_unprotected

from benchmarks.gies_baseline import make_heldout_linear
from caasl_gym.baselines.gies import PooledInterventionalBIC, bootstrap_gies, essential_graph_member, gies_estimate
from caasl_gym.simulators.graphs import erdos_renyi


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
    p = bootstrap_gies(np.random.default_rng(1), values, targets, n_boot=10)[1]
    skeleton = p + p.T
    assert skeleton[0, 1] > 0.9 and skeleton[1, 2] > 0.9
    assert skeleton[0, 2] < 0.2
    assert np.all(np.diag(p) == 0) and np.all((p >= 0) & (p <= 1))
    # observational data alone cannot orient a chain: each direction gets about 1/2
    assert p[0, 1] == pytest.approx(p[1, 0], abs=0.2)


def test_interventions_orient_edges():
    values, targets = _chain(np.random.default_rng(2), 200, do_first=100)
    p = bootstrap_gies(np.random.default_rng(3), values, targets, n_boot=10)[1]
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
    p = bootstrap_gies(np.random.default_rng(5), x, targets, n_boot=6)[1]
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
    a = bootstrap_gies(np.random.default_rng(8), values, targets, n_boot=4)
    b = bootstrap_gies(np.random.default_rng(8), values, targets, n_boot=4)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])


def test_particles_are_members_of_the_bootstrapped_classes():
    values, targets = _chain(np.random.default_rng(10), 300)
    particles, probs = bootstrap_gies(np.random.default_rng(11), values, targets, n_boot=12)
    assert particles.shape == (12, 3, 3) and particles.dtype == bool
    rng = np.random.default_rng(11)  # every resample is drawn before any particle
    estimates = [gies_estimate(values[r], targets[r]) for r in [rng.integers(0, 300, 300) for _ in range(12)]]
    np.testing.assert_array_equal(probs, np.mean([np.where(e & e.T, 0.5, e) for e in estimates], axis=0))
    assert all(is_consistent_extension(p.astype(int), e) for p, e in zip(particles, estimates))
    assert len(np.unique(particles, axis=0)) > 2  # random members of the classes


def test_essential_graph_member_is_a_random_member():
    rng = np.random.default_rng(12)
    for dag in erdos_renyi(rng, 10, 6, 1.5):
        essential = replace_unprotected(dag.astype(int), [[], [int(rng.integers(6))]])
        members = np.stack([essential_graph_member(rng, essential) for _ in range(20)])
        assert all(is_consistent_extension(m.astype(int), essential) for m in members)
        assert len(np.unique(members, axis=0)) > 1 or not (essential & essential.T).any()  # or all directed


def test_bad_inputs_raise():
    values, targets = _chain(np.random.default_rng(9), 20)
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="shape"):
        bootstrap_gies(rng, values, targets[:, :2])
    with pytest.raises(ValueError, match="shape"):
        bootstrap_gies(rng, values[0], targets[0])
    with pytest.raises(ValueError, match="bool"):
        bootstrap_gies(rng, values, targets.astype(int))
    bad = values.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="finite"):
        bootstrap_gies(rng, bad, targets)
    with pytest.raises(ValueError, match="n_boot"):
        bootstrap_gies(rng, values, targets, n_boot=0)


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


def test_fast_search_equals_the_package_search():
    from gies import fit as package_fit

    from caasl_gym.baselines import gies_search

    rng = np.random.default_rng(21)
    for dag in erdos_renyi(rng, 3, 6, 2.0):  # dense enough for neighbour subsets, cliques and long paths
        n, d = 40, len(dag)
        weights = dag * rng.choice([-1.0, 1.0], dag.shape) * rng.uniform(0.5, 1.5, dag.shape)
        targets = np.zeros((n, d), bool)
        targets[30:, :] = rng.random((10, d)) < 0.2  # a few rows with random target sets
        noise = rng.standard_normal((n, d))
        x = np.zeros((n, d))
        for _ in range(d):  # a DAG's weights are nilpotent: d passes solve the SCM
            x = np.where(targets, 2.0, x @ weights + noise)
        expected, expected_score = package_fit(PooledInterventionalBIC(x, targets))
        got, got_score = gies_search.fit(PooledInterventionalBIC(x, targets))
        np.testing.assert_array_equal(got, expected)
        assert got_score == expected_score
        assert (expected != 0).sum() > 2  # the search did something


def test_carried_bootstrap_refits_only_some_resamples(monkeypatch):
    import caasl_gym.baselines.gies as gies_module

    values, targets = _chain(np.random.default_rng(30), 40, do_first=3)
    calls = []
    real = gies_module.gies_estimate
    monkeypatch.setattr(gies_module, "gies_estimate", lambda v, t: calls.append(len(v)) or real(v, t))
    carried = gies_module.CarriedBootstrap(refit=2, rows_per_step=1)
    rng = np.random.default_rng(31)
    first = carried.estimates(rng, values[:-1], targets[:-1], 5)
    assert len(calls) == 5  # a history it has not seen: every resample fitted
    second = carried.estimates(rng, values, targets, 5)
    assert len(calls) == 7 and calls[-2:] == [len(values)] * 2  # the extension: 2 fresh resamples of it
    np.testing.assert_array_equal(second[:3], first[2:])  # the 3 newest carried over, oldest dropped first
    carried.estimates(rng, values, targets, 5)  # the same history again is not an extension of itself
    assert len(calls) == 12
    again = gies_module.CarriedBootstrap(refit=2)
    rng = np.random.default_rng(31)
    again.estimates(rng, values[:-1], targets[:-1], 5)
    np.testing.assert_array_equal(again.estimates(rng, values, targets, 5), second)  # the same run, the same answers
    with pytest.raises(ValueError, match="refit must be an integer >= 1, got 0"):
        gies_module.CarriedBootstrap(refit=0)
