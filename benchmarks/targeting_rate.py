"""How many targets pay on each id: random designs that target each variable with probability q.

On ``--n-envs`` held-out environments of each id (validation seeds by default: this is a diagnostic that may
guide a design choice, so it never touches the test seeds), Random designs with target probability ``q``
(:class:`~caasl_gym.evaluation.strategies.RandomStrategy`, values ~ U(-1, 1)) are scored against Random
(``q = 1/2``) on the same episodes. The best rate of an id shows what its reward rewards: a policy trained on
one id carries its rate to the others zero-shot, so an id whose best rate differs from the training id's is one
where the zero-shot policy must lose to Random unless it adapts its rate to the history.

    python -m benchmarks.targeting_rate
    python -m benchmarks.targeting_rate --ids SergioKnockout-v0 SergioKnockout-OOD-D30-v0 --rates 0.1 0.3 0.7

Outputs: ``benchmarks/results/targeting_rate.{csv,md}`` (or ``<out>.{csv,md}`` with ``--out``).
"""

from __future__ import annotations

import argparse
import json

import pandas as pd

from benchmarks._common import command_line, print_table, write_results
from caasl_gym.evaluation import TEST, VALIDATION, RandomStrategy, evaluate, final, summarize

DEFAULT_IDS = ("SergioKnockout-v0", "SergioKnockout-OOD-D20-v0", "SergioKnockout-OOD-D30-v0",
               "CausalLinear-v0", "CausalLinear-OOD-D20-v0", "CausalLinear-OOD-D30-v0")  # fmt: skip
DEFAULT_RATES = (0.1, 0.2, 0.3, 0.5, 0.7, 0.9)


def rate_table(
    env_id: str, rates: list[float], n_envs: int, seed_base: int, env_kwargs: dict | None = None
) -> pd.DataFrame:
    """One row per rate ``q`` (and ``q = 1/2``): the final score and the paired gain over Random on ``env_id``."""
    strategies = [RandomStrategy(q) for q in sorted(set(rates) | {0.5})]
    rows = final(summarize(evaluate(env_id, strategies, n_envs, seed_base, env_kwargs))).set_index("strategy")
    out = []
    for s in strategies:
        row = rows.loc[s.name]
        out.append({"env_id": env_id, "q": s.target_probability, "score": float(row["score"]),
                    "score_ci95": float(row["score_ci95"]), "gain_vs_random": float(row["gain"]),
                    "gain_ci95": float(row["gain_ci95"])})  # fmt: skip
    return pd.DataFrame(out)


def main(argv: list[str] | None = None) -> pd.DataFrame:
    p = argparse.ArgumentParser(prog="python -m benchmarks.targeting_rate", description=__doc__.split("\n")[0])
    p.add_argument("--ids", nargs="+", default=list(DEFAULT_IDS))
    p.add_argument("--rates", nargs="+", type=float, default=list(DEFAULT_RATES), help="target probabilities q")
    p.add_argument("--n-envs", type=int, default=100)
    p.add_argument("--test-seeds", action="store_true", help="the test seeds instead of the validation seeds")
    p.add_argument("--env-kwargs", type=json.loads, default=None, help="JSON dict passed to gym.make (e.g. num_nodes)")
    p.add_argument("--out", default="targeting_rate", help="results name under benchmarks/results/")
    args = p.parse_args(argv)
    if any(not 0.0 <= q <= 1.0 for q in args.rates):
        p.error(f"--rates must be in [0, 1], got {args.rates}")
    seed_base = TEST.start if args.test_seeds else VALIDATION.start
    if args.env_kwargs is not None and not isinstance(args.env_kwargs, dict):
        p.error(f"--env-kwargs must be a JSON object, got {args.env_kwargs!r}")
    kwargs = args.env_kwargs or {}
    df = pd.concat([rate_table(i, args.rates, args.n_envs, seed_base, kwargs) for i in args.ids], ignore_index=True)
    if kwargs:
        df.insert(1, "env_kwargs", json.dumps(kwargs, sort_keys=True))
    print_table(df)
    family = "test" if args.test_seeds else "validation"
    write_results(
        args.out,
        df,
        title="Random designs by target probability q",
        notes=f"{args.n_envs} held-out {family} environments per id (seeds {seed_base}+i), env kwargs {kwargs}, "
        "the id's default reward "
        "model. Each variable is a target with probability q, values ~ U(-1, 1); gain: S(h_T) - S_Random(h_T) "
        "on the same episodes (paired 95% CI), Random being q = 0.5.",
        command=command_line("benchmarks.targeting_rate", argv),
    )
    return df


if __name__ == "__main__":
    main()
