"""Run a trained policy on histories of any size (zero-shot to other numbers of variables ``d``).

SB3's ``model.predict`` checks observations against the training observation space, so it refuses
a history with another ``d`` (or another ``N``). The :class:`~caasl_agents.redq.policies.TransformerPolicy`
actor has no weight that depends on either, so :func:`predict_any_d` calls it directly::

    model = REDQ.load("model.zip")                    # trained on CausalLinear-v0 (d = 10)
    env = gym.make("CausalLinear-OOD-D20-v0")         # d = 20
    obs, _ = env.reset(seed=0)
    action = predict_any_d(model, obs)                # (20, 2), in [-1, 1]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch as th
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.policies import BasePolicy

from caasl_agents.common.histories import history_batch


def predict_any_d(
    model: BaseAlgorithm | BasePolicy,
    observation: np.ndarray,
    deterministic: bool = True,
    rng: np.random.Generator | Sequence[np.random.Generator] | None = None,
) -> np.ndarray:
    """Actions of a per-variable policy for histories of any ``N`` and ``d``.

    :param model: a trained :class:`~caasl_agents.redq.REDQ` (or its policy) with a
        :class:`~caasl_agents.redq.policies.TransformerPolicy`
    :param observation: one history ``(N, d, 3)`` or a batch ``(B, N, d, 3)``
    :param deterministic: the policy's deterministic design (True; for a ``TransformerPolicy`` the rule of its
        ``deterministic_design``, by default ``round(sum_i p_i)`` targets chosen by ``"coverage"``, with
        values ``tanh(mean)``, :mod:`caasl_agents.redq.designs`; exactly SB3's
        ``predict(obs, deterministic=True)``) or a sample
    :param rng: generator of the sample's Gaussian noise when ``deterministic=False`` (the action is
        ``tanh(mean + std * eps)`` with ``eps ~ rng.standard_normal``), so sampled designs are
        reproducible; or one generator per history of a batch (copy ``b``'s noise, ``(d·k,)``, from
        ``rng[b]``, so a batch gives the designs of its histories one by one); ``None`` samples with
        torch's global generator, as SB3's ``predict`` does
    :return: actions ``(d, k)`` or ``(B, d, k)`` in the action box ``[-1, 1]`` (``k`` = the training
        action space's last axis)
    """
    policy = model.policy if isinstance(model, BaseAlgorithm) else model
    obs, single = history_batch(observation)
    assert policy.action_space.shape is not None
    width = policy.action_space.shape[-1]
    policy.set_training_mode(False)
    with th.inference_mode():
        obs_t = th.as_tensor(obs, device=policy.device)
        if deterministic or rng is None:
            actions = policy._predict(obs_t, deterministic=deterministic)
        else:
            mean, log_std, _ = policy.actor.get_action_dist_params(obs_t)  # (B, d·k) each
            if isinstance(rng, np.random.Generator):
                noise = rng.standard_normal(mean.shape)
            elif len(rng) == mean.shape[0]:
                noise = np.stack([r.standard_normal(mean.shape[1:]) for r in rng])
            else:
                raise ValueError(f"rng: one generator, or one per history ({mean.shape[0]}), got {len(rng)}")
            eps = th.as_tensor(noise, dtype=mean.dtype, device=mean.device)
            actions = th.tanh(mean + log_std.exp() * eps)
    actions = actions.reshape(obs.shape[0], obs.shape[2], width).cpu().numpy()
    return actions[0] if single else actions
