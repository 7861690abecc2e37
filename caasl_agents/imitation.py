"""Imitation of a likelihood-based designer: demonstrations, then behaviour cloning of the policy's actor.

The greedy exact-posterior designer (:class:`~caasl_gym.baselines.greedy.GreedyExactDesigner`) takes
the headroom over Random that short REDQ runs miss, but needs a posterior per step; a policy cloned
from it designs in one forward pass, at any ``d``. Demonstrations are the designer's actions on
training-seed episodes, stored in resumable shards; cloning maximises the likelihood of the
designer's actions under the actor's tanh-Gaussian (the actions are clipped to ``±(1 - CLIP)`` first,
so ``atanh`` stays finite), which trains the mean and the spread together. The deterministic design is
the policy's rule (:mod:`caasl_agents.redq.designs`, by default ``"coverage"``).

    python -m caasl_agents.imitate --env CausalLinear-v0 --demo-episodes 800 --epochs 30
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch as th

from caasl_gym.evaluation.rollout import bind_env
from caasl_gym.evaluation.seeds import STRATEGY_SEED, TRAIN, check_in_family, strategy_rngs
from caasl_gym.evaluation.strategies import Strategy

CLIP = 0.02
"""Demonstrated actions are clipped to ``[-1 + CLIP, 1 - CLIP]`` before ``atanh``."""


def shard_path(folder: Path, start: int) -> Path:
    return folder / f"demos_{start:07d}.npz"


def shard_behaviour(shard: Any) -> str:
    """The ``behaviour_id`` that played a loaded shard (``np.load``), ``""`` where its expert played."""
    return str(shard["behaviour"]) if "behaviour" in shard.files else ""


def collect_demonstrations(
    env_id: str,
    expert: Strategy,
    episodes: range,
    folder: str | Path,
    *,
    shard_episodes: int = 10,
    env_kwargs: dict[str, Any] | None = None,
    progress: bool = True,
    behaviour: Strategy | None = None,
    behaviour_id: str = "",
) -> int:
    """Run ``expert`` on the training episodes ``episodes`` and store every (observation, action).

    Shard ``k`` holds episodes ``episodes.start + k * shard_episodes`` onwards (run as one vector env, the
    expert's generators from :func:`~caasl_gym.evaluation.seeds.strategy_rngs`), so an interrupted
    collection resumes where it stopped and two processes can take disjoint ranges.

    With a ``behaviour`` strategy (DAgger: usually a policy cloned before), the behaviour plays the episodes
    and the expert only labels every state it visits: the shard's ``actions`` are the expert's designs,
    ``played`` the behaviour's (what made the observations), and ``behaviour`` the ``behaviour_id``. A
    cloned policy then learns what the expert does in the states its own designs lead to, not only in the
    expert's.

    Args:
        env_id: a registered id; its reward model is irrelevant here (observations do not depend on it).
        expert: the design strategy to imitate; one with a ``bind(env)`` method (the privileged probe, a
            training-time teacher) is handed each shard's vector env after its reset, as in the rollouts.
        episodes: episode seeds, all in the train family.
        folder: receives ``demos_<start>.npz`` with ``obs`` ``(S, N, d, 3)`` and ``actions`` ``(S, d, 2)``
            float32, ``S = shard_episodes * T``.
        shard_episodes: episodes per shard.
        env_kwargs: kwargs for ``gym.make_vec``.
        progress: show a progress bar.
        behaviour: the strategy that plays the episodes (default: the expert itself).
        behaviour_id: names the behaviour in every shard (e.g. the policy file's sha256); shards that are
            already there must carry the same one.

    Returns:
        The number of shards written now.

    Raises:
        ValueError: episodes outside the train family, a behaviour without ``behaviour_id``, or a shard of the
            range that was played by another behaviour (or by the expert, when one is given now, or the reverse).
    """
    check_in_family(episodes, TRAIN, "demonstration episodes")
    if behaviour is not None and not behaviour_id:
        raise ValueError("a behaviour strategy needs a behaviour_id to record in its shards")
    if behaviour is None and behaviour_id:
        raise ValueError(f"behaviour_id {behaviour_id!r} without a behaviour strategy: the expert would play")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    starts = []
    for s in range(episodes.start, episodes.stop, shard_episodes):
        path = shard_path(folder, s)
        if not path.is_file():
            starts.append(s)
            continue
        with np.load(path) as shard:
            found = shard_behaviour(shard)
        if found != behaviour_id:
            played = f"behaviour {found!r}" if found else "the expert"
            wanted = f"behaviour {behaviour_id!r}" if behaviour_id else "the expert"
            raise ValueError(f"{path} was played by {played}, this collection by {wanted}; use another folder")
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(starts), unit="shard", desc=f"demonstrations of {expert.name}", dynamic_ncols=True)
    for start in starts:
        size = min(shard_episodes, episodes.stop - start)
        obs, actions, played = play_shard(env_id, expert, start, size, env_kwargs, behaviour)
        tmp = folder / f".tmp_{os.getpid()}_{start}.npz"  # private to this process: two may share a folder
        extra = {} if behaviour is None else {"played": played, "behaviour": np.array(behaviour_id)}
        np.savez(tmp, obs=obs, actions=actions, **extra)
        tmp.replace(shard_path(folder, start))
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    return len(starts)


def play_shard(
    env_id: str,
    expert: Strategy,
    start: int,
    size: int,
    env_kwargs: dict[str, Any] | None = None,
    behaviour: Strategy | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One shard: ``expert`` on the episodes ``start .. start + size - 1``, run as one vector env reset with
    ``seed=start`` until every episode ends (the expert's generators from
    :func:`~caasl_gym.evaluation.seeds.strategy_rngs`; an expert with ``bind(env)`` gets the env after the reset).
    With ``behaviour``, that strategy's designs are played (its generators are
    ``default_rng([STRATEGY_SEED, seed, 1])``, apart from the expert's) and the expert's are only recorded.

    Returns:
        Observations ``(S, N, d, 3)``, the expert's actions ``(S, d, k)`` and the played ones ``(S, d, k)``
        (the expert's, without a behaviour), float32, step-major (the ``size`` episodes of step 0, then of
        step 1, ...), ``S = size * T``.
    """
    venv = gym.make_vec(env_id, num_envs=size, **(env_kwargs or {}))
    try:
        rngs = strategy_rngs(range(start, start + size))
        behaviour_rngs = [np.random.default_rng([STRATEGY_SEED, s, 1]) for s in range(start, start + size)]
        obs, _ = venv.reset(seed=start)
        bind_env(expert, venv.unwrapped)  # a privileged teacher (caasl_gym.evaluation.probe) reads the hidden models
        all_obs, all_actions, all_played, done = [], [], [], False
        while not done:
            action = np.asarray(expert.act(obs, rngs), dtype=np.float32)
            played = action if behaviour is None else np.asarray(behaviour.act(obs, behaviour_rngs), dtype=np.float32)
            all_obs.append(obs.astype(np.float32))
            all_actions.append(action)
            all_played.append(played)
            obs, _, terminated, truncated, _ = venv.step(played)
            done = bool(np.all(terminated | truncated))
    finally:
        venv.close()
    return np.concatenate(all_obs), np.concatenate(all_actions), np.concatenate(all_played)


def load_demonstrations(folder: str | Path, episodes: range | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The shards of ``folder`` (those starting in ``episodes``, default all): observations ``(S, N, d, 3)``
    and actions ``(S, d, 2)``, in episode order."""
    paths = sorted(Path(folder).glob("demos_*.npz"))
    if episodes is not None:
        paths = [p for p in paths if int(p.stem.split("_")[1]) in episodes]
    if not paths:
        raise FileNotFoundError(f"{folder}: no demos_*.npz shards for episodes {episodes} (collect them first)")
    parts = [np.load(p) for p in paths]
    return np.concatenate([p["obs"] for p in parts]), np.concatenate([p["actions"] for p in parts])


TARGET_LOSSES = ("gaussian", "bernoulli")
"""Valid ``target_loss`` values of :func:`clone_loss` (see there)."""


def check_target_loss(target_loss: str) -> str:
    """Return ``target_loss`` if it is one of :data:`TARGET_LOSSES`, else raise ``ValueError``."""
    if target_loss not in TARGET_LOSSES:
        raise ValueError(f"unknown target_loss {target_loss!r}; valid choices: {', '.join(TARGET_LOSSES)}")
    return target_loss


def clone_loss(
    actor: th.nn.Module,
    obs: th.Tensor,
    actions: th.Tensor,
    decision_weight: float = 0.0,
    target_loss: str = "gaussian",
) -> th.Tensor:
    """Mean negative log-likelihood of ``actions`` ``(B, d, k)`` under the actor, plus ``decision_weight`` times a
    class-balanced logistic loss of the target means' signs.

    ``target_loss`` is how the expert's targets (column 0) enter the likelihood:

    * ``"gaussian"``: every entry's Gaussian likelihood before the tanh (``atanh`` of the clipped action), the
      targets' ``±1`` included, and every variable's value;
    * ``"bernoulli"``: the likelihood of the expert's *design* under the policy's sampled designs: variable ``i``
      is a target with probability ``p_i = Phi(mean_i0 / std_i0)``, so column 0 adds
      ``-[t_i log p_i + (1 - t_i) log(1 - p_i)]``; the values (the other columns) add their Gaussian likelihood
      for the expert's targets only (the environments ignore a non-target's value).

    With ``"gaussian"`` the likelihood calibrates the sampled designs poorly when the expert targets few
    variables: a variable the expert targets with probability ``p < 1/2`` gets a negative mean, so SB3's
    deterministic action (the tanh of the mean, the ``"mean"`` rule of :mod:`caasl_agents.redq.designs`) targets
    only the variables with ``p > 1/2``, far fewer than the expert. The balanced logistic term (positives
    weighted by the inverse of their share in the batch) moves that threshold to the expert's base rate, so the
    deterministic design targets about as many variables as the expert, its likeliest ones.

    Raises:
        ValueError: an unknown ``target_loss``.
    """
    check_target_loss(target_loss)
    mean, log_std, _ = actor.get_action_dist_params(obs)  # (B, d k) each
    target = th.atanh(actions.reshape(mean.shape).clamp(-1 + CLIP, 1 - CLIP))
    nll = 0.5 * ((target - mean) / log_std.exp()) ** 2 + log_std + 0.5 * math.log(2 * math.pi)  # (B, d k)
    chosen = (actions[..., 0] > 0).to(mean.dtype)  # (B, d)
    if target_loss == "bernoulli":
        z = (mean / log_std.exp()).reshape(actions.shape)[..., 0]  # (B, d): p_i = Phi(z_i)
        design = -(chosen * th.special.log_ndtr(z) + (1 - chosen) * th.special.log_ndtr(-z))
        values = (nll.reshape(actions.shape)[..., 1:] * chosen.unsqueeze(-1)).sum(dim=-1)  # (B, d)
        loss = (design + values).sum(dim=1).mean()
    else:
        loss = nll.sum(dim=1).mean()
    if decision_weight:
        logit = mean.reshape(actions.shape)[..., 0]  # (B, d) target means
        share = chosen.mean().clamp(1e-3, 1 - 1e-3)
        bce = chosen * th.nn.functional.softplus(-logit) / share + (1 - chosen) * th.nn.functional.softplus(logit) / (
            1 - share
        )
        loss = loss + decision_weight * 0.5 * bce.sum(dim=1).mean()
    return loss


def calibrate_decisions(policy: Any, obs: np.ndarray, actions: np.ndarray) -> float:
    """Shift the target channel's mean so the deterministic design targets the expert's share of variables.

    A variable the policy cannot tell apart from the others (e.g. before any intervention) gets the
    expert's base rate ``p < 1/2`` and hence a negative mean, so ``deterministic=True`` would target
    nothing there. Adding ``delta`` to the bias of the target output makes ``mean + delta > 0`` hold for the
    same share of (state, variable) pairs of the demonstrations ``obs`` ``(S, N, d, 3)`` as the expert's
    targets in ``actions`` ``(S, d, k)``: the deterministic design is then the policy's likeliest targets,
    as many as the expert's on average. Sampled designs target a little more often in exchange.

    Returns:
        The shift ``delta`` added to ``policy.actor.mu.bias[0]``.
    """
    policy.set_training_mode(False)
    with th.no_grad():
        means = [policy.actor.get_action_dist_params(th.as_tensor(obs[s : s + 256], device=policy.device))[0]
                 for s in range(0, len(obs), 256)]  # fmt: skip
    target = th.cat(means).reshape(actions.shape)[..., 0].cpu().numpy().ravel()  # (S d,)
    share = float((actions[..., 0] > 0).mean())
    delta = -float(np.quantile(target, 1.0 - share))
    with th.no_grad():
        policy.actor.mu.bias[0] += delta
    return delta


def _batches(n: int, batch_size: int, rng: np.random.Generator) -> Iterator[np.ndarray]:
    order = rng.permutation(n)
    for s in range(0, n, batch_size):
        yield order[s : s + batch_size]


def behaviour_clone(
    policy: Any,
    obs: np.ndarray,
    actions: np.ndarray,
    *,
    epochs: int,
    batch_size: int = 64,
    learning_rate: float = 3e-4,
    rng: np.random.Generator,
    validation: float = 0.1,
    decision_weight: float = 0.0,
    target_loss: str = "gaussian",
    callback: Any = None,
) -> list[dict[str, float]]:
    """Fit the actor of ``policy`` to the demonstrations (the critics are left alone).

    Args:
        policy: a :class:`~caasl_agents.redq.policies.TransformerPolicy` (``model.policy``).
        obs: ``(S, N, d, 3)``; actions: ``(S, d, k)`` demonstrated actions in ``[-1, 1]``.
        epochs: passes over the training split.
        batch_size: demonstrations per gradient step.
        learning_rate: Adam's step size.
        rng: shuffles the split and the batches (the only source of randomness).
        validation: fraction of the demonstrations (whole shards' worth, taken from the end) held out.
        decision_weight: weight of the balanced decision term of :func:`clone_loss` (0: likelihood only).
        target_loss: the likelihood of the expert's targets, one of :data:`TARGET_LOSSES` (:func:`clone_loss`).
        callback: called as ``callback(epoch, record)`` after every epoch (e.g. to checkpoint).

    Returns:
        One record per epoch: ``epoch``, ``train_nll`` and ``val_nll``.
    """
    if obs.shape[0] != actions.shape[0] or obs.shape[2] != actions.shape[1]:
        raise ValueError(f"obs (S, N, d, 3) and actions (S, d, k) disagree: {obs.shape} vs {actions.shape}")
    n_val = round(validation * len(obs))
    split = len(obs) - n_val
    actor, device = policy.actor, policy.device
    optimizer = th.optim.Adam(actor.parameters(), lr=learning_rate)
    history = []
    for epoch in range(1, int(epochs) + 1):
        policy.set_training_mode(True)
        losses = []
        for idx in _batches(split, batch_size, rng):
            loss = clone_loss(actor, th.as_tensor(obs[idx], device=device),
                              th.as_tensor(actions[idx], device=device), decision_weight, target_loss)  # fmt: skip
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        policy.set_training_mode(False)
        with th.no_grad():
            val = [
                float(clone_loss(actor, th.as_tensor(obs[s : s + 256], device=device),
                                 th.as_tensor(actions[s : s + 256], device=device), target_loss=target_loss))
                * len(obs[s : s + 256])
                for s in range(split, len(obs), 256)
            ]  # fmt: skip
        record = {"epoch": epoch, "train_nll": float(np.mean(losses)), "val_nll": sum(val) / max(n_val, 1)}
        history.append(record)
        if callback is not None:
            callback(epoch, record)
    return history
