"""Every environment id, registered from one table.

Each id is a base environment plus a dict of kwargs overrides (OOD variants change the prior, never
the code). Importing :mod:`caasl_gym` calls :func:`register_envs`, which is idempotent; subprocess
workers can also use ``gym.make("caasl_gym:CausalLinear-v0")``.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym

_LINEAR = ("caasl_gym.envs.causal_linear:CausalLinearEnv", "caasl_gym.envs.vector:CausalLinearVectorEnv")
_SERGIO = ("caasl_gym.envs.sergio_knockout:SergioKnockoutEnv", "caasl_gym.envs.vector:SergioKnockoutVectorEnv")

CAUSAL_LINEAR_CONFIGS: dict[str, dict[str, Any]] = {
    "CausalLinear-v0": {},
    "CausalLinear-OOD-Graph-v0": {"graph": "scale_free"},
    "CausalLinear-OOD-GraphMech-v0": {"graph": "scale_free", "weight_mean": 0.1},
    "CausalLinear-OOD-GraphMechNoise-v0": {"graph": "scale_free", "weight_mean": 0.1, "noise": "gumbel"},
    "CausalLinear-OOD-Hetero-v0": {"noise": "heteroskedastic"},
    "CausalLinear-OOD-Shift-v0": {"intervention": "shift"},
    "CausalLinear-OOD-D20-v0": {"num_nodes": 20},
    "CausalLinear-OOD-D30-v0": {"num_nodes": 30},
}
"""``CausalLinear`` ids and their kwargs overrides of the training prior."""

SERGIO_KNOCKOUT_CONFIGS: dict[str, dict[str, Any]] = {
    "SergioKnockout-v0": {},
    "SergioKnockout-OOD-Graph-v0": {"graph": "scale_free"},
    "SergioKnockout-OOD-DropSeq-v0": {"technical_noise": "drop-seq"},
    "SergioKnockout-OOD-Knockdown-v0": {"intervention": "knockdown"},
    "SergioKnockout-OOD-NoisyIntervention-v0": {"flip_prob": 0.1},
    "SergioKnockout-OOD-D20-v0": {"num_nodes": 20},
    "SergioKnockout-OOD-D30-v0": {"num_nodes": 30},
}
"""``SergioKnockout`` ids and their kwargs overrides of the training prior."""

CAUSAL_LINEAR_IDS = tuple(CAUSAL_LINEAR_CONFIGS)
SERGIO_KNOCKOUT_IDS = tuple(SERGIO_KNOCKOUT_CONFIGS)
BASE_IDS = ("CausalLinear-v0", "SergioKnockout-v0")
"""The training priors (in-distribution)."""
OOD_IDS = tuple(i for i in CAUSAL_LINEAR_IDS + SERGIO_KNOCKOUT_IDS if i not in BASE_IDS)
"""Zero-shot out-of-distribution variants."""
ALL_IDS = CAUSAL_LINEAR_IDS + SERGIO_KNOCKOUT_IDS
"""Every registered id, in-distribution first within each domain."""
_DOMAIN_OF = {**dict.fromkeys(CAUSAL_LINEAR_IDS, "linear"), **dict.fromkeys(SERGIO_KNOCKOUT_IDS, "sergio")}
_TRAINING_ID = {"linear": "CausalLinear-v0", "sergio": "SergioKnockout-v0"}


def domain_of(env_id: str) -> str:
    """The data domain (``"linear"`` or ``"sergio"``) of a registered id; ``ValueError`` lists the ids."""
    try:
        return _DOMAIN_OF[env_id]
    except KeyError:
        raise ValueError(f"unknown environment id {env_id!r}; registered ids: {', '.join(ALL_IDS)}") from None


def training_id(env_id: str) -> str:
    """The in-distribution id whose prior trains the policies and reward model used zero-shot on ``env_id``."""
    return _TRAINING_ID[domain_of(env_id)]


def register_envs() -> None:
    """Register every id with Gymnasium (no-op for ids already registered).

    Episodes terminate by themselves after ``budget`` steps, so no ``TimeLimit`` is added
    (``max_episode_steps=None``).
    """
    for table, (entry_point, vector_entry_point) in [
        (CAUSAL_LINEAR_CONFIGS, _LINEAR),
        (SERGIO_KNOCKOUT_CONFIGS, _SERGIO),
    ]:
        for env_id, kwargs in table.items():
            if env_id in gym.registry:
                continue
            gym.register(
                id=env_id,
                entry_point=entry_point,
                vector_entry_point=vector_entry_point,
                max_episode_steps=None,
                kwargs=dict(kwargs),
            )
