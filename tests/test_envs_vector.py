"""The native vector envs: exact agreement with single envs, autoreset, one batched call per step."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from env_helpers import small_kwargs, tiny_reward_model
from gymnasium.vector import AutoresetMode

import caasl_gym
from caasl_gym.envs.domain import concat_params
from caasl_gym.simulators.sergio import sample_sergio_params, simulate_sergio

ALL_IDS = list(caasl_gym.ALL_IDS)
N_ENVS = 3

pytestmark = pytest.mark.usefixtures("test_models")


def make_native(env_id, num_envs=N_ENVS, **overrides):
    return gym.make_vec(
        env_id, num_envs=num_envs, vectorization_mode="vector_entry_point", **small_kwargs(env_id, **overrides)
    )


def actions_for(space, n_steps, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.uniform(-1, 1, space.shape).astype(np.float32) for _ in range(n_steps)]


def assert_close_results(a, b):
    """Observations and flags equal exactly; rewards and scores up to reward-model batch rounding."""
    obs_a, rew_a, term_a, trunc_a, info_a = a
    obs_b, rew_b, term_b, trunc_b, info_b = b
    assert np.array_equal(obs_a, obs_b)
    np.testing.assert_allclose(rew_a, rew_b, rtol=1e-5, atol=1e-6)
    assert np.array_equal(term_a, term_b) and np.array_equal(trunc_a, trunc_b)
    np.testing.assert_allclose(info_a["score"], info_b["score"], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("env_id", ALL_IDS)
def test_native_matches_sync_vector_env_across_autoreset(env_id):
    native = make_native(env_id)
    sync = gym.make_vec(env_id, num_envs=N_ENVS, vectorization_mode="sync", **small_kwargs(env_id))
    assert native.metadata["autoreset_mode"] == AutoresetMode.NEXT_STEP
    assert native.observation_space == sync.observation_space and native.action_space == sync.action_space
    obs_n, info_n = native.reset(seed=11)
    obs_s, info_s = sync.reset(seed=11)
    assert np.array_equal(obs_n, obs_s) and obs_n in native.observation_space
    np.testing.assert_allclose(info_n["score"], info_s["score"], rtol=1e-5)
    assert np.array_equal(info_n["_score"], info_s["_score"])
    for t, action in enumerate(actions_for(native.action_space, 2 * 3 + 2)):  # two episodes and a bit
        res_n, res_s = native.step(action), sync.step(action)
        assert_close_results(res_n, res_s)
        assert res_n[2].all() == (t % 4 == 2) and not res_n[3].any()  # budget 3, then one autoreset step
        if t % 4 == 3:
            assert np.all(res_n[1] == 0)


@pytest.mark.parametrize("env_id", ["CausalLinear-OOD-Hetero-v0", "SergioKnockout-OOD-NoisyIntervention-v0"])
def test_copy_i_replays_single_env_seeded_s_plus_i(env_id):
    native = make_native(env_id, num_envs=4, samples_per_step=2)
    obs, _info = native.reset(seed=100)
    steps = [native.step(a) for a in actions_for(native.action_space, 3, seed=5)]
    for i in range(4):
        single = gym.make(env_id, **small_kwargs(env_id, samples_per_step=2))
        o, _inf = single.reset(seed=100 + i)
        assert np.array_equal(o, obs[i])
        np.testing.assert_array_equal(single.unwrapped.true_adjacency, native.unwrapped.true_adjacency[i])
        for a, (obs_v, rew_v, *_rest) in zip(actions_for(native.action_space, 3, seed=5), steps, strict=True):
            o, r, *_ = single.step(a[i])
            assert np.array_equal(o, obs_v[i])
            assert r == pytest.approx(rew_v[i], rel=1e-5, abs=1e-6)


def test_seed_list_and_unseeded_resets_continue_the_streams():
    env_id = "CausalLinear-v0"
    native = make_native(env_id)
    obs_a, _ = native.reset(seed=[5, None, 7])
    obs_b, _ = make_native(env_id).reset(seed=[5, 6, 7])
    assert np.array_equal(obs_a[0], obs_b[0]) and np.array_equal(obs_a[2], obs_b[2])
    single = gym.make(env_id, **small_kwargs(env_id))
    single.reset(seed=5)
    native.reset()  # seed None: the generators continue, as for single envs
    assert np.array_equal(native.reset()[0][0], (single.reset(), single.reset())[1][0])
    with pytest.raises(ValueError, match="length"):
        native.reset(seed=[1, 2])


def test_max_episode_steps_truncates_like_time_limit():
    env_id = "SergioKnockout-v0"
    native = make_native(env_id, budget=5, max_episode_steps=2)
    sync = gym.make_vec(
        env_id, num_envs=N_ENVS, vectorization_mode="sync", max_episode_steps=2, **small_kwargs(env_id, budget=5)
    )
    native.reset(seed=0)
    sync.reset(seed=0)
    for t, action in enumerate(actions_for(native.action_space, 4)):
        res_n, res_s = native.step(action), sync.step(action)
        assert_close_results(res_n, res_s)
        assert res_n[3].all() == (t == 1) and not res_n[2].any()


def test_one_reward_call_and_one_simulation_per_step(monkeypatch):
    calls = []
    model = tiny_reward_model("linear")

    class Counting:
        def edge_probabilities(self, values, intervened, mask=None):
            calls.append(values.shape)
            return model.edge_probabilities(values, intervened, mask)

    import caasl_gym.envs.linear as domains

    propagate_calls = []
    real = domains.propagate
    monkeypatch.setattr(domains, "propagate", lambda *a, **k: propagate_calls.append(1) or real(*a, **k))
    native = gym.make_vec(
        "CausalLinear-v0",
        num_envs=8,
        vectorization_mode="vector_entry_point",
        **small_kwargs("CausalLinear-v0", reward_model=Counting()),
    )
    native.reset(seed=0)
    native.step(native.action_space.sample())
    assert calls == [(8, 5, 4), (8, 6, 4)] and len(propagate_calls) == 2


def test_bad_inputs_raise():
    native = make_native("CausalLinear-v0")
    with pytest.raises(RuntimeError, match="reset"):
        native.step(native.action_space.sample())
    native.reset(seed=0)
    with pytest.raises(ValueError, match="shape"):
        native.step(np.zeros((N_ENVS, 4)))
    bad = native.action_space.sample()
    bad[1, 2, 0] = np.nan
    with pytest.raises(ValueError, match="finite"):
        native.step(bad)
    with pytest.raises(ValueError, match="partial"):
        native.reset(options={"reset_mask": np.array([True, False, True])})
    with pytest.raises(TypeError, match="valid keyword arguments"):
        gym.make_vec("CausalLinear-v0", num_envs=2, vectorization_mode="vector_entry_point", bogus=1)
    with pytest.raises(ValueError):
        make_native("CausalLinear-v0", num_envs=0)


def test_vector_render_and_accessors():
    native = make_native("SergioKnockout-v0", render_mode="ansi")
    native.reset(seed=0)
    frames = native.render()
    assert len(frames) == N_ENVS and all(isinstance(f, str) for f in frames)
    assert native.unwrapped.true_adjacency.shape == native.unwrapped.edge_probabilities().shape == (N_ENVS, 4, 4)


@pytest.mark.parametrize(
    "n_cells, flip_prob, intervention, d", [(1, 0.0, "knockout", 5), (13, 0.3, "knockdown", 8), (7, 0.1, "knockout", 3)]
)
def test_sergio_per_copy_run_equals_simulator_model_by_model(n_cells, flip_prob, intervention, d):
    """``simulate_sergio`` with one generator per copy (what ``SergioDomain.observe`` runs) replays each
    copy's single-env simulation exactly."""
    batch = 6
    params = [sample_sergio_params(np.random.default_rng(i), 1, d) for i in range(batch)]
    design = np.random.default_rng(99).random((batch, d)) < 0.4
    kwargs = dict(intervention=intervention, flip_prob=flip_prob, technical_noise="drop-seq")
    got = simulate_sergio(
        [np.random.default_rng(1000 + b) for b in range(batch)], concat_params(params), design, n_cells, **kwargs
    )
    want = np.concatenate(
        [
            simulate_sergio(np.random.default_rng(1000 + b), params[b], design[b : b + 1], n_cells, **kwargs)
            for b in range(batch)
        ]
    )
    assert got.dtype == want.dtype == np.float32
    assert np.array_equal(got, want)
