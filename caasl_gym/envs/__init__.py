"""Gymnasium environments: one module per domain over one batched core (see :mod:`caasl_gym.envs.core`)."""

from caasl_gym.envs.base import CausalDesignEnv
from caasl_gym.envs.config import DesignConfig
from caasl_gym.envs.domain import Domain, DomainEntry
from caasl_gym.envs.linear import CausalLinearConfig, CausalLinearEnv, CausalLinearVectorEnv
from caasl_gym.envs.sergio import SergioKnockoutConfig, SergioKnockoutEnv, SergioKnockoutVectorEnv
from caasl_gym.envs.vector import CausalDesignVectorEnv

__all__ = [
    "CausalDesignEnv",
    "CausalDesignVectorEnv",
    "CausalLinearConfig",
    "CausalLinearEnv",
    "CausalLinearVectorEnv",
    "DesignConfig",
    "Domain",
    "DomainEntry",
    "SergioKnockoutConfig",
    "SergioKnockoutEnv",
    "SergioKnockoutVectorEnv",
]
