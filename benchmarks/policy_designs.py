"""What the shipped policies design: targets per step and intervention values, per step t.

On ``--n-envs`` held-out test environments (seeds ``TEST.start + i``) of each id, the shipped policy of
the id's prior samples its designs (the rollout of :mod:`caasl_gym.evaluation` records them, the same
episodes and designs as :mod:`benchmarks.evaluate`); per step the table reports the
mean number of targets, the fraction of variables targeted and the mean |value| of the targets
(linear ids; SERGIO knockouts have no value). Random targets half of the variables at every step.

    python -m benchmarks.policy_designs
    python -m benchmarks.policy_designs --ids CausalLinear-v0 CausalLinear-OOD-D30-v0 --n-envs 20
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd
import torch

from benchmarks._common import write_results
from caasl_agents import load_pretrained
from caasl_agents.evaluation import PolicyStrategy
from caasl_gym.evaluation import TEST, rollout
from caasl_gym.registration import domain_of, training_id

DEFAULT_IDS = ("CausalLinear-v0", "CausalLinear-OOD-D30-v0", "SergioKnockout-v0", "SergioKnockout-OOD-D30-v0")


def designs(env_id: str, n_envs: int) -> pd.DataFrame:
    """One row per step t: mean targets, fraction targeted and mean |value| of the targets."""
    policy = PolicyStrategy(load_pretrained(training_id(env_id)))
    actions = rollout(env_id, policy, n_envs, TEST.start, record_actions=True).actions  # (n, T, d, 2)
    targets = actions[..., 0] > 0  # (n, T, d)
    rows = []
    for t in range(actions.shape[1]):
        values = np.abs(actions[:, t, :, 1])[targets[:, t]]
        rows.append(
            {
                "env_id": env_id,
                "t": t,
                "d": actions.shape[2],
                "targets_per_step": float(targets[:, t].sum(1).mean()),
                "fraction_targeted": float(targets[:, t].mean()),
                "mean_abs_value": float(values.mean()) if values.size and domain_of(env_id) == "linear" else np.nan,
            }
        )
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> pd.DataFrame:
    p = argparse.ArgumentParser(prog="python -m benchmarks.policy_designs", description=__doc__.split("\n")[0])
    p.add_argument("--ids", nargs="+", default=list(DEFAULT_IDS))
    p.add_argument("--n-envs", type=int, default=100)
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    df = pd.concat([designs(i, args.n_envs) for i in args.ids], ignore_index=True)
    print(df.to_string(index=False, float_format=lambda v: f"{v:.2f}"))
    write_results(
        "policy_designs",
        df,
        title="Designs of the shipped policies per step",
        notes=f"{args.n_envs} held-out test environments per id (seeds {TEST.start}+i), designs sampled from "
        "the shipped policy of the id's prior. Random targets a fraction 0.5 at every step.",
    )
    return df


if __name__ == "__main__":
    main()
