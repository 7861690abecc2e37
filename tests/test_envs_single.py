"""The single environments against the Gymnasium and SB3 contracts, for every registered id."""

from __future__ import annotations

import pickle
import warnings

import gymnasium as gym
import numpy as np
import pytest
from env_helpers import small_kwargs
from gymnasium.utils.env_checker import check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import caasl_gym
from caasl_gym.simulators.graphs import is_acyclic

ALL_IDS = list(caasl_gym.ALL_IDS)

pytestmark = pytest.mark.usefixtures("test_models")


def make(env_id, **overrides):
    return gym.make(env_id, **small_kwargs(env_id, **overrides))


def rollout(env, seed, action_seed=0):
    """Obs, rewards and infos of one full episode with actions from a seeded generator."""
    rng = np.random.default_rng(action_seed)
    obs, info = env.reset(seed=seed)
    out = [(obs, None, info)]
    terminated = False
    while not terminated:
        action = rng.uniform(-1, 1, env.action_space.shape).astype(np.float32)
        obs, reward, terminated, truncated, info = env.step(action)
        assert not truncated
        out.append((obs, reward, info))
    return out


@pytest.mark.parametrize("env_id", ALL_IDS)
def test_gymnasium_check_env_without_warnings(env_id):
    env = make(env_id)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(env.unwrapped)
    assert [str(w.message) for w in caught] == []


@pytest.mark.parametrize("env_id", ALL_IDS)
def test_sb3_check_env(env_id):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sb3_check_env(make(env_id).unwrapped, warn=True)
    image_warnings = ("It seems that your observation", "The minimal resolution")
    assert [str(w.message) for w in caught if not str(w.message).startswith(image_warnings)] == []


@pytest.mark.parametrize("env_id", ALL_IDS)
def test_seeded_episodes_are_reproducible(env_id):
    first, second = rollout(make(env_id), seed=7), rollout(make(env_id), seed=7)
    for (o1, r1, i1), (o2, r2, i2) in zip(first, second, strict=True):
        assert np.array_equal(o1, o2) and r1 == r2 and i1 == i2
    other = rollout(make(env_id), seed=8)
    assert not np.array_equal(first[0][0], other[0][0])


@pytest.mark.parametrize("env_id", ALL_IDS)
def test_score_identity_and_termination(env_id):
    env = make(env_id, budget=4)
    _, info = env.reset(seed=3)
    total, steps, terminated = info["score"], 0, False
    while not terminated:
        _obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
        assert type(reward) is float and type(terminated) is bool and truncated is False
        total += reward
        steps += 1
        assert info["score"] == pytest.approx(env.unwrapped.score)
    assert steps == 4
    assert total == pytest.approx(info["score"], rel=1e-12, abs=1e-9)
    with pytest.raises(RuntimeError, match="reset"):
        env.step(env.action_space.sample())


@pytest.mark.parametrize("env_id", ALL_IDS)
def test_pickle_roundtrip_mid_episode(env_id):
    env = make(env_id).unwrapped
    env.reset(seed=1)
    env.step(env.action_space.sample())
    clone = pickle.loads(pickle.dumps(env))
    action = np.full(env.action_space.shape, 0.5, dtype=np.float32)
    o1, r1, t1, _, i1 = env.step(action)
    o2, r2, t2, _, i2 = clone.step(action)
    assert np.array_equal(o1, o2) and r1 == r2 and t1 == t2 and i1 == i2


@pytest.mark.parametrize("env_id", ["CausalLinear-v0", "SergioKnockout-v0"])
def test_history_layout(env_id):
    env = make(env_id, samples_per_step=2, budget=3)
    n0, k, d = 5, 2, 4
    obs, _ = env.reset(seed=0)
    assert obs.shape == (n0 + 3 * k, d, 3) and obs.dtype == np.float32
    assert obs in env.observation_space
    assert np.all(obs[:n0, :, 2] == 1) and np.all(obs[n0:] == 0) and np.all(obs[:n0, :, 1] == 0)
    action = np.zeros((d, 2), dtype=np.float32)
    action[:, 0] = [1.0, -1.0, 0.2, -0.3]
    action[:, 1] = 0.5
    obs, *_ = env.step(action)
    new = obs[n0 : n0 + k]
    assert np.all(new[:, :, 2] == 1) and np.all(obs[n0 + k :] == 0)
    assert np.array_equal(new[:, :, 1], np.tile([1.0, 0.0, 1.0, 0.0], (k, 1)))
    if env_id.startswith("CausalLinear"):
        assert np.all(new[:, [0, 2], 0] == 0.5)  # do(value_scale * a[i, 1])
    else:
        assert np.all(new[:, [0, 2], 0] == 0)  # knocked-out genes are never expressed
        assert np.all(obs[..., 0] == np.round(obs[..., 0])) and np.all(obs[..., 0] >= 0)
    obs[...] = 123.0  # a fresh copy: the env's history is unaffected
    assert not np.any(env.step(action)[0] == 123.0)


def test_values_outside_the_observation_bounds_warn_and_are_counted():
    env = make("CausalLinear-v0")
    env.reset(seed=0)
    core = env.unwrapped._core
    core.domain.value_low, core.domain.value_high = -0.1, 0.1  # force clipping of ordinary values
    with pytest.warns(RuntimeWarning, match="clipped"):
        obs, *_ = env.step(env.action_space.sample())
    assert core.clipped > 0 and np.abs(obs[core.filled - 1, :, 0]).max() <= 0.1


def test_value_scale_and_clipping():
    env = make("CausalLinear-v0", value_scale=2.0)
    env.reset(seed=0)
    action = np.array([[5.0, 3.0], [-1.0, 0.0], [-1.0, 0.0], [-1.0, 0.0]], dtype=np.float32)
    obs, *_ = env.step(action)
    assert obs[5, 0, 0] == 2.0 and obs[5, 0, 1] == 1.0  # clipped to 1 before scaling
    other = make("CausalLinear-v0", value_scale=2.0)
    other.reset(seed=0)
    assert np.array_equal(other.step(np.clip(action, -1, 1))[0], obs)


@pytest.mark.parametrize("env_id", ["CausalLinear-v0", "SergioKnockout-v0"])
@pytest.mark.parametrize(
    "action",
    [
        np.zeros((4,)),
        np.zeros((5, 2)),
        np.zeros((4, 2, 1)),
        "abc",
        np.array([[np.nan, 0]] * 4),
        np.array([[np.inf, 0]] * 4),
        np.zeros((4, 2), dtype=complex),
        np.full((4, 2), "0.5"),
        np.zeros((4, 2), dtype=object),
    ],
    ids=["flat", "wrong_d", "extra_axis", "string", "nan", "inf", "complex", "numeric_strings", "object"],
)
def test_bad_actions_raise(env_id, action):
    env = make(env_id)
    env.reset(seed=0)
    with pytest.raises(ValueError):
        env.step(action)


@pytest.mark.parametrize("env_id", ["CausalLinear-v0", "SergioKnockout-v0"])
def test_evaluation_accessors(env_id):
    env = make(env_id)
    env.reset(seed=0)
    adj, probs = env.unwrapped.true_adjacency, env.unwrapped.edge_probabilities()
    assert adj.shape == probs.shape == (4, 4) and adj.dtype == bool
    assert is_acyclic(adj) and np.all(np.diag(probs) == 0) and np.all((probs >= 0) & (probs <= 1))
    from caasl_gym.metrics import expected_correct

    assert env.unwrapped.score == pytest.approx(float(expected_correct(probs, adj)[0]))


@pytest.mark.parametrize("env_id", ["CausalLinear-v0", "SergioKnockout-v0"])
def test_log_likelihood_reward(env_id):
    from caasl_gym.metrics import log_likelihood

    env = make(env_id, reward="log_likelihood")
    _, info = env.reset(seed=0)
    u = env.unwrapped
    assert info["score"] == pytest.approx(float(log_likelihood(u.edge_probabilities(), u.true_adjacency)[0]))
    total = info["score"]
    for _ in range(3):
        _, reward, _, _, info = env.step(env.action_space.sample())
        total += reward
    assert total == pytest.approx(info["score"])


@pytest.mark.parametrize("mode", caasl_gym.rendering.RENDER_MODES)
def test_render_modes(mode):
    env = make("SergioKnockout-v0", render_mode=mode)
    env.reset(seed=0)
    frame = env.render()
    if mode == "ansi":
        assert isinstance(frame, str) and "score" in frame and frame.count("\n") == 4 + 2
    else:
        assert frame.dtype == np.uint8 and frame.ndim == 3 and frame.shape[2] == 3


@pytest.mark.parametrize(
    "env_id, name",
    [
        ("CausalLinear-v0", "exact"),  # exact where the exact posterior is exact
        ("CausalLinear-OOD-Hetero-v0", "linear"),  # a mechanism it does not model: the trained network
        ("SergioKnockout-v0", "sergio"),
    ],
)
def test_shipped_reward_model_is_the_default(env_id, name):
    from caasl_gym.reward import available_reward_models

    if name not in (*available_reward_models(), "exact"):
        pytest.skip(f"shipped reward model {name!r} not present")
    env = gym.make(env_id, num_nodes=5, n_initial=5, budget=2)
    assert env.unwrapped.config.reward_model == name
    if name == "exact":  # beyond the exact posterior's reach, the trained network
        assert gym.make(env_id, num_nodes=13).unwrapped.config.reward_model == "linear"
    _, info = env.reset(seed=0)
    _, reward, *_ = env.step(env.action_space.sample())
    assert np.isfinite(info["score"]) and np.isfinite(reward)
