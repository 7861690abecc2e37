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

With ``--guard`` every reward model is also run wrapped in
:class:`~caasl_gym.reward.IgnoreFullInterventions`, which masks such rows (rows labelled ``<model>, guarded``).

Per id and reward model (``default``: the id's own): the mean change of ``S`` per design, averaged over the
steps of an episode, then over episodes (95% CI), and the share of states where it is above 1e-4. Outputs
``benchmarks/results/<out>.{csv,md}``.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
import pandas as pd
import torch as th

from benchmarks._common import add_seed_block_args, command_line, print_table, write_results
from caasl_gym.envs.scoring import resolve_reward_model
from caasl_gym.evaluation import VALIDATION
from caasl_gym.evaluation.probe import PrivilegedProbe
from caasl_gym.evaluation.rollout import rollout
from caasl_gym.evaluation.seeds import check_in_family
from caasl_gym.evaluation.stats import mean_ci95
from caasl_gym.registration import config_for
from caasl_gym.reward import IgnoreFullInterventions

DEFAULT_OFFSET = 2_200_000
DESIGNS = ("null experiment", "observational", "single random target")
RISE_TOLERANCE = 1e-4
"""A change of ``S`` counts as a rise above this: a float32 network moves ``S`` by up to ~3e-6 on masked rows."""


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


class NullRecorder(PrivilegedProbe):
    """Plays Random's designs and, before each, records the scores ``(B, 3)`` of the history extended by each of
    :data:`DESIGNS`, simulated on the hidden model. PRIVILEGED: a measurement, not a method."""

    def __init__(self) -> None:
        super().__init__(n_random=0, single_targets=False, name="null-experiment recorder")
        self.scores: list[np.ndarray] = []

    def act(self, obs: np.ndarray, rngs: Sequence[np.random.Generator]) -> np.ndarray:
        d = obs.shape[2]
        cands = design_candidates(list(rngs), d)
        seeds = np.array([rng.integers(0, 2**63) for rng in rngs])
        self.scores.append(self.candidate_scores(obs, cands, seeds))
        return np.stack([rng.uniform(-1.0, 1.0, size=(d, 2)) for rng in rngs]).astype(np.float32)


def score_changes(env_id: str, n_envs: int, seed_base: int, env_kwargs: dict[str, Any]) -> np.ndarray:
    """``(n_envs, T, 3)`` change of ``S`` from each state of Random's episodes ``seed_base + i`` by one more
    experiment of each of :data:`DESIGNS`."""
    recorder = NullRecorder()
    run = rollout(env_id, recorder, n_envs, seed_base, env_kwargs, chunk_size=n_envs)
    return np.stack(recorder.scores, axis=1) - run.score[:, :-1, None]


def reward_variants(env_id: str, reward: str, guard: bool, env_kwargs: dict | None) -> list[tuple[str, Any]]:
    """``(label, reward_model kwarg)`` pairs of ``reward`` (``"default"``: the id's own) on ``env_id``, and with
    ``guard`` the same model wrapped in :class:`~caasl_gym.reward.IgnoreFullInterventions`."""
    config = config_for(env_id, **(env_kwargs or {}))
    spec = config.reward_model if reward == "default" else reward
    out = [(reward, spec)]
    if guard:
        out.append((f"{reward}, guarded", IgnoreFullInterventions(resolve_reward_model(spec, config=config))))
    return out


def null_table(
    ids: list[str],
    reward_models: list[str],
    n_envs: int,
    seed_base: int,
    env_kwargs: dict | None = None,
    guard: bool = False,
) -> pd.DataFrame:
    """One row per id, reward model (and its guarded variant with ``guard``) and design (see the module
    docstring); ``env_kwargs`` go to every env."""
    rows = []
    for env_id in ids:
        for reward in reward_models:
            for label, model in reward_variants(env_id, reward, guard, env_kwargs):
                changes = score_changes(env_id, n_envs, seed_base, {**(env_kwargs or {}), "reward_model": model})
                rows += [dict(env_id=env_id, reward_model=label, design=design, **change_stats(changes[:, :, k]))
                         for k, design in enumerate(DESIGNS)]  # fmt: skip
    return pd.DataFrame(rows)


def change_stats(changes: np.ndarray) -> dict[str, float]:
    """The columns of one row from the changes ``(n, T)`` of one design."""
    mean, ci = mean_ci95(changes.mean(axis=1))
    return dict(change_per_design=mean, ci95=ci, positive_share=float((changes > RISE_TOLERANCE).mean()))


def main(argv: list[str] | None = None) -> pd.DataFrame:
    p = argparse.ArgumentParser(prog="python -m benchmarks.null_experiment", description=__doc__.split("\n")[0])
    p.add_argument("--ids", nargs="+", default=["SergioKnockout-v0", "CausalLinear-v0"])
    p.add_argument("--reward-models", nargs="+", default=["default"], help="'default' or a reward model name")
    p.add_argument("--n-envs", type=int, default=100, help="validation episodes")
    p.add_argument("--guard", action="store_true", help="also each model wrapped in IgnoreFullInterventions")
    add_seed_block_args(p, DEFAULT_OFFSET, "null_experiment")
    args = p.parse_args(argv)
    th.set_num_threads(1)
    seed_base = VALIDATION.start + args.offset
    try:
        check_in_family(range(seed_base, seed_base + args.n_envs), VALIDATION, "validation seeds")
        table = null_table(args.ids, args.reward_models, args.n_envs, seed_base, guard=args.guard)
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
        "positive_share: the share of states where S rose by more than 1e-4. The null experiment intervenes on "
        "every variable and carries no information about the graph; `, guarded`: the model wrapped in "
        "IgnoreFullInterventions, which masks such rows.",
        command=command_line("benchmarks.null_experiment", argv),
    )
    return table


if __name__ == "__main__":
    main()
