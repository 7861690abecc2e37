"""Does a reward model reward an experiment that measures nothing? The null experiment, step by step.

An experiment that intervenes on *every* variable (SERGIO: knocks out every gene, so every row is zero;
linear: sets every variable to its value) carries no information about the graph: under the exact posterior
the score ``S`` cannot move. A reward model that raises ``S`` on it pays a policy for wasting the experiment,
and a policy trained on that reward can learn to. This measures, on validation episodes that Random plays, the
change of ``S`` that one more experiment makes, from each state ``h_t`` (``t = 0..T-1``): the null experiment,
the observational one and a single random target, each simulated on the hidden model (the env's privileged
``lookahead_scores``, a measurement, not a method) with common noise.

    python -m benchmarks.null_experiment --ids SergioKnockout-v0 CausalLinear-v0 \\
        --reward-models default linear --out null_experiment

Per id and reward model (``default``: the id's own): the mean change of ``S`` per design, averaged over the
steps of an episode, then over episodes (95% CI), and the share of states where it is positive. Outputs
``benchmarks/results/<out>.{csv,md}``.
"""

from __future__ import annotations

import argparse
from typing import Any

import gymnasium as gym
import numpy as np
import pandas as pd
import torch as th

from benchmarks._common import add_seed_block_args, command_line, print_table, write_results
from caasl_gym.evaluation import VALIDATION
from caasl_gym.evaluation.seeds import check_in_family, strategy_rngs
from caasl_gym.evaluation.stats import mean_ci95

DEFAULT_OFFSET = 2_200_000
DESIGNS = ("null experiment", "observational", "single random target")


def design_candidates(rngs: list[np.random.Generator], d: int) -> np.ndarray:
    """``(B, 3, d, 2)`` float32 actions of :data:`DESIGNS`: every target, none, one uniform target; values
    ``U(-1, 1)``."""
    out = np.zeros((len(rngs), len(DESIGNS), d, 2), dtype=np.float32)
    out[..., 0] = -1.0
    out[:, 0, :, 0] = 1.0
    for b, rng in enumerate(rngs):
        out[b, 2, rng.integers(d), 0] = 1.0
        out[b, :, :, 1] = rng.uniform(-1.0, 1.0, size=d)
    return out


def score_changes(env_id: str, n_envs: int, seed_base: int, env_kwargs: dict[str, Any]) -> np.ndarray:
    """``(n_envs, T, 3)`` change of ``S`` from each state of Random's episodes ``seed_base + i`` by one more
    experiment of each of :data:`DESIGNS`."""
    env = gym.make_vec(env_id, num_envs=n_envs, **env_kwargs)
    try:
        obs, info = env.reset(seed=seed_base)
        rngs = strategy_rngs(range(seed_base, seed_base + n_envs))
        steps, done = [], False
        while not done:
            cands = design_candidates(rngs, obs.shape[2])
            seeds = np.array([rng.integers(0, 2**63) for rng in rngs])
            steps.append(env.unwrapped.lookahead_scores(obs, cands, seeds) - info["score"][:, None])
            action = np.stack([rng.uniform(-1.0, 1.0, size=env.action_space.shape[1:]) for rng in rngs])
            obs, _, terminated, truncated, info = env.step(action.astype(np.float32))
            done = bool(np.all(terminated | truncated))
    finally:
        env.close()
    return np.stack(steps, axis=1)


def null_table(
    ids: list[str], reward_models: list[str], n_envs: int, seed_base: int, env_kwargs: dict | None = None
) -> pd.DataFrame:
    """One row per id, reward model and design (see the module docstring); ``env_kwargs`` go to every env."""
    rows = []
    for env_id in ids:
        for reward in reward_models:
            kwargs = dict(env_kwargs or {}) if reward == "default" else {**(env_kwargs or {}), "reward_model": reward}
            changes = score_changes(env_id, n_envs, seed_base, kwargs)
            for k, design in enumerate(DESIGNS):
                mean, ci = mean_ci95(changes[:, :, k].mean(axis=1))
                rows.append(dict(env_id=env_id, reward_model=reward, design=design, change_per_design=mean,
                                 ci95=ci, positive_share=float((changes[:, :, k] > 0).mean())))  # fmt: skip
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> pd.DataFrame:
    p = argparse.ArgumentParser(prog="python -m benchmarks.null_experiment", description=__doc__.split("\n")[0])
    p.add_argument("--ids", nargs="+", default=["SergioKnockout-v0", "CausalLinear-v0"])
    p.add_argument("--reward-models", nargs="+", default=["default"], help="'default' or a reward model name")
    p.add_argument("--n-envs", type=int, default=100, help="validation episodes")
    add_seed_block_args(p, DEFAULT_OFFSET, "null_experiment")
    args = p.parse_args(argv)
    th.set_num_threads(1)
    seed_base = VALIDATION.start + args.offset
    try:
        check_in_family(range(seed_base, seed_base + args.n_envs), VALIDATION, "validation seeds")
        table = null_table(args.ids, args.reward_models, args.n_envs, seed_base)
    except (ValueError, gym.error.Error) as err:
        p.error(str(err))
    print_table(table)
    write_results(
        args.out,
        table,
        title="What one more experiment changes: the null experiment next to real ones",
        notes=f"{args.n_envs} validation episodes {seed_base}+i played by Random; from each state h_t, t < T, "
        "the change of S by one more experiment simulated on the hidden model (common noise across the three "
        "designs). change_per_design: the mean over an episode's steps, then over episodes, with a 95% CI; "
        "positive_share: the share of states where S rose. The null experiment intervenes on every variable "
        "and carries no information about the graph.",
        command=command_line("benchmarks.null_experiment", argv),
    )
    return table


if __name__ == "__main__":
    main()
