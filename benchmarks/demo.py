"""The README's main job (``make demo``): compare design strategies on held-out environments.

Loads the shipped design policies where they exist (``caasl_agents.load_pretrained``), then evaluates
CAASL against Random and Observational designs on a modest number of held-out ``CausalLinear-v0`` and
``SergioKnockout-v0`` environments, prints the final-step table and writes
``benchmarks/results/demo/{summary.md, summary.csv, episodes.csv, scores.png}``.

Run: ``python -m benchmarks.demo [--n-envs 30]``
"""

from __future__ import annotations

import argparse
import time

import pandas as pd
import torch

from benchmarks._common import RESULTS_DIR, markdown_table
from benchmarks.evaluate import run, write_outputs

DEMO_IDS = ("CausalLinear-v0", "SergioKnockout-v0")


def main(argv: list[str] | None = None) -> pd.DataFrame:
    from caasl_agents import available_pretrained

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-envs", type=int, default=100, help="held-out environments per id")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1 is fastest on a busy machine)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    frames = []
    for env_id in DEMO_IDS:
        names = ["CAASL"] * (env_id in available_pretrained()) + ["Random", "Observational"]
        frames.append(run([env_id], names, args.n_envs))
    episodes = pd.concat(frames, ignore_index=True)
    table = write_outputs(episodes, RESULTS_DIR / "demo", f"python -m benchmarks.demo --n-envs {args.n_envs}")
    print()
    print(markdown_table(table))
    print(f"\nwrote {RESULTS_DIR / 'demo'} in {time.perf_counter() - start:.0f} s")
    return table


if __name__ == "__main__":
    main()
