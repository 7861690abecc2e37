"""Wrappers keep the Gymnasium contract."""

from __future__ import annotations

import warnings

import gymnasium as gym
import numpy as np
import pytest
from env_helpers import small_kwargs
from gymnasium.utils.env_checker import check_env

from caasl_gym.wrappers import FlattenHistory, StandardizeHistory, standardize_history

pytestmark = pytest.mark.usefixtures("test_models")


@pytest.mark.parametrize("env_id, log1p", [("CausalLinear-v0", False), ("SergioKnockout-v0", True)])
def test_wrapped_envs_pass_check_env(env_id, log1p):
    env = FlattenHistory(StandardizeHistory(gym.make(env_id, **small_kwargs(env_id)), log1p=log1p))
    assert env.observation_space.shape == (8 * 4 * 3,) and env.action_space.shape == (8,)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(env, skip_render_check=True)
    assert [str(w.message) for w in caught if "different from the unwrapped" not in str(w.message)] == []


def test_standardize_history_statistics():
    rng = np.random.default_rng(0)
    obs = np.zeros((10, 3, 3), dtype=np.float32)
    obs[:6, :, 0] = rng.normal(5.0, 3.0, (6, 3))
    obs[:6, :, 2] = 1.0
    obs[:6, 1, 0] = 2.0  # a constant variable maps to 0
    out = standardize_history(obs)
    filled = out[:6, :, 0]
    np.testing.assert_allclose(filled[:, [0, 2]].mean(axis=0), 0.0, atol=1e-6)
    np.testing.assert_allclose(filled[:, [0, 2]].std(axis=0), 1.0, atol=1e-5)
    assert np.all(filled[:, 1] == 0) and np.all(out[6:] == 0)
    assert np.array_equal(out[..., 1:], obs[..., 1:])
    assert np.all(np.abs(out[..., 0]) <= np.sqrt(9))


def test_flatten_history_reshapes_actions_back():
    inner = gym.make("CausalLinear-v0", **small_kwargs("CausalLinear-v0"))
    env = FlattenHistory(inner)
    ref = gym.make("CausalLinear-v0", **small_kwargs("CausalLinear-v0"))
    obs, _ = env.reset(seed=0)
    ref_obs, _ = ref.reset(seed=0)
    assert np.array_equal(obs, ref_obs.reshape(-1))
    action = np.linspace(-1, 1, 8).astype(np.float32)
    assert np.array_equal(env.step(action)[0], ref.step(action.reshape(4, 2))[0].reshape(-1))
    with pytest.raises(ValueError):
        env.step(np.zeros(7))
