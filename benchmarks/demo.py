"""The README's main job (``make demo``): compare design strategies on held-out environments.

Loads the shipped design policies where they exist (``caasl_agents.load_pretrained``), then evaluates
CAASL against Random and Observational designs on a modest number of held-out ``CausalLinear-v0`` and
``SergioKnockout-v0`` environments, prints the final-step table and writes
``benchmarks/results/demo/{summary.md, summary.csv, episodes.csv, returns.png}``.

Run: ``python -m benchmarks.demo [--n-envs 30]``
"""

from __future__ import annotations

import argparse
import time

import pandas as pd
import torch

from benchmarks._common import RESULTS_DIR, markdown_table
from benchmarks.evaluate import evaluate, make_strategies, write_outputs

DEMO_IDS = ("CausalLinear-v0", "SergioKnockout-v0")


def _available_strategies(env_id: str) -> list:
    from caasl_agents import available_pretrained

    names = ["Random", "Observational"]
    if env_id in available_pretrained():
        names.insert(0, "CAASL")
    return make_strategies(names, env_id)


def main(argv: list[str] | None = None) -> pd.DataFrame:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-envs", type=int, default=100, help="held-out environments per id")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1 is fastest for single envs)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    frames = []
    for env_id in DEMO_IDS:
        strategies = _available_strategies(env_id)
        print(f"{env_id}: evaluating {', '.join(s.name for s in strategies)} on {args.n_envs} environments")
        frames.append(evaluate([env_id], strategies, args.n_envs))
    episodes = pd.concat(frames, ignore_index=True)
    table = write_outputs(episodes, RESULTS_DIR / "demo", f"python -m benchmarks.demo --n-envs {args.n_envs}")
    print()
    print(markdown_table(table))
    print(f"\nwrote {RESULTS_DIR / 'demo'} in {time.perf_counter() - start:.0f} s")
    return table


if __name__ == "__main__":
    main()
