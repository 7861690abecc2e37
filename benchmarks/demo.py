"""The README's main job (``make demo``): compare design strategies on held-out environments.

Loads the shipped design policies where they exist (``caasl_agents.load_pretrained``, and the value designers
of ``caasl_agents.value.load_value_designer``), then evaluates CAASL (sampled designs, as in the official
evaluation, and the policy's deterministic designs) and ``CAASL-value`` in both modes against Random
and Observational designs on held-out ``CausalLinear-v0`` and ``SergioKnockout-v0`` environments, prints the
final-step table and writes ``<out>/{summary.md, summary.csv, episodes.csv, scores.png}``: by default
``runs/demo/`` (git-ignored), so a demo never rewrites the committed reference ``benchmarks/results/demo/``,
which the same command with ``--out benchmarks/results/demo`` regenerates.

Run: ``python -m benchmarks.demo [--n-envs 30] [--out runs/demo]``
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd
import torch

from benchmarks._common import RESULTS_DIR, markdown_table
from benchmarks.evaluate import run, write_outputs

DEMO_IDS = ("CausalLinear-v0", "SergioKnockout-v0")
ROOT = RESULTS_DIR.parent.parent
DEFAULT_OUT = "runs/demo"
"""Where ``make demo`` writes (relative to the working directory; ``runs/`` is git-ignored)."""
REFERENCE = RESULTS_DIR / "demo"
"""The committed reference results."""


def main(argv: list[str] | None = None) -> pd.DataFrame:
    from caasl_agents import available_pretrained
    from caasl_agents.value import available_value_designers

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-envs", type=int, default=100, help="held-out environments per id")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1 is fastest on a busy machine)")
    parser.add_argument(
        "--out",
        default=DEFAULT_OUT,
        help=f"results folder (default: {DEFAULT_OUT}; the committed reference is {REFERENCE.relative_to(ROOT)})",
    )
    args = parser.parse_args(argv)
    out = Path(args.out)
    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    frames = []
    for env_id in DEMO_IDS:
        shipped = ["CAASL", "CAASL-deterministic"] if env_id in available_pretrained() else []
        if env_id in available_value_designers():
            shipped += ["CAASL-value", "CAASL-value-deterministic"]
        names = [*shipped, "Random", "Observational"]
        frames.append(run([env_id], names, args.n_envs))
    episodes = pd.concat(frames, ignore_index=True)
    command = f"python -m benchmarks.demo --n-envs {args.n_envs}"
    if out.resolve() != Path(DEFAULT_OUT).resolve():
        command += f" --out {args.out}"
    table = write_outputs(episodes, out, command)
    print()
    print(markdown_table(table))
    print(f"\nwrote {out} in {time.perf_counter() - start:.0f} s (the committed reference: {REFERENCE})")
    return table


if __name__ == "__main__":
    main()
