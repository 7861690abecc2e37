"""The amortized reward model q(A | h): preprocessing, network, training and shipped weights.

``load_reward_model("linear")`` (or ``"sergio"``) returns a :class:`RewardModel` whose
``edge_probabilities(values, intervened, mask=None)`` maps numpy histories ``(B, n, d)`` to edge
probabilities ``(B, d, d)``.
"""

from caasl_gym.reward.loading import (
    SHIPPED_MODELS,
    RewardModel,
    RewardWeightsError,
    available_reward_models,
    load_reward_model,
)
from caasl_gym.reward.model import EdgePosteriorNet, ModelConfig

__all__ = [
    "SHIPPED_MODELS",
    "EdgePosteriorNet",
    "ModelConfig",
    "RewardModel",
    "RewardWeightsError",
    "available_reward_models",
    "load_reward_model",
]
