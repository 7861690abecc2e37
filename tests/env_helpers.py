"""Test helpers for the environment tests: small reward models and small kwargs per id.

The tiny reward models are random-init :class:`~caasl_gym.reward.loading.RewardModel` networks
(deterministic weights from a fixed torch seed). They are registered with
:func:`~caasl_gym.envs.scoring.register_reward_model` under the names ``"test-linear"`` and
``"test-sergio"``, so env kwargs stay JSON-serialisable
and forked subprocess workers (AsyncVectorEnv) see them too.
"""

from __future__ import annotations

import torch

from caasl_gym.envs import scoring
from caasl_gym.registration import CAUSAL_LINEAR_IDS

TEST_MODELS = {"linear": "test-linear", "sergio": "test-sergio"}

# Tiny per-step torch calls on a shared 2-core box: a second intra-op thread only spins (measured
# 270 ms vs 1.3 ms per call under load), so the env tests run torch single-threaded.
torch.set_num_threads(1)


def tiny_reward_model(domain: str):
    """A random-init reward model for ``domain`` ("linear" or "sergio")."""
    from caasl_gym.reward import EdgePosteriorNet, ModelConfig, RewardModel

    with torch.random.fork_rng():
        torch.manual_seed(0)
        net = EdgePosteriorNet(ModelConfig(domain=domain, dim=8, layers=1, heads=2, ffn_mult=1))
    return RewardModel(net)


_TINY: dict = {}


def install_test_models() -> None:
    """Put the tiny models into the env's reward-model cache (idempotent)."""
    for domain, name in TEST_MODELS.items():
        if domain not in _TINY:
            _TINY[domain] = tiny_reward_model(domain)
        scoring.register_reward_model(name, _TINY[domain])  # the same object again is a no-op


def small_kwargs(env_id: str, **overrides) -> dict:
    """Fast kwargs for ``env_id``: d=4, n0=5, budget=3 and the tiny reward model of its domain."""
    domain = "linear" if env_id in CAUSAL_LINEAR_IDS else "sergio"
    kwargs = dict(num_nodes=4, n_initial=5, budget=3, reward_model=TEST_MODELS[domain])
    kwargs.update(overrides)
    return kwargs
