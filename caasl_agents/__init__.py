"""caasl_agents: transformer policies and REDQ (on Stable-Baselines3's SAC) for caasl_gym environments.

Train from the command line (``python -m caasl_agents.train --help``) or in Python::

    import caasl_gym  # registers the environment ids
    from caasl_agents import REDQ, make_vec_env, predict_any_d

    env = make_vec_env("CausalLinear-v0", n_envs=16, seed=0)  # one batched simulator call per step
    model = REDQ("TransformerPolicy", env, buffer_size=50_000, gamma=0.9, ent_coef="auto_0.1",
                 policy_kwargs=dict(n_critics=10, critic_encoder="separate"), device="auto")
    model.learn(200_000)
    action = predict_any_d(model, observation)  # a history (N, d, 3) of any d -> design (d, 2)

or load a shipped policy with :func:`load_pretrained`. :mod:`caasl_agents.value` holds another kind of designer:
a network that scores whole candidate experiments from the history, shipped for ``CausalLinear-v0`` and
``SergioKnockout-v0``::

    designer = load_value_designer("CausalLinear-v0")   # any id of its prior: its own reward model, the same network
    action, _ = designer.predict(observation, deterministic=True)
"""

from caasl_agents.common.torch_layers import AlternatingAttentionEncoder, TransformerExtractor
from caasl_agents.common.vec_env import VectorEnvAdapter, make_vec_env
from caasl_agents.pretrained import available_pretrained, load_pretrained
from caasl_agents.redq import REDQ, MlpPolicy, REDQPolicy, TransformerPolicy, predict_any_d
from caasl_agents.value import ValueDesigner, available_value_designers, load_value_designer

__version__ = "0.1.0"

__all__ = [
    "REDQ",
    "AlternatingAttentionEncoder",
    "MlpPolicy",
    "REDQPolicy",
    "TransformerExtractor",
    "TransformerPolicy",
    "ValueDesigner",
    "VectorEnvAdapter",
    "__version__",
    "available_pretrained",
    "available_value_designers",
    "load_pretrained",
    "load_value_designer",
    "make_vec_env",
    "predict_any_d",
]
