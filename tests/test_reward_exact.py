"""The exact linear-SCM posterior: DP against enumeration, local scores against quadrature, DAG samples."""

from __future__ import annotations

import itertools
import math
import warnings

import gymnasium as gym
import numpy as np
import pytest
from scipy import integrate, stats

import caasl_gym  # noqa: F401  (registers the ids)
from caasl_gym.reward import ExactLinearPosterior, LinearPrior, load_reward_model
from caasl_gym.reward.exact import MAX_EXACT_NODES, erdos_renyi_edge_probability
from caasl_gym.simulators.graphs import is_acyclic
from caasl_gym.simulators.linear import sample_linear_params, simulate_linear


def _histories(seed: int, batch: int, d: int, n_obs: int = 15, n_int: int = 6, weight_mean: float = 0.0):
    rng = np.random.default_rng(seed)
    params = sample_linear_params(rng, batch, d, weight_mean=weight_mean)
    targets = np.zeros((batch, n_obs + n_int, d), dtype=bool)
    targets[:, n_obs:] = rng.random((batch, n_int, d)) < 0.5
    x = simulate_linear(rng, params, targets, rng.uniform(-1, 1, targets.shape))
    return x, targets, params.adjacency


def _linear_extensions(adj: np.ndarray) -> int:
    d = adj.shape[0]
    edges = list(zip(*np.nonzero(adj), strict=True))
    return sum(all(p.index(i) < p.index(j) for i, j in edges) for p in itertools.permutations(range(d)))


def _brute_force(log_scores: np.ndarray) -> np.ndarray:
    """Edge marginals by enumerating every DAG, weighted by its number of orders (the graph prior)."""
    d = log_scores.shape[0]
    pairs = [(i, j) for i in range(d) for j in range(d) if i != j]
    logs, graphs = [], []
    for bits in itertools.product((False, True), repeat=len(pairs)):
        adj = np.zeros((d, d), dtype=bool)
        for (i, j), on in zip(pairs, bits, strict=True):
            adj[i, j] = on
        if not is_acyclic(adj):
            continue
        parents = [sum(1 << i for i in range(d) if adj[i, j]) for j in range(d)]
        logs.append(math.log(_linear_extensions(adj)) + sum(log_scores[j, parents[j]] for j in range(d)))
        graphs.append(adj)
    w = np.exp(np.array(logs) - max(logs))
    return np.einsum("g,gij->ij", w / w.sum(), np.array(graphs, dtype=float))


@pytest.mark.parametrize("d", [3, 4])
def test_dp_matches_enumeration_of_every_dag(d: int) -> None:
    x, iv, _ = _histories(0, 2, d)
    model = ExactLinearPosterior()
    probs = model.edge_probabilities(x, iv)
    scores = model.log_local_scores(x, iv)
    for b in range(2):
        np.testing.assert_allclose(probs[b], _brute_force(scores[b]), atol=1e-10, rtol=0)
    assert np.all(np.diagonal(probs, axis1=1, axis2=2) == 0)


@pytest.mark.parametrize("weight_mean", [0.0, 0.1])
def test_local_score_matches_direct_quadrature(weight_mean: float) -> None:
    """log of (p/(1-p))^k * int N(y; mu X 1, t I + c(t) X X^T) InvGamma(t; 10, 1) dt, rows where j is no target."""
    d = 4
    x, iv, _ = _histories(1, 1, d, weight_mean=weight_mean)
    model = ExactLinearPosterior(LinearPrior(weight_mean=weight_mean))
    scores = model.log_local_scores(x, iv)[0]
    p = erdos_renyi_edge_probability(d, 3.0)
    prior = stats.invgamma(10.0, scale=1.0)
    for j, parents in [(0, ()), (1, (0,)), (3, (0, 2)), (2, (0, 1, 3))]:
        rows = ~iv[0, :, j]
        y, xs = x[0, rows, j], x[0][rows][:, list(parents)]
        k = len(parents)
        mean = weight_mean * xs.sum(axis=1)

        def density(t, y=y, xs=xs, k=k, mean=mean):
            c = max(1.0 - t, 0.05) / k if k else 0.0
            cov = t * np.eye(len(y)) + c * xs @ xs.T
            return stats.multivariate_normal(mean, cov).pdf(y) * prior.pdf(t)

        value, _ = integrate.quad(density, 1e-4, 50.0, points=[0.05, 0.1, 0.2, 0.5], limit=200, epsabs=0)
        expected = math.log(value) + k * math.log(p / (1 - p))
        mask = sum(1 << i for i in parents)
        assert scores[j, mask] == pytest.approx(expected, abs=1e-7)


def test_dag_samples_follow_the_edge_marginals_and_are_reproducible() -> None:
    x, iv, _ = _histories(2, 2, 5)
    model = ExactLinearPosterior()
    probs = model.edge_probabilities(x, iv)
    samples = model.sample_dags(x, iv, None, 4000, np.random.default_rng(0))
    assert samples.shape == (2, 4000, 5, 5) and samples.dtype == bool
    assert is_acyclic(samples.reshape(-1, 5, 5)).all()
    np.testing.assert_allclose(samples.mean(axis=1), probs, atol=0.035)
    again = model.sample_dags(x, iv, None, 4000, np.random.default_rng(0))
    np.testing.assert_array_equal(samples, again)


def test_padding_row_order_and_variable_labels() -> None:
    x, iv, _ = _histories(3, 3, 6)
    model = ExactLinearPosterior()
    probs = model.edge_probabilities(x, iv)
    # padding rows (any content) never change the result
    xp = np.concatenate([x, np.full((3, 4, 6), 1e3)], axis=1)
    ivp = np.concatenate([iv, np.ones((3, 4, 6), dtype=bool)], axis=1)
    mask = np.ones(xp.shape[:2], dtype=bool)
    mask[:, -4:] = False
    np.testing.assert_allclose(model.edge_probabilities(xp, ivp, mask), probs, atol=1e-12)
    # rows are exchangeable; relabelling variables relabels the posterior
    rows = np.random.default_rng(0).permutation(x.shape[1])
    np.testing.assert_allclose(model.edge_probabilities(x[:, rows], iv[:, rows]), probs, atol=1e-10)
    perm = np.array([3, 0, 5, 1, 4, 2])
    permuted = model.edge_probabilities(x[:, :, perm], iv[:, :, perm])
    np.testing.assert_allclose(permuted, probs[:, perm][:, :, perm], atol=1e-10)


def test_quadrature_is_converged() -> None:
    x, iv, _ = _histories(4, 2, 7, n_obs=50, n_int=10)
    coarse = ExactLinearPosterior().edge_probabilities(x, iv)
    fine = ExactLinearPosterior(points=200, window=14.0).edge_probabilities(x, iv)
    np.testing.assert_allclose(coarse, fine, atol=1e-8)


def test_more_data_concentrates_on_the_truth() -> None:
    x, iv, adj = _histories(5, 4, 6, n_obs=400, n_int=0)
    probs = ExactLinearPosterior().edge_probabilities(x, iv)
    skeleton = adj | np.swapaxes(adj, 1, 2)
    pair = probs + np.swapaxes(probs, 1, 2)
    assert np.abs(pair - skeleton)[:, ~np.eye(6, dtype=bool)].mean() < 0.05


def test_bad_inputs_raise_clear_errors() -> None:
    model = load_reward_model("exact")
    assert isinstance(model, ExactLinearPosterior) and model.domain == "linear"
    d = MAX_EXACT_NODES + 1
    with pytest.raises(ValueError, match=r"d <= 12"):
        model.edge_probabilities(np.zeros((1, 5, d)), np.zeros((1, 5, d), dtype=bool))
    with pytest.raises(ValueError, match="finite"):
        model.edge_probabilities(np.full((1, 5, 3), np.nan), np.zeros((1, 5, 3), dtype=bool))
    with pytest.raises(ValueError, match="points"):
        ExactLinearPosterior(points=1)
    with pytest.raises(ValueError, match="n_samples"):
        model.sample_dags(np.zeros((1, 5, 3)), np.zeros((1, 5, 3), dtype=bool), None, 0, np.random.default_rng(0))


def test_environments_take_the_exact_reward_model() -> None:
    env = gym.make("CausalLinear-v0", reward_model="exact", budget=2)
    _, info = env.reset(seed=0)
    expected = ExactLinearPosterior().edge_probabilities(
        env.unwrapped._core.history[:, :50, :, 0], env.unwrapped._core.history[:, :50, :, 1] > 0
    )
    np.testing.assert_allclose(env.unwrapped._core.probs, expected, atol=1e-12)
    assert info["score"] > 0
    _, reward, *_ = env.step(env.action_space.sample())
    assert np.isfinite(reward)
    with pytest.raises(ValueError, match="d <= 12"):
        gym.make("CausalLinear-OOD-D20-v0", reward_model="exact")
    with pytest.raises(ValueError, match="linear SCMs only"):
        gym.make("SergioKnockout-v0", reward_model="exact")
    with pytest.raises(ValueError, match="'sergio' domain"):
        gym.make("CausalLinear-v0", reward_model="sergio")


def test_mismatched_mechanisms_warn_once_and_weight_mean_is_exact() -> None:
    from caasl_gym.reward import exact

    exact._WARNED.clear()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        gym.make("CausalLinear-OOD-Hetero-v0", reward_model="exact")
        gym.make("CausalLinear-OOD-Hetero-v0", reward_model="exact")
    assert len(caught) == 1 and "noise='heteroskedastic'" in str(caught[0].message)
    env = gym.make("CausalLinear-v0", reward_model="exact", weight_mean=0.1)
    assert env.unwrapped._core.model.prior.weight_mean == 0.1
