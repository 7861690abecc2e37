"""Gymnasium environments: thin env classes over one batched core (see :mod:`caasl_gym.envs.core`)."""

from caasl_gym.envs.base import CausalDesignEnv
from caasl_gym.envs.causal_linear import CausalLinearEnv
from caasl_gym.envs.config import CausalLinearConfig, DesignConfig, SergioKnockoutConfig
from caasl_gym.envs.sergio_knockout import SergioKnockoutEnv
from caasl_gym.envs.vector import CausalDesignVectorEnv, CausalLinearVectorEnv, SergioKnockoutVectorEnv

__all__ = [
    "CausalDesignEnv",
    "CausalDesignVectorEnv",
    "CausalLinearConfig",
    "CausalLinearEnv",
    "CausalLinearVectorEnv",
    "DesignConfig",
    "SergioKnockoutConfig",
    "SergioKnockoutEnv",
    "SergioKnockoutVectorEnv",
]
