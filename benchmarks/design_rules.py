"""Which deterministic design rule: the shipped policies under every rule, on validation seeds.

``predict(obs, deterministic=True)`` turns the actor's per-variable target probabilities into one design by a
rule (:data:`caasl_agents.redq.designs.DETERMINISTIC_DESIGNS`). This benchmark is the evidence for the default:
on ``--n-envs`` validation episodes (seeds ``VALIDATION.start + i``, never the test seeds, since it selects a
rule), the shipped policy of each id's prior designs with each rule and with sampled designs, paired with
Random on the same episodes.

    python -m benchmarks.design_rules
    python -m benchmarks.design_rules --ids SergioKnockout-v0 --n-envs 50

Outputs: ``benchmarks/results/design_rules.{csv,md}`` (or ``<out>.{csv,md}`` with ``--out``).
"""

from __future__ import annotations

import argparse

import pandas as pd
import torch

from benchmarks._common import command_line, policy_variant, print_table, validation_gains, write_results
from caasl_agents import load_pretrained
from caasl_agents.evaluation import PolicyStrategy
from caasl_agents.redq.designs import DETERMINISTIC_DESIGNS
from caasl_gym.evaluation import VALIDATION
from caasl_gym.registration import training_id

DEFAULT_IDS = ("CausalLinear-v0", "SergioKnockout-v0")


def rule_table(env_id: str, n_envs: int, rules: tuple[str, ...] = DETERMINISTIC_DESIGNS) -> pd.DataFrame:
    """One row per design mode (``sampled`` and each rule): final score and paired gain over Random."""
    shipped = load_pretrained(training_id(env_id))
    strategies = [PolicyStrategy(shipped, deterministic=False, name="sampled")]
    strategies += [PolicyStrategy(policy_variant(shipped, deterministic_design=rule), True, rule) for rule in rules]
    rows = validation_gains(env_id, strategies, n_envs).rename(columns={"strategy": "designs"})
    rows.insert(0, "env_id", env_id)
    return rows


def main(argv: list[str] | None = None) -> pd.DataFrame:
    p = argparse.ArgumentParser(prog="python -m benchmarks.design_rules", description=__doc__.split("\n")[0])
    p.add_argument("--ids", nargs="+", default=list(DEFAULT_IDS))
    p.add_argument("--n-envs", type=int, default=100)
    p.add_argument("--out", default="design_rules", help="results name under benchmarks/results/")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    df = pd.concat([rule_table(i, args.n_envs) for i in args.ids], ignore_index=True)
    print_table(df)
    write_results(
        args.out,
        df,
        title="Deterministic design rules of the shipped policies",
        notes=f"{args.n_envs} validation environments per id (seeds {VALIDATION.start}+i), the id's default reward "
        "model, the shipped policy of the id's prior. designs: `sampled`, or the deterministic design under "
        "each rule of `caasl_agents.redq.designs` (`coverage`: round(sum p_i) targets by p_i / (1 + c_i), c_i the "
        "history's rows that targeted variable i; `top-k`: the round(sum p_i) likeliest; `top-k-nonempty`: at "
        "least one; `mean`: SB3's tanh(mean)). gain: S(h_T) - S_Random(h_T) on the same episodes, paired 95% CI.",
        command=command_line("benchmarks.design_rules", argv),
    )
    return df


if __name__ == "__main__":
    main()
