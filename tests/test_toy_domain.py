"""A new domain is one module plus a registration row: a toy domain registered from a test module.

This file is the worked example of CONTRIBUTING ("Adding a domain"); keep the two in step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from caasl_gym import register_reward_model
from caasl_gym.envs import CausalDesignEnv, CausalDesignVectorEnv, DesignConfig, DomainEntry
from caasl_gym.envs.config import check_real
from caasl_gym.registration import config_for, domain_of, register_domain, training_id


class HalfEverywhere:
    """A reward model that knows nothing: every edge has probability 1/2."""

    domain = "toy"

    def edge_probabilities(self, values, intervened, mask=None):
        d = values.shape[-1]
        return np.broadcast_to(0.5 * (1 - np.eye(d)), (values.shape[0], d, d)).copy()


@dataclass(frozen=True)
class ToyConfig(DesignConfig):
    """Kwargs of ``Toy-*``: the shared ones plus ``noise_std``."""

    domain: ClassVar[str] = "toy"

    reward_model: Any = "half-everywhere"  # registered by the fixture below
    noise_std: float = 1.0

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "noise_std", check_real("noise_std", self.noise_std, positive=True))


@dataclass(frozen=True)
class ToyParams:
    adjacency: np.ndarray  # (B, d, d) bool


class ToyDomain:
    """Independent Gaussian variables (a chain graph that does nothing); targets are clamped."""

    config_class: ClassVar[type[DesignConfig]] = ToyConfig

    def __init__(self, config: ToyConfig) -> None:
        self.config = config
        self.value_low, self.value_high = -1e3, 1e3

    def sample_params(self, rngs):
        d = self.config.num_nodes
        return [ToyParams(np.eye(d, k=1, dtype=bool)[None]) for _ in rngs]

    def observe(self, rngs, per_copy, params, design, values, n):
        noise = np.stack([g.normal(0.0, self.config.noise_std, (n, design.shape[1])) for g in rngs])
        return np.where(design[:, None], values[:, None], noise)  # (B, n, d)

    def intervention_values(self, column):
        return 2.0 * column


class ToyEnv(CausalDesignEnv):
    domain_class = ToyDomain


class ToyVectorEnv(CausalDesignVectorEnv):
    domain_class = ToyDomain


ENTRY = DomainEntry(ToyDomain, ToyEnv, ToyVectorEnv, ids={"Toy-v0": {}, "Toy-OOD-Noisy-v0": {"noise_std": 3.0}})


@pytest.fixture(scope="module", autouse=True)
def _registered():
    register_reward_model("half-everywhere", HalfEverywhere(), replace=True)
    register_domain(ENTRY)
    register_domain(ENTRY)  # idempotent


def test_toy_domain_registers_and_runs():
    assert domain_of("Toy-OOD-Noisy-v0") == "toy" and training_id("Toy-OOD-Noisy-v0") == "Toy-v0"
    assert config_for("Toy-OOD-Noisy-v0").noise_std == 3.0
    env = gym.make("Toy-v0", num_nodes=3, n_initial=4, budget=2)
    check_env(env.unwrapped, skip_render_check=True)
    env.reset(seed=0)
    action = -np.ones((3, 2), np.float32)
    action[1] = (1.0, 0.25)
    obs, reward, *_ = env.step(action)
    assert obs[4, 1, 0] == 0.5 and obs[4, 1, 1] == 1.0 and reward == 0.0  # value 2 * 0.25, clamped
    vec = gym.make_vec("Toy-v0", num_envs=2, vectorization_mode="vector_entry_point", num_nodes=3, budget=1)
    vobs, _ = vec.reset(seed=0)
    np.testing.assert_array_equal(vobs[0], gym.make("Toy-v0", num_nodes=3, budget=1).reset(seed=0)[0])


def test_toy_domain_kwargs_are_checked():
    with pytest.raises(TypeError, match="noise_std"):
        gym.make("Toy-v0", noise_sd=2.0)
    with pytest.raises(ValueError, match="noise_std must be > 0"):
        gym.make("Toy-v0", noise_std=-1.0)


def test_a_second_domain_cannot_take_a_name_or_an_id():
    clash = DomainEntry(ToyDomain, ToyEnv, ToyVectorEnv, ids={"Toy-v0": {}})
    with pytest.raises(ValueError, match="already registered"):
        register_domain(clash)
