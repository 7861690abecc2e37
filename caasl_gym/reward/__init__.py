"""The amortized reward model q(A | h): preprocessing, network, training and shipped weights.

``load_reward_model("linear")`` (or ``"sergio"``) returns a :class:`RewardModel` whose
``edge_probabilities(values, intervened, mask=None)`` maps numpy histories ``(B, n, d)`` to edge
probabilities ``(B, d, d)``. ``load_reward_model("exact")`` is the exact posterior of the linear prior
(:class:`ExactLinearPosterior`, ``d <= 12``), the Bayes limit every trained linear model is judged by.
:class:`IgnoreFullInterventions` wraps a model so that experiments on every variable, which carry no
information under perfect interventions, leave its posterior as it is.
"""

from caasl_gym.reward.exact import ExactLinearPosterior, LinearPrior
from caasl_gym.reward.loading import (
    EXACT_MODEL,
    SHIPPED_MODELS,
    RewardModel,
    RewardWeightsError,
    available_reward_models,
    load_reward_model,
)
from caasl_gym.reward.model import EdgePosteriorNet, ModelConfig
from caasl_gym.reward.uninformative import IgnoreFullInterventions

__all__ = [
    "EXACT_MODEL",
    "SHIPPED_MODELS",
    "EdgePosteriorNet",
    "ExactLinearPosterior",
    "IgnoreFullInterventions",
    "LinearPrior",
    "ModelConfig",
    "RewardModel",
    "RewardWeightsError",
    "available_reward_models",
    "load_reward_model",
]
