"""What the shipped policies design: targets per step and intervention values, per step t.

On ``--n-envs`` held-out test environments (seeds ``TEST.start + i``) of each id, the shipped policy of
the id's prior designs in each of ``--modes`` (``sampled``: as in the official evaluation; ``deterministic``:
the policy's deterministic design, :mod:`caasl_agents.redq.designs`); the rollout of
:mod:`caasl_gym.evaluation` records them (the same episodes and designs as :mod:`benchmarks.evaluate`). Per
step the table reports the mean number of targets, the fraction of variables targeted, the fraction of
empty (observational) designs, the fraction of designs with the previous step's target set, and the mean
|value| of the targets (linear ids; SERGIO knockouts have no value). Random targets half of the variables at
every step.

    python -m benchmarks.policy_designs
    python -m benchmarks.policy_designs --ids CausalLinear-v0 CausalLinear-OOD-D30-v0 --n-envs 20
    python -m benchmarks.policy_designs --modes sampled deterministic --out policy_designs_modes
    python -m benchmarks.policy_designs --designer value --ids CausalLinear-v0 CausalLinear-OOD-D30-v0 \
        --modes sampled deterministic --out policy_designs_value   # the value designer (caasl_agents.value)

Outputs: ``benchmarks/results/policy_designs.{csv,md}``, or ``benchmarks/results/<out>/policy_designs.{csv,md}``
with ``--out``.
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd
import torch

from benchmarks._common import RESULTS_DIR, command_line, write_results
from caasl_agents import load_pretrained
from caasl_agents.evaluation import PolicyStrategy
from caasl_agents.value import load_value_designer
from caasl_gym.evaluation import TEST, rollout
from caasl_gym.registration import domain_of, training_id

DEFAULT_IDS = ("CausalLinear-v0", "CausalLinear-OOD-D30-v0", "SergioKnockout-v0", "SergioKnockout-OOD-D30-v0")


MODES = ("sampled", "deterministic")


DESIGNERS = ("policy", "value")


def designs(env_id: str, n_envs: int, mode: str = "sampled", designer: str = "policy") -> pd.DataFrame:
    """One row per step t: mean targets, fraction targeted, fraction of empty designs, fraction of designs that
    target every variable (the null experiment, ``benchmarks.null_experiment``), fraction of designs that
    repeat the previous step's target set (NaN at t = 0) and mean |value| of the targets, for the ``mode``
    (one of :data:`MODES`) designs of the shipped policy of ``env_id``'s prior, or with ``designer="value"`` of its
    shipped value designer (:func:`~caasl_agents.value.load_value_designer`)."""
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; valid choices: {', '.join(MODES)}")
    if designer not in DESIGNERS:
        raise ValueError(f"unknown designer {designer!r}; valid choices: {', '.join(DESIGNERS)}")
    deterministic = mode == "deterministic"
    if designer == "value":
        policy = load_value_designer(env_id, deterministic=deterministic)
    else:
        policy = PolicyStrategy(load_pretrained(training_id(env_id)), deterministic=deterministic)
    actions = rollout(env_id, policy, n_envs, TEST.start, record_actions=True).actions  # (n, T, d, 2)
    targets = actions[..., 0] > 0  # (n, T, d)
    rows = []
    for t in range(actions.shape[1]):
        values = np.abs(actions[:, t, :, 1])[targets[:, t]]
        rows.append(
            {
                "env_id": env_id,
                "designer": designer,
                "designs": mode,
                "t": t,
                "d": actions.shape[2],
                "targets_per_step": float(targets[:, t].sum(1).mean()),
                "fraction_targeted": float(targets[:, t].mean()),
                "fraction_empty": float((~targets[:, t].any(1)).mean()),
                "fraction_full": float(targets[:, t].all(1).mean()),
                "fraction_repeated": float((targets[:, t] == targets[:, t - 1]).all(1).mean()) if t else np.nan,
                "mean_abs_value": float(values.mean()) if values.size and domain_of(env_id) == "linear" else np.nan,
            }
        )
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> pd.DataFrame:
    p = argparse.ArgumentParser(prog="python -m benchmarks.policy_designs", description=__doc__.split("\n")[0])
    p.add_argument("--ids", nargs="+", default=list(DEFAULT_IDS))
    p.add_argument("--n-envs", type=int, default=100)
    p.add_argument("--modes", nargs="+", default=["sampled"], choices=MODES, help="design modes of the policy")
    p.add_argument("--designer", default="policy", choices=DESIGNERS, help="the shipped policy or value designer")
    p.add_argument("--out", default=None, help="folder under benchmarks/results/ (default: policy_designs.* there)")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    frames = [designs(i, args.n_envs, m, args.designer) for i in args.ids for m in args.modes]
    df = pd.concat(frames, ignore_index=True)
    print(df.to_string(index=False, float_format=lambda v: f"{v:.2f}"))
    name = "policy_designs"
    if args.out is not None:
        (RESULTS_DIR / args.out).mkdir(parents=True, exist_ok=True)
        name = f"{args.out}/policy_designs"
    rule = "random candidates drawn from the history's bytes" if args.designer == "value" else "`deterministic_design`"
    described = " and ".join(
        {"sampled": "sampled", "deterministic": f"deterministic (the {rule})"}[m] for m in args.modes
    )
    who = "value designer" if args.designer == "value" else "policy"
    write_results(
        name,
        df,
        title="Designs of the shipped policies per step",
        notes=f"{args.n_envs} held-out test environments per id (seeds {TEST.start}+i), {described} designs of "
        f"the shipped {who} of the id's prior. Random targets a fraction 0.5 at every step; fraction_empty: "
        "designs that target nothing (observational); fraction_full: designs that target every variable (the "
        "null experiment, which the sergio reward model wrongly pays for; Random at d = 10: about 0.001); "
        "fraction_repeated: designs with the same target set as the "
        "step before (Random at d = 10: about 0.001).",
        command=command_line("benchmarks.policy_designs", argv),
    )
    return df


if __name__ == "__main__":
    main()
