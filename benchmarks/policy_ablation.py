"""What a policy's gain rests on: its designs with one input or one part of the design taken away.

A diagnosis, run on validation episodes (never the test seeds), all paired with Random on the same episodes:

* ``policy``: the policy as it is;
* ``without <statistics>`` (policies trained with ``--posterior-features``): every encoder reads the named
  posterior statistics (:data:`~caasl_agents.common.posterior_features.FEATURE_NAMES`) replaced by their mean
  over the history's variables, so their level stays but not *which* variable has more; a group is a
  comma-separated list (``in_mass,out_mass``);
* ``targets only``: the policy's targets with values ``U(-1, 1)`` (as Random draws them), and ``values only``:
  Random's targets with the policy's values (sampled designs only);
* ``random signs``: the policy's designs (both modes) with the sign of every value drawn at random, its size
  kept. On the linear domain the prior is symmetric in a value's sign, but a policy that always intervenes
  with the same sign sets every targeted variable to the same value in every experiment.

If a policy gains at ``d = 10`` and loses at ``d = 30``, these rows say which input or which half of the
design carries the loss (``benchmarks/results/imitation_linear_stats/``).

    python -m benchmarks.policy_ablation --policy runs/pf/model.zip --env CausalLinear-OOD-D30-v0 \\
        --groups in_mass out_mass in_mass,out_mass --n-envs 100 --offset 200000 --out ablation_d30

``--policy`` is ``shipped`` (the shipped policy of the id's prior) or a ``model.zip``. Outputs:
``benchmarks/results/<out>.{csv,md}``.
"""

from __future__ import annotations

import argparse
import copy
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch as th
from stable_baselines3.common.base_class import BaseAlgorithm

from benchmarks._common import add_seed_block_args, command_line, print_table, write_results
from caasl_agents import REDQ, load_pretrained
from caasl_agents.common.posterior_features import FEATURE_NAMES, check_feature_names
from caasl_agents.common.torch_layers import AlternatingAttentionEncoder
from caasl_agents.evaluation import PolicyStrategy
from caasl_gym.evaluation import VALIDATION, RandomStrategy, evaluate, final, summarize
from caasl_gym.evaluation.seeds import check_in_family
from caasl_gym.registration import training_id

DEFAULT_OFFSET = 200_000
PARTS = ("targets", "values")


class MeanOverVariables:
    """Posterior statistics ``(B, d, S)`` with the columns of ``names`` replaced by their mean over the ``d``
    variables of each history; the other columns as ``features`` gives them."""

    def __init__(self, features: Any, names: Sequence[str]) -> None:
        self.features = features
        self.columns = [FEATURE_NAMES.index(name) for name in check_feature_names(list(names))]

    def __call__(self, obs: th.Tensor) -> th.Tensor:
        stats = self.features(obs).clone()  # (B, d, S)
        stats[..., self.columns] = stats[..., self.columns].mean(dim=1, keepdim=True)
        return stats


def posterior_encoders(policy: Any) -> list[AlternatingAttentionEncoder]:
    """The encoders of ``policy`` that read posterior statistics (actor and critics)."""
    return [m for m in policy.modules() if isinstance(m, AlternatingAttentionEncoder) and m.posterior]


def without_statistics(model: Any, names: Sequence[str]) -> Any:
    """A copy of ``model``'s policy whose encoders read the statistics ``names`` averaged over the variables
    (``model`` itself is left as it is).

    Raises:
        ValueError: ``model`` reads no posterior statistics, or none of ``names``, or an unknown name.
    """
    policy = model.policy if isinstance(model, BaseAlgorithm) else model
    encoders = posterior_encoders(policy)
    if not encoders:
        raise ValueError("this policy reads no posterior statistics (it was trained without --posterior-features)")
    read = [FEATURE_NAMES[k] for k in encoders[0].posterior_columns]
    unread = [name for name in check_feature_names(list(names)) if name not in read]
    if unread:
        raise ValueError(f"the policy does not read {unread}; it reads: {', '.join(read)}")
    variant = copy.deepcopy(policy)
    for encoder in posterior_encoders(variant):
        encoder.posterior = MeanOverVariables(encoder.posterior, names)
    return variant


class HalfPolicy:
    """One half of a policy's sampled design with the other half as Random draws it.

    ``keep="targets"``: the policy's targets (action column 0) with values ``U(-1, 1)``; ``keep="values"``:
    targets with probability 1/2 each, with the policy's values. The uniform draws come from a generator
    spawned from each episode's generator, so the policy's own noise is the one it has unablated.
    """

    def __init__(self, model: Any, keep: str) -> None:
        if keep not in PARTS:
            raise ValueError(f"keep must be one of {', '.join(PARTS)}, got {keep!r}")
        self.policy = PolicyStrategy(model, deterministic=False)
        self.keep = keep
        self.name = f"{keep} only"

    def act(self, obs: np.ndarray, rngs: Sequence[np.random.Generator]) -> np.ndarray:
        """Actions ``(B, d, 2)`` for histories ``(B, N, d, 3)``."""
        actions = self.policy.act(obs, rngs).copy()
        uniform = np.stack([rng.spawn(1)[0].uniform(-1.0, 1.0, size=actions.shape[1:]) for rng in rngs])
        column = 1 if self.keep == "targets" else 0
        actions[..., column] = uniform[..., column]
        return actions


class RandomSigns:
    """A policy's designs with each value's sign drawn at random (``±|value|``, probability 1/2 each) from a
    generator spawned from the episode's, so the policy's own noise is the one it has unablated."""

    def __init__(self, model: Any, deterministic: bool) -> None:
        self.policy = PolicyStrategy(model, deterministic=deterministic)
        self.name = f"random signs/{'deterministic' if deterministic else 'sampled'}"

    def act(self, obs: np.ndarray, rngs: Sequence[np.random.Generator]) -> np.ndarray:
        """Actions ``(B, d, 2)`` for histories ``(B, N, d, 3)``."""
        actions = self.policy.act(obs, rngs).copy()
        signs = np.stack([rng.spawn(1)[0].choice([-1.0, 1.0], size=actions.shape[1]) for rng in rngs])
        actions[..., 1] = np.abs(actions[..., 1]) * signs
        return actions


def ablation_table(
    model: Any, env_id: str, groups: Sequence[Sequence[str]], n_envs: int, seed_base: int
) -> pd.DataFrame:
    """One row per (variant, design mode): final score and paired gain over Random (95% CI)."""
    check_in_family(range(seed_base, seed_base + n_envs), VALIDATION, "ablation seeds")
    variants = [("policy", model)] + [(f"without {','.join(g)}", without_statistics(model, g)) for g in groups]
    strategies: list[Any] = []
    for label, variant in variants:
        strategies += [PolicyStrategy(variant, mode == "deterministic", f"{label}/{mode}") for mode in
                       ("sampled", "deterministic")]  # fmt: skip
    strategies += [HalfPolicy(model, part) for part in PARTS]
    strategies += [RandomSigns(model, deterministic) for deterministic in (False, True)]
    rows = final(summarize(evaluate(env_id, [*strategies, RandomStrategy()], n_envs, seed_base)))
    rows = rows[rows.strategy != "Random"]
    label, _, mode = rows.strategy.str.rpartition("/").T.to_numpy()
    return pd.DataFrame(
        {
            "env_id": env_id,
            "variant": np.where(label == "", mode, label),
            "designs": np.where(label == "", "sampled", mode),
            "score": rows.score.to_numpy(),
            "gain_vs_random": rows.gain.to_numpy(),
            "gain_ci95": rows.gain_ci95.to_numpy(),
        }
    )


def main(argv: list[str] | None = None) -> pd.DataFrame:
    p = argparse.ArgumentParser(prog="python -m benchmarks.policy_ablation", description=__doc__.split("\n")[0])
    p.add_argument("--policy", default="shipped", help="'shipped' or a model.zip")
    p.add_argument("--env", default="CausalLinear-v0")
    p.add_argument("--groups", nargs="*", default=[], help="statistics to average, one group per argument (a,b)")
    p.add_argument("--n-envs", type=int, default=100)
    add_seed_block_args(p, DEFAULT_OFFSET, "policy_ablation")
    args = p.parse_args(argv)
    th.set_num_threads(1)
    seed_base = VALIDATION.start + args.offset
    try:
        if args.policy == "shipped":
            model = load_pretrained(training_id(args.env))
        else:
            model = REDQ.load(args.policy, device="cpu")
        groups = [g.split(",") for g in args.groups]
        table = ablation_table(model, args.env, groups, args.n_envs, seed_base)
    except (ValueError, FileNotFoundError) as err:
        p.error(str(err))
    print_table(table)
    write_results(
        args.out,
        table,
        title=f"What the policy's gain rests on: {args.env}",
        notes=f"Policy: {args.policy}. {args.n_envs} validation environments (seeds {seed_base}+i), the id's "
        "default reward model. `without X`: the statistics X averaged over each history's variables in every "
        "encoder; `targets only`: the policy's targets with U(-1, 1) values; `values only`: targets with "
        "probability 1/2 with the policy's values; `random signs`: the policy's designs with each value's sign "
        "drawn at random. gain_vs_random: S(h_T) - S_Random(h_T), paired, 95% CI.",
        command=command_line("benchmarks.policy_ablation", argv),
    )
    return table


if __name__ == "__main__":
    main()
