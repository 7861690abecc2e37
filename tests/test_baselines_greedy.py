"""The exact-posterior greedy designer and the particle mechanisms it simulates."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from scipy import stats

from caasl_gym.baselines.greedy import GreedyExactDesigner
from caasl_gym.baselines.mechanisms import fit_mechanisms, row_log_likelihood, sample_mechanisms, simulate_rows
from caasl_gym.envs.linear import CausalLinearConfig
from caasl_gym.reward.exact import LinearPrior

W = np.array([[0.0, 0.8, 0.0], [0.0, 0.0, -0.6], [0.0, 0.0, 0.0]])  # 0 -> 1 -> 2
T = np.array([0.2, 0.3, 0.25])


def _chain_data(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    eps = np.random.default_rng(seed).standard_normal((1, n, 3))
    rows = simulate_rows(W[None], T[None], np.zeros((1, 3), bool), np.zeros((1, 3)), eps.transpose(1, 0, 2))
    return rows[:, 0], np.zeros((n, 3), bool)  # (n, 3)


def test_simulate_rows_solves_the_scm_and_clamps_targets():
    eps = np.random.default_rng(1).standard_normal((1, 1, 3))
    targets = np.array([[False, False, False], [False, True, False]])
    rows = simulate_rows(W[None], T[None], targets, np.array([[0.0, 0.0, 0.0], [0.0, 2.0, 0.0]]), eps)  # (2, 1, 3)
    e = np.sqrt(T) * eps[0, 0]
    np.testing.assert_allclose(rows[0, 0], e @ np.linalg.inv(np.eye(3) - W))
    np.testing.assert_allclose(rows[1, 0], [e[0], 2.0, -0.6 * 2.0 + e[2]])


def test_row_log_likelihood_is_the_joint_gaussian_density():
    x = np.random.default_rng(2).standard_normal((1, 4, 3))
    inv = np.linalg.inv(np.eye(3) - W)
    cov = inv.T @ np.diag(T) @ inv
    expected = stats.multivariate_normal(np.zeros(3), cov).logpdf(x[0])
    np.testing.assert_allclose(row_log_likelihood(W[None], T[None], x, np.zeros((1, 3), bool))[0, :, 0], expected)


def test_sampled_and_fitted_mechanisms_recover_the_truth():
    values, intervened = _chain_data(4000)
    dags = np.repeat((W != 0)[None], 200, axis=0)
    weights, noise = sample_mechanisms(LinearPrior(), values, intervened, dags, np.random.default_rng(3))
    assert (weights[:, W == 0] == 0).all()
    np.testing.assert_allclose(weights.mean(0), W, atol=0.03)
    np.testing.assert_allclose(noise.mean(0), T, rtol=0.1)
    fit_w, fit_t = fit_mechanisms(values, intervened, dags[:1])
    np.testing.assert_allclose(fit_w[0], W, atol=0.03)
    np.testing.assert_allclose(fit_t[0], T, rtol=0.1)


def _obs(env_id: str = "CausalLinear-v0", seed: int = 0, **kwargs) -> np.ndarray:
    env = gym.make(env_id, num_nodes=4, n_initial=30, budget=2, reward_model="linear", **kwargs)
    return env.reset(seed=seed)[0]


@pytest.mark.parametrize("criterion", ["eig", "score"])
def test_designs_are_valid_deterministic_and_batch_independent(criterion):
    designer = GreedyExactDesigner(n_samples=4, n_candidates=8, criterion=criterion)
    obs = np.stack([_obs(seed=0), _obs(seed=1)])
    batch = designer.act(obs, [np.random.default_rng(5), np.random.default_rng(6)])
    assert batch.shape == (2, 4, 2) and batch.dtype == np.float32 and np.abs(batch).max() <= 1.0
    singles = [designer.act(obs[i : i + 1], [np.random.default_rng(5 + i)])[0] for i in range(2)]
    np.testing.assert_array_equal(batch, np.stack(singles))


def test_an_intervention_beats_more_observational_data():
    # with plenty of observational data the open question is the orientation, which only targets answer
    designer = GreedyExactDesigner(n_samples=16, n_candidates=12, criterion="eig")
    obs = np.zeros((1, 300, 3, 3), np.float32)
    obs[0, :, :, 0], obs[0, :, :, 2] = _chain_data(300)[0], 1.0
    action = designer.act(obs, [np.random.default_rng(0)])[0]
    assert (action[:, 0] > 0).any()


def test_bad_arguments_name_the_valid_choices():
    with pytest.raises(ValueError, match="valid choices: eig, score"):
        GreedyExactDesigner(criterion="entropy")
    with pytest.raises(ValueError, match="n_samples must be an integer >= 1"):
        GreedyExactDesigner(n_samples=0)
    with pytest.raises(ValueError, match="d <= 12"):
        GreedyExactDesigner.for_config(CausalLinearConfig(num_nodes=20))
    designer = GreedyExactDesigner.for_config(CausalLinearConfig(weight_mean=0.1, value_scale=2.0))
    assert designer.prior.weight_mean == 0.1 and designer.value_scale == 2.0
