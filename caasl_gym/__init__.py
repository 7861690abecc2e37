"""caasl_gym: Gymnasium environments for amortized active causal structure learning.

Importing the package registers every environment id (see :mod:`caasl_gym.registration`).
"""

from caasl_gym.envs.scoring import register_reward_model
from caasl_gym.registration import (
    ALL_IDS,
    BASE_IDS,
    CAUSAL_LINEAR_IDS,
    OOD_IDS,
    SERGIO_KNOCKOUT_IDS,
    register_envs,
)

__version__ = "0.1.0"

register_envs()

__all__ = [
    "ALL_IDS",
    "BASE_IDS",
    "CAUSAL_LINEAR_IDS",
    "OOD_IDS",
    "SERGIO_KNOCKOUT_IDS",
    "__version__",
    "register_envs",
    "register_reward_model",
]
