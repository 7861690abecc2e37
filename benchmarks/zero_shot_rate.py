"""Which target rate at an unseen ``d``: the shipped policies zero-shot, their own rate or a fixed one.

A policy trained at ``d = 10`` carries its target rate to ``d = 20`` and 30 unless told otherwise; the
actor's ``zero_shot_rate`` (:class:`caasl_agents.redq.policies.TransformerActor`) instead rescales its target
probabilities to sum to ``rate * d`` there, keeping their order. This benchmark is the evidence for the
default: on ``--n-envs`` validation episodes (seeds ``VALIDATION.start + i``, never the test seeds, since it
selects a setting) of each id, the shipped policy of the id's prior with each ``--rates`` value (``own``: its
own rate, ``zero_shot_rate=None``), sampled and deterministic designs, paired with Random on the same episodes.

    python -m benchmarks.zero_shot_rate
    python -m benchmarks.zero_shot_rate --ids SergioKnockout-OOD-D20-v0 --rates own 0.5 0.7 --n-envs 50

Outputs: ``benchmarks/results/zero_shot_rate.{csv,md}`` (or ``<out>.{csv,md}`` with ``--out``).
"""

from __future__ import annotations

import argparse

import pandas as pd
import torch

from benchmarks._common import command_line, policy_variant, print_table, validation_gains, write_results
from caasl_agents import load_pretrained
from caasl_agents.evaluation import PolicyStrategy
from caasl_gym.evaluation import VALIDATION
from caasl_gym.registration import training_id

DEFAULT_IDS = ("CausalLinear-OOD-D20-v0", "CausalLinear-OOD-D30-v0",
               "SergioKnockout-OOD-D20-v0", "SergioKnockout-OOD-D30-v0")  # fmt: skip
DEFAULT_RATES = ("own", "0.5")


def parse_rate(text: str) -> float | None:
    """``"own"`` (None: the policy's own rate) or a rate in (0, 1)."""
    if text == "own":
        return None
    rate = float(text)
    if not 0.0 < rate < 1.0:
        raise ValueError(f"a rate is 'own' or in (0, 1), got {text!r}")
    return rate


def rate_table(env_id: str, rates: list[float | None], n_envs: int, env_kwargs: dict | None = None) -> pd.DataFrame:
    """One row per (rate, design mode): final score and paired gain over Random on ``env_id``."""
    shipped = load_pretrained(training_id(env_id))
    strategies, labels = [], {}
    for rate in rates:  # the rate is a policy attribute: one copy of the loaded policy per rate
        model = policy_variant(shipped, zero_shot_rate=rate)
        label = "own" if rate is None else f"{rate:g}"
        for mode in ("sampled", "deterministic"):
            strategies.append(PolicyStrategy(model, deterministic=mode == "deterministic", name=f"{label}/{mode}"))
            labels[f"{label}/{mode}"] = (label, mode)
    rows = validation_gains(env_id, strategies, n_envs, env_kwargs)
    rate, mode = zip(*(labels[name] for name in rows.pop("strategy")))
    rows.insert(0, "env_id", env_id)
    rows.insert(1, "zero_shot_rate", rate)
    rows.insert(2, "designs", mode)
    return rows


def main(argv: list[str] | None = None) -> pd.DataFrame:
    p = argparse.ArgumentParser(prog="python -m benchmarks.zero_shot_rate", description=__doc__.split("\n")[0])
    p.add_argument("--ids", nargs="+", default=list(DEFAULT_IDS))
    p.add_argument("--rates", nargs="+", default=list(DEFAULT_RATES), help="'own' or target rates in (0, 1)")
    p.add_argument("--n-envs", type=int, default=100)
    p.add_argument("--out", default="zero_shot_rate", help="results name under benchmarks/results/")
    args = p.parse_args(argv)
    try:
        rates = [parse_rate(r) for r in args.rates]
    except ValueError as err:
        p.error(str(err))
    torch.set_num_threads(1)
    df = pd.concat([rate_table(i, rates, args.n_envs) for i in args.ids], ignore_index=True)
    print_table(df)
    write_results(
        args.out,
        df,
        title="Target rate of the shipped policies at an unseen number of variables",
        notes=f"{args.n_envs} validation environments per id (seeds {VALIDATION.start}+i), the id's default reward "
        "model, the shipped policy of the id's prior (trained at d = 10). zero_shot_rate: `own` keeps the "
        "policy's target probabilities; a number q rescales them to sum to q * d, keeping their order "
        "(`caasl_agents.redq.designs.rescale_target_rate`). gain: S(h_T) - S_Random(h_T) on the same episodes, "
        "paired 95% CI.",
        command=command_line("benchmarks.zero_shot_rate", argv),
    )
    return df


if __name__ == "__main__":
    main()
