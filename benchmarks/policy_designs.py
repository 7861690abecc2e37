"""What the shipped policies design: targets per step and intervention values, per step t.

On ``--n-envs`` held-out environments (seeds ``EVAL_SEED_BASE + i``) of each id, the shipped policy of
the id's prior samples its designs (as in :mod:`benchmarks.evaluate`); per step the table reports the
mean number of targets, the fraction of variables targeted and the mean |value| of the targets
(linear ids; SERGIO knockouts have no value). Random targets half of the variables at every step.

    python -m benchmarks.policy_designs
    python -m benchmarks.policy_designs --ids CausalLinear-v0 CausalLinear-OOD-D30-v0 --n-envs 20
"""

from __future__ import annotations

import argparse

import gymnasium as gym
import numpy as np
import pandas as pd
import torch

import caasl_gym  # noqa: F401  (registers the ids)
from benchmarks._common import write_results
from benchmarks.evaluate import EVAL_SEED_BASE, _training_id
from caasl_agents import load_pretrained, predict_any_d

DEFAULT_IDS = ("CausalLinear-v0", "CausalLinear-OOD-D30-v0", "SergioKnockout-v0", "SergioKnockout-OOD-D30-v0")


def designs(env_id: str, n_envs: int) -> pd.DataFrame:
    """One row per step t: mean targets, fraction targeted and mean |value| of the targets."""
    model = load_pretrained(_training_id(env_id))
    venv = gym.make_vec(env_id, num_envs=n_envs)
    rng = np.random.default_rng(0)
    obs, _ = venv.reset(seed=EVAL_SEED_BASE)
    rows, t, done = [], 0, False
    while not done:
        action = predict_any_d(model, obs, deterministic=False, rng=rng)  # (B, d, 2)
        targets = action[..., 0] > 0
        values = np.abs(action[..., 1])[targets]
        rows.append(
            {
                "env_id": env_id,
                "t": t,
                "d": action.shape[1],
                "targets_per_step": float(targets.sum(1).mean()),
                "fraction_targeted": float(targets.mean()),
                "mean_abs_value": float(values.mean()) if values.size and env_id.startswith("Causal") else np.nan,
            }
        )
        obs, _, terminated, truncated, _ = venv.step(action)
        t, done = t + 1, bool(np.all(terminated | truncated))
    venv.close()
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
        notes=f"{args.n_envs} held-out environments per id (seeds {EVAL_SEED_BASE}+i), designs sampled from "
        "the shipped policy of the id's prior. Random targets a fraction 0.5 at every step.",
    )
    return df


if __name__ == "__main__":
    main()
