"""Stock third-party tooling works with the environments, without any caasl_agents code."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from env_helpers import small_kwargs

from caasl_gym.wrappers import FlattenHistory, StandardizeHistory

pytestmark = pytest.mark.usefixtures("test_models")


def flat_env(env_id):
    return FlattenHistory(StandardizeHistory(gym.make(env_id, **small_kwargs(env_id)), log1p="Sergio" in env_id))


@pytest.mark.parametrize("env_id", ["CausalLinear-v0", "SergioKnockout-v0"])
@pytest.mark.parametrize("algo", ["PPO", "SAC"])
def test_sb3_mlp_policy_trains(env_id, algo):
    import stable_baselines3 as sb3

    env = flat_env(env_id)
    if algo == "PPO":
        model = sb3.PPO(
            "MlpPolicy",
            env,
            n_steps=64,
            batch_size=32,
            n_epochs=2,
            device="cpu",
            seed=0,
            policy_kwargs=dict(net_arch=[32, 32]),
        )
    else:
        model = sb3.SAC(
            "MlpPolicy",
            env,
            learning_starts=50,
            batch_size=32,
            buffer_size=1000,
            device="cpu",
            seed=0,
            policy_kwargs=dict(net_arch=[32, 32]),
        )
    model.learn(200)
    action, _ = model.predict(env.reset(seed=0)[0], deterministic=True)
    assert action.shape == env.action_space.shape and env.action_space.contains(action)


def test_async_vector_env():
    env_id = "SergioKnockout-v0"
    envs = gym.vector.AsyncVectorEnv([lambda: gym.make(env_id, **small_kwargs(env_id)) for _ in range(2)])
    try:
        obs, _ = envs.reset(seed=3)
        single = gym.make(env_id, **small_kwargs(env_id))
        assert np.array_equal(obs[1], single.reset(seed=4)[0])
        for _ in range(3):
            obs, _rewards, terminated, _truncated, _info = envs.step(envs.action_space.sample())
        assert terminated.all() and obs.shape == (2, 8, 4, 3)
    finally:
        envs.close()


def test_async_vector_env_with_module_prefixed_id():
    envs = gym.make_vec(
        "caasl_gym:CausalLinear-v0", num_envs=2, vectorization_mode="async", **small_kwargs("CausalLinear-v0")
    )
    try:
        obs, _ = envs.reset(seed=0)
        assert obs.shape == (2, 8, 4, 3)
    finally:
        envs.close()
