"""Run-time estimates of off-policy training: the gradient steps a run will take and what one costs."""

from __future__ import annotations

import math
import time

import numpy as np
import torch as th
from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm


def planned_gradient_steps(model: OffPolicyAlgorithm, total_timesteps: int) -> int:
    """The gradient steps ``model.learn`` takes on the way to ``total_timesteps`` environment steps (counted from 0).

    SB3's loop collects ``c = train_freq · n_envs`` transitions per round and trains after every round
    that ends beyond ``learning_starts``: rounds ``k = 1 .. ceil(total / c)`` with ``k · c > learning_starts``.

    :param model: the algorithm (its ``train_freq`` in steps, ``n_envs``, ``learning_starts``, ``gradient_steps``)
    :param total_timesteps: environment steps over all copies at the end of the run
    :return: gradient steps from the start of the run to its end
    """
    per_round = int(model.train_freq.frequency) * model.n_envs  # type: ignore[union-attr]
    rounds = math.ceil(total_timesteps / per_round)
    training_rounds = max(0, rounds - model.learning_starts // per_round)
    per_training_round = model.gradient_steps if model.gradient_steps >= 0 else per_round
    return training_rounds * per_training_round


def time_gradient_step(model: OffPolicyAlgorithm) -> float | None:
    """Seconds one REDQ gradient step of ``model`` takes, timed on a copy of its policy.

    The batch (``batch_size`` rows) repeats the current observations ``model._last_obs``, so this works
    before the replay buffer holds anything. The step does what :meth:`~caasl_agents.redq.REDQ.train` does
    (target critics, the ensemble's regression, the actor and both optimizers, which start without Adam
    state); the model, its optimizers and torch's random streams are left as they were.

    :param model: an algorithm with an :class:`~caasl_agents.redq.policies.EnsembleCritic` and current
        observations
    :return: the seconds, or None when the model has no ensemble critic or no observations yet
    """
    policy = getattr(model, "policy", None)
    if model._last_obs is None or policy is None or not hasattr(getattr(policy, "critic", None), "encode"):
        return None
    obs = np.asarray(model._last_obs)
    obs = th.as_tensor(obs[np.arange(model.batch_size) % len(obs)], device=model.device)  # (batch, ...)
    devices = [model.device.index or 0] if model.device.type == "cuda" else []
    with th.random.fork_rng(devices=devices):
        # a fresh policy of the same architecture (a trained one may hold tensors of its last graph, which
        # do not deep-copy); its initialisation draws on torch's stream, restored on leaving the block
        policy = type(policy)(**policy._get_constructor_parameters()).to(model.device)
        policy.load_state_dict(model.policy.state_dict())
        members = th.arange(min(getattr(model, "critic_subset_size", 2), policy.critic.n_critics), device=model.device)
        action_dim = int(np.prod(model.action_space.shape))  # type: ignore[arg-type]
        actions = th.rand((model.batch_size, action_dim), device=model.device) * 2 - 1  # flat, as in the buffer
        start = time.perf_counter()
        with th.no_grad():
            next_actions, next_log_prob = policy.actor.action_log_prob(obs)
            next_q = policy.critic_target(obs, next_actions, members).amin(dim=1, keepdim=True)
            target_q = next_q - 0.1 * next_log_prob.reshape(-1, 1)
        features = policy.critic.encode(obs)
        critic_loss = 0.5 * (policy.critic.q_values(features, actions) - target_q).square().mean(dim=0).sum()
        policy.critic.optimizer.zero_grad()
        critic_loss.backward()
        actions_pi, log_prob = policy.actor.action_log_prob(obs)
        q_pi = policy.critic.q_values(features.detach(), actions_pi).mean(dim=1, keepdim=True)
        actor_loss = (0.1 * log_prob.reshape(-1, 1) - q_pi).mean()
        policy.actor.optimizer.zero_grad()
        actor_loss.backward(inputs=list(policy.actor.parameters()))
        policy.actor.optimizer.step()
        policy.critic.optimizer.step()
        if model.device.type == "cuda":
            th.cuda.synchronize(model.device)
        return time.perf_counter() - start


def format_duration(seconds: float) -> str:
    """``"45 s"``, ``"12 min"``, ``"3.4 h"`` or ``"12.5 days"``."""
    if not math.isfinite(seconds):
        return "?"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"
