from caasl_agents.redq.policies import MlpPolicy, REDQPolicy, TransformerPolicy
from caasl_agents.redq.predict import predict_any_d
from caasl_agents.redq.redq import REDQ

__all__ = ["REDQ", "MlpPolicy", "REDQPolicy", "TransformerPolicy", "predict_any_d"]
