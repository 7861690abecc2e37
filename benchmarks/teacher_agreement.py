"""How repeatable the greedy exact-posterior designer is: each history designed twice, independent generators.

A clone learns a function of the history. If the designer it imitates gives one history different designs
from one call to the next (it draws ``M`` posterior samples and random candidate sets each step), a clone can
at best learn the spread of its choices, and a per-variable actor learns only their marginals. This measures
that spread on validation histories: Random plays each episode (``caasl_agents.imitation.play_shard``), a
state is drawn from its ``T`` steps, and the designer designs it twice with generators ``default_rng([s, 1])``
and ``default_rng([s, 2])``.

    python -m benchmarks.teacher_agreement --samples 32 128 --n-states 100 --out teacher_agreement_linear

Per ``M``: the mean Jaccard index of the two target sets (``|A ∩ B| / |A ∪ B|``, 1 for two empty sets) with a
95% CI, the share of identical target sets, and the CPU seconds per design. Outputs
``benchmarks/results/<out>.{csv,md}``.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch as th

from benchmarks._common import add_seed_block_args, command_line, print_table, write_results
from caasl_agents.imitation import play_shard
from caasl_gym.evaluation import VALIDATION, RandomStrategy
from caasl_gym.evaluation.seeds import check_in_family
from caasl_gym.evaluation.stats import mean_ci95

DEFAULT_OFFSET = 700_000


def jaccard(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Jaccard index ``(S,)`` of target sets ``a``, ``b`` ``(S, d)`` bool (1 where both are empty)."""
    union = (a | b).sum(axis=-1)
    return np.where(union > 0, (a & b).sum(axis=-1) / np.maximum(union, 1), 1.0)


def validation_states(
    env_id: str, n_states: int, seed_base: int, env_kwargs: dict[str, Any] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """``n_states`` histories ``(n, N, d, 3)`` of Random's episodes ``seed_base + i`` (one per episode, at a step
    drawn from ``default_rng(seed_base + i)``) and their episode seeds ``(n,)``.

    Raises:
        ValueError: seeds outside the validation family.
    """
    check_in_family(range(seed_base, seed_base + n_states), VALIDATION, "agreement seeds")
    # the observations do not depend on the reward model: the cheap network stands in for the exact one
    kwargs = {**(env_kwargs or {}), "reward_model": "linear"}
    obs, _, _ = play_shard(env_id, RandomStrategy(), seed_base, n_states, kwargs)  # step-major: (T * n, N, d, 3)
    steps = len(obs) // n_states
    picked = [int(np.random.default_rng(seed_base + i).integers(steps)) for i in range(n_states)]
    return obs[np.array(picked) * n_states + np.arange(n_states)], np.arange(seed_base, seed_base + n_states)


def agreement(designer: Any, obs: np.ndarray, seeds: Sequence[int]) -> tuple[np.ndarray, np.ndarray, float]:
    """The Jaccard index ``(n,)`` of ``designer``'s two designs of each history ``obs`` ``(n, N, d, 3)``, whether
    they are identical ``(n,)``, and the CPU seconds per design."""
    start = time.process_time()
    first = np.stack([designer.design(o, np.random.default_rng([s, 1])) for o, s in zip(obs, seeds)])
    second = np.stack([designer.design(o, np.random.default_rng([s, 2])) for o, s in zip(obs, seeds)])
    cpu = (time.process_time() - start) / (2 * len(obs))
    a, b = first[..., 0] > 0, second[..., 0] > 0
    return jaccard(a, b), (a == b).all(axis=-1), cpu


def agreement_table(env_id: str, samples: Sequence[int], n_states: int, seed_base: int) -> pd.DataFrame:
    """One row per number of posterior samples ``M`` (see the module docstring)."""
    from caasl_gym.baselines.greedy import GreedyExactDesigner
    from caasl_gym.registration import config_for

    obs, seeds = validation_states(env_id, n_states, seed_base)
    rows = []
    for m in samples:
        designer = GreedyExactDesigner.for_config(config_for(env_id), n_samples=m)
        jac, same, cpu = agreement(designer, obs, seeds)
        mean, ci = mean_ci95(jac)
        rows.append(dict(env_id=env_id, samples=m, states=n_states, jaccard=mean, jaccard_ci95=ci,
                         identical=float(same.mean()), cpu_s_per_design=cpu))  # fmt: skip
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> pd.DataFrame:
    p = argparse.ArgumentParser(prog="python -m benchmarks.teacher_agreement", description=__doc__.split("\n")[0])
    p.add_argument("--env", default="CausalLinear-v0", help="a linear id with d <= 12")
    p.add_argument("--samples", type=int, nargs="+", default=[32], help="posterior samples M of the designer")
    p.add_argument("--n-states", type=int, default=100)
    add_seed_block_args(p, DEFAULT_OFFSET, "teacher_agreement")
    args = p.parse_args(argv)
    th.set_num_threads(1)
    seed_base = VALIDATION.start + args.offset
    try:
        table = agreement_table(args.env, args.samples, args.n_states, seed_base)
    except ValueError as err:
        p.error(str(err))
    print_table(table)
    write_results(
        args.out,
        table,
        title=f"How repeatable the greedy exact-posterior designer is: {args.env}",
        notes=f"{args.n_states} validation histories (Random's episodes {seed_base}+i, one step each), each designed "
        "twice by `GreedyExactDesigner` (24 candidates, forward selection) with independent generators. jaccard: "
        "mean |A ∩ B| / |A ∪ B| of the two target sets, 95% CI; identical: share of equal target sets; "
        "cpu_s_per_design: this process's CPU time per design.",
        command=command_line("benchmarks.teacher_agreement", argv),
    )
    return table


if __name__ == "__main__":
    main()
