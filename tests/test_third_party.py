"""Stock third-party tooling works with the environments, without any caasl_agents code.

Also the README's section "Use with any RL library": its code blocks run here (with small env kwargs and
a tiny PPO budget), and its claims about the wrappers (no checker warnings, real observation bounds) are
checked for every registered id.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from env_helpers import small_kwargs
from gymnasium.utils.env_checker import check_env as gymnasium_check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import caasl_gym
from caasl_gym.envs.linear import LINEAR_VALUE_BOUND
from caasl_gym.envs.sergio import COUNT_BOUND
from caasl_gym.registration import config_for, domain_of
from caasl_gym.wrappers import FlattenHistory, StandardizeHistory, standardize_history

pytestmark = pytest.mark.usefixtures("test_models")

ALL_IDS = list(caasl_gym.ALL_IDS)
README = Path(__file__).resolve().parents[1] / "README.md"
SECTION = "## Use with any RL library"


def flat_env(env_id, **overrides):
    """The README's recipe: standardised (log counts for SERGIO), then flattened, at small kwargs."""
    env = gym.make(env_id, **small_kwargs(env_id, **overrides))
    return FlattenHistory(StandardizeHistory(env, log1p=domain_of(env_id) == "sergio"))


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


# ---------------------------------------------------------------- the checkers, nothing filtered


@pytest.mark.parametrize("env_id", ALL_IDS)
def test_wrapped_envs_pass_sb3_check_env_without_any_warning(env_id):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")  # overrides every filter, pytest's configured ones included
        sb3_check_env(flat_env(env_id), warn=True)
    assert [f"{w.category.__name__}: {w.message}" for w in caught] == []


@pytest.mark.parametrize("env_id", ALL_IDS)
def test_wrapped_envs_pass_gymnasium_check_env_with_only_its_wrapper_notice(env_id):
    """Gymnasium's checker notes every wrapped env it is given; that notice is the only warning."""
    env = flat_env(env_id)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        gymnasium_check_env(env)
    messages = [str(w.message) for w in caught]
    assert len(messages) == 1, messages
    assert f"The environment ({env}) is different from the unwrapped version" in messages[0]


# ---------------------------------------------------------------- the observation bounds are the real ones


def clip_bounds(env_id, value_scale=1.0):
    """The documented clip bounds of channel 0 (the env docstrings of linear.py and sergio.py)."""
    if domain_of(env_id) == "linear":
        bound = LINEAR_VALUE_BOUND * max(1.0, value_scale)
        return -bound, bound
    return 0.0, COUNT_BOUND


@pytest.mark.parametrize("env_id", ALL_IDS)
def test_unwrapped_bounds_are_the_documented_clip_bounds_and_wrapped_bounds_the_stated_ones(env_id):
    env = flat_env(env_id)
    inner = env.unwrapped.observation_space
    low, high = clip_bounds(env_id)
    assert np.all(inner.low[..., 0] == np.float32(low)) and np.all(inner.high[..., 0] == np.float32(high))
    assert np.all(inner.low[..., 1:] == 0) and np.all(inner.high[..., 1:] == 1)
    n_rows, d = inner.shape[:2]
    standardized = env.env.observation_space  # StandardizeHistory's (N, d, 3) space
    bound = np.float32(np.sqrt(n_rows - 1))
    assert np.all(standardized.low[..., 0] == -bound) and np.all(standardized.high[..., 0] == bound)
    assert np.array_equal(standardized.low[..., 1:], inner.low[..., 1:])
    assert np.array_equal(standardized.high[..., 1:], inner.high[..., 1:])
    assert np.array_equal(env.observation_space.low, standardized.low.reshape(-1))
    assert np.array_equal(env.observation_space.high, standardized.high.reshape(-1))
    assert env.observation_space.dtype == np.float32 and env.observation_space.shape == (n_rows * d * 3,)


def test_linear_clip_bounds_follow_value_scale():
    env = gym.make("CausalLinear-v0", **small_kwargs("CausalLinear-v0", value_scale=4.0))
    assert env.observation_space.high[0, 0, 0] == np.float32(4.0 * LINEAR_VALUE_BOUND)
    assert env.observation_space.low[0, 0, 0] == np.float32(-4.0 * LINEAR_VALUE_BOUND)


def episode_observations(env, seed):
    """Every observation of three episodes: random actions, every variable a target at +1, none at -1."""
    rng = np.random.default_rng(seed)
    shape = env.action_space.shape
    policies = [lambda: rng.uniform(-1, 1, shape), lambda: np.ones(shape), lambda: np.full(shape, -1.0)]
    out = []
    for k, policy in enumerate(policies):
        obs, _ = env.reset(seed=seed + k)
        out.append(obs)
        terminated = False
        while not terminated:
            obs, _reward, terminated, _truncated, _info = env.step(policy().astype(np.float32))
            out.append(obs)
    return out


@pytest.mark.parametrize("env_id", ALL_IDS)
def test_every_observation_lies_in_the_spaces(env_id):
    wrapped = flat_env(env_id)
    raw = gym.make(env_id, **small_kwargs(env_id))
    seen = {"wrapped": episode_observations(wrapped, 11), "raw": episode_observations(raw, 11)}
    assert all(wrapped.observation_space.contains(o) for o in seen["wrapped"])
    assert all(raw.observation_space.contains(o) for o in seen["raw"])
    # the same episodes: the wrapped observations are the raw ones transformed
    log1p = domain_of(env_id) == "sergio"
    for flat, o in zip(seen["wrapped"], seen["raw"], strict=True):
        assert np.array_equal(flat, standardize_history(o, log1p=log1p).reshape(-1))
    # the indicator channels reach both ends of [0, 1]: padding vs filled rows, targets vs not
    last = np.stack(seen["raw"])[..., 1:]
    assert last.min() == 0 and last.max() == 1


@pytest.mark.parametrize("env_id", ["CausalLinear-v0", "SergioKnockout-v0"])
def test_vector_env_observations_lie_in_the_spaces(env_id):
    envs = gym.make_vec(env_id, num_envs=3, vectorization_mode="vector_entry_point", **small_kwargs(env_id))
    single = flat_env(env_id).env.observation_space  # StandardizeHistory's (N, d, 3)
    obs, _ = envs.reset(seed=5)
    batches = [obs]
    for _ in range(3):
        batches.append(envs.step(envs.action_space.sample())[0])
    for obs in batches:
        assert envs.observation_space.contains(obs)
        z = standardize_history(obs, log1p=domain_of(env_id) == "sergio")  # (B, N, d, 3) at once
        assert all(single.contains(row) for row in z)


@pytest.mark.parametrize("env_id", ["CausalLinear-v0", "SergioKnockout-v0"])
@pytest.mark.parametrize("outlier", [5.0, 1e5])
def test_standardized_bound_is_reached(env_id, outlier):
    """Samuelson's bound is tight: all N rows filled, one value apart from N - 1 equal ones."""
    env = flat_env(env_id).env  # StandardizeHistory
    n_rows, d, _ = env.observation_space.shape
    obs = np.zeros((n_rows, d, 3), dtype=np.float32)
    obs[..., 2] = 1.0
    obs[3, 0, 0] = outlier  # variable 0: one high value
    obs[:, 1, 0] = outlier
    obs[4, 1, 0] = 0.0  # variable 1: one low value (counts stay non-negative)
    z = env.observation(obs)
    bound = env.observation_space.high[0, 0, 0]
    assert env.observation_space.contains(z)
    np.testing.assert_allclose([z[3, 0, 0], z[4, 1, 0]], [bound, -bound], rtol=1e-6)


# ---------------------------------------------------------------- the README's examples run


def readme_blocks():
    """The ``python`` code blocks of the README section "Use with any RL library", in order."""
    text = README.read_text()
    assert SECTION in text, f"README.md lost its section {SECTION!r}"
    section = text.split(SECTION, 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL)


@pytest.fixture
def small_readme_world(monkeypatch, tmp_path):
    """Run README code as written, but at small env kwargs and a tiny PPO budget, in ``tmp_path``."""
    import stable_baselines3

    make, make_vec = gym.make, gym.make_vec

    def small_make(env_id, **kwargs):
        return make(env_id, **{**kwargs, **small_kwargs(env_id)})

    def small_make_vec(env_id, num_envs=1, vectorization_mode=None, **kwargs):
        kwargs = {**kwargs, **small_kwargs(env_id)}
        return make_vec(env_id, num_envs=num_envs, vectorization_mode=vectorization_mode, **kwargs)

    class TinyPPO(stable_baselines3.PPO):
        def __init__(self, policy, env, **kwargs):
            super().__init__(policy, env, **{**kwargs, "n_steps": 16, "batch_size": 32, "n_epochs": 1})

        def learn(self, total_timesteps, **kwargs):
            return super().learn(min(total_timesteps, 64), **kwargs)

    monkeypatch.setattr(gym, "make", small_make)
    monkeypatch.setattr(gym, "make_vec", small_make_vec)
    monkeypatch.setattr(stable_baselines3, "PPO", TinyPPO)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run_block(index, capsys):
    blocks = readme_blocks()
    assert len(blocks) == 3, f"expected 3 python blocks in {SECTION!r}, found {len(blocks)}"
    capsys.readouterr()
    exec(compile(blocks[index], f"README.md[{SECTION} block {index}]", "exec"), {"__name__": "__readme__"})
    return capsys.readouterr().out


def test_readme_wrapper_example(small_readme_world, capsys):
    out = run_block(0, capsys)
    small = config_for("SergioKnockout-v0", **small_kwargs("SergioKnockout-v0"))
    assert out == f"({small.num_rows * small.num_nodes * 3},) ({2 * small.num_nodes},)\n"
    config = config_for("SergioKnockout-v0")  # the README's comment is about the default kwargs
    assert (config.num_rows * config.num_nodes * 3, 2 * config.num_nodes) == (1800, 20)


def test_readme_ppo_example(small_readme_world, capsys):
    out = run_block(1, capsys)
    assert re.search(r"^S\(h_T\) = -?\d+\.\d\d, from S\(h_0\) = -?\d+\.\d\d$", out, flags=re.MULTILINE), out
    assert (small_readme_world / "ppo_causal_linear.zip").is_file()


def test_readme_vector_env_example(small_readme_world, capsys):
    out = run_block(2, capsys)
    assert re.fullmatch(r"least-intervened - random: [+-]\d+\.\d\d ± \d+\.\d\d \(95% CI\)\n", out), out


def test_least_intervened_rule_spreads_targets(small_readme_world, capsys):
    """The README's custom rule does what its docstring says: each step one target, the least used."""
    namespace = {"__name__": "__readme__"}
    exec(compile(readme_blocks()[2].split("\nenvs = ", 1)[0], "README.md", "exec"), namespace)
    rng = np.random.default_rng(0)
    obs = np.zeros((2, 8, 4, 3), dtype=np.float32)
    obs[:, :5, :, 2] = 1.0
    obs[0, 5, [0, 1, 3], 1:] = 1.0  # copy 0: variables 0, 1 and 3 already targets once -> 2 next
    obs[1, 5, 2, 1:] = 1.0
    obs[1, 5, :, 2] = 1.0
    actions = namespace["least_intervened"](obs, rng)
    assert actions.shape == (2, 4, 2) and np.all(np.abs(actions) <= 1)
    assert np.array_equal((actions[..., 0] > 0).sum(axis=1), [1, 1])
    assert np.argmax(actions[0, :, 0]) == 2 and np.argmax(actions[1, :, 0]) != 2
