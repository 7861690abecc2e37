"""Registration table: every SPEC id exists, kwargs are valid and serialisable, errors are helpful."""

from __future__ import annotations

import gymnasium as gym
import pytest
from env_helpers import small_kwargs

import caasl_gym
from caasl_gym.envs.config import config_kwargs
from caasl_gym.registration import ENTRIES, config_for, domain_of, register_envs, training_id

SPEC_IDS = [
    "CausalLinear-v0",
    "CausalLinear-OOD-Graph-v0",
    "CausalLinear-OOD-GraphMech-v0",
    "CausalLinear-OOD-GraphMechNoise-v0",
    "CausalLinear-OOD-Hetero-v0",
    "CausalLinear-OOD-Shift-v0",
    "CausalLinear-OOD-D20-v0",
    "CausalLinear-OOD-D30-v0",
    "SergioKnockout-v0",
    "SergioKnockout-OOD-Graph-v0",
    "SergioKnockout-OOD-DropSeq-v0",
    "SergioKnockout-OOD-Knockdown-v0",
    "SergioKnockout-OOD-NoisyIntervention-v0",
    "SergioKnockout-OOD-D20-v0",
    "SergioKnockout-OOD-D30-v0",
]

pytestmark = pytest.mark.usefixtures("test_models")


def test_every_spec_id_is_registered_once():
    assert list(caasl_gym.ALL_IDS) == SPEC_IDS
    assert set(caasl_gym.BASE_IDS) | set(caasl_gym.OOD_IDS) == set(SPEC_IDS)
    for env_id in SPEC_IDS:
        spec = gym.spec(env_id)
        module = f"caasl_gym.envs.{domain_of(env_id)}:"
        assert spec.entry_point.startswith(module) and spec.vector_entry_point.startswith(module)
        assert spec.max_episode_steps is None  # episodes terminate by themselves


def test_register_envs_is_idempotent():
    before = {k: gym.spec(k) for k in SPEC_IDS}
    register_envs()
    register_envs()
    assert all(gym.spec(k) is before[k] for k in SPEC_IDS)


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: e.name)
def test_overrides_are_valid_constructor_kwargs(entry):
    config_class = entry.domain.config_class
    for overrides in entry.ids.values():
        assert set(overrides) <= set(config_kwargs(config_class))
        config_class(**overrides)  # valid values


@pytest.mark.parametrize("env_id", SPEC_IDS)
def test_lookups_agree_with_the_env(env_id):
    env = gym.make(env_id, **small_kwargs(env_id))
    assert env.unwrapped.config.domain == domain_of(env_id)
    assert training_id(env_id) in caasl_gym.BASE_IDS and domain_of(training_id(env_id)) == domain_of(env_id)
    expected = {**gym.spec(env_id).kwargs, **small_kwargs(env_id)}
    assert config_for(env_id, **small_kwargs(env_id)) == type(env.unwrapped.config)(**expected)
    with pytest.raises(ValueError, match="registered ids: CausalLinear-v0"):
        domain_of("CausalLinear-v9")


def test_module_prefixed_id_imports_the_package():
    env = gym.make("caasl_gym:CausalLinear-v0", **small_kwargs("CausalLinear-v0"))
    assert env.unwrapped.spec.id == "CausalLinear-v0"


@pytest.mark.parametrize("env_id", SPEC_IDS)
def test_spec_to_json_roundtrip(env_id):
    env = gym.make(env_id, **small_kwargs(env_id))
    spec_json = env.spec.to_json()
    assert gym.envs.registration.EnvSpec.from_json(spec_json).kwargs == env.spec.kwargs


@pytest.mark.parametrize("env_id, d", [("CausalLinear-OOD-D20-v0", 20), ("SergioKnockout-OOD-D30-v0", 30)])
def test_registered_dimension_is_used(env_id, d):
    kwargs = small_kwargs(env_id)
    del kwargs["num_nodes"]
    env = gym.make(env_id, **kwargs)
    assert env.observation_space.shape == (5 + 3, d, 3)
    assert env.action_space.shape == (d, 2)


@pytest.mark.parametrize("env_id", ["CausalLinear-v0", "SergioKnockout-v0"])
def test_unknown_kwarg_lists_valid_ones(env_id):
    with pytest.raises(TypeError, match=r"num_nodes.*budget.*render_mode") as info:
        gym.make(env_id, num_node=5)
    assert "num_node" in str(info.value)


@pytest.mark.parametrize(
    "env_id, bad",
    [
        ("CausalLinear-v0", {"num_nodes": 1}),
        ("CausalLinear-v0", {"num_nodes": 2.5}),
        ("CausalLinear-v0", {"budget": 0}),
        ("CausalLinear-v0", {"n_initial": 0}),
        ("CausalLinear-v0", {"samples_per_step": 0}),
        ("CausalLinear-v0", {"graph": "lattice"}),
        ("CausalLinear-v0", {"edges_per_node": -1.0}),
        ("CausalLinear-v0", {"noise": "cauchy"}),
        ("CausalLinear-v0", {"intervention": "knockout"}),
        ("CausalLinear-v0", {"value_scale": 0.0}),
        ("CausalLinear-v0", {"value_scale": float("nan")}),
        ("CausalLinear-v0", {"value_scale": 1e300}),
        ("CausalLinear-v0", {"weight_mean": 1e6}),
        ("CausalLinear-v0", {"reward": "accuracy"}),
        ("CausalLinear-v0", {"reward_model": 3}),
        ("SergioKnockout-v0", {"technical_noise": "nanopore"}),
        ("SergioKnockout-v0", {"intervention": "do"}),
        ("SergioKnockout-v0", {"flip_prob": 1.5}),
        ("SergioKnockout-v0", {"num_nodes": True}),
    ],
)
def test_invalid_values_raise_value_error(env_id, bad):
    kwargs = small_kwargs(env_id)
    kwargs.update(bad)
    with pytest.raises(ValueError):
        gym.make(env_id, disable_env_checker=True, **kwargs)


def test_unknown_render_mode_raises():
    from caasl_gym.envs import CausalLinearEnv

    with pytest.raises(ValueError, match="render_mode"):
        CausalLinearEnv(render_mode="human", **small_kwargs("CausalLinear-v0"))
