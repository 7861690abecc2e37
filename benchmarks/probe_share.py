"""Shares of the privileged probe's gain, joining evaluation runs that scored the same test episodes.

The probe (:mod:`caasl_gym.evaluation.probe`) costs about 3 s per linear design, 50 minutes per 100 episodes on
the 2-core box, so a new policy is evaluated without it and compared with a probe run of the same episodes.
This joins the ``episodes.csv`` of several ``benchmarks.evaluate`` (or ``benchmarks.demo``) runs, checks that
the reference strategy (Random) has the same scores in every run on the episodes they share, to
:data:`SCORE_ATOL` (so the runs played the same environments and data), and writes
:func:`benchmarks.evaluate.probe_share` of the union.

    python -m benchmarks.probe_share benchmarks/results/demo benchmarks/results/evaluation_policies_modes \
        --strategies CAASL CAASL-deterministic --out probe_share_linear
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks._common import command_line, print_table, write_results
from benchmarks.evaluate import probe_share
from caasl_gym.evaluation.probe import PROBE_NAME

KEYS = ["env_id", "episode", "seed", "t"]
SCORE_ATOL = 1e-4
"""How far the reference's scores of two runs may differ on one episode. A reward model's float32 sums change
in the last bits with the batch an episode was scored in (up to 3e-6 seen on SERGIO); another environment or
data changes a score S(h_t) by far more (order 0.1 and up)."""


def join_runs(folders: list[Path], reference: str = "Random") -> pd.DataFrame:
    """The episodes of every run in ``folders`` (the first run wins a strategy that several ran).

    Raises:
        ValueError: a run without ``episodes.csv``, or runs whose ``reference`` scores differ on a shared
            episode (they did not play the same environments).
    """
    runs = []
    for folder in folders:
        path = Path(folder) / "episodes.csv"
        if not path.is_file():
            raise ValueError(f"{folder}: no episodes.csv (not a benchmarks.evaluate output folder)")
        runs.append(pd.read_csv(path))
    base = runs[0]
    for folder, run in zip(folders[1:], runs[1:]):
        ref = base[base.strategy == reference].merge(run[run.strategy == reference], on=KEYS, suffixes=("", "_o"))
        if ref.empty:
            raise ValueError(f"{folder} shares no {reference} episode with {folders[0]}")
        if not np.allclose(ref.score, ref.score_o, rtol=0, atol=SCORE_ATOL):
            worst = float(np.abs(ref.score - ref.score_o).max())
            raise ValueError(f"{folder}: {reference} scores differ from {folders[0]}'s by up to {worst:.3g} "
                             "on the same episodes; these runs did not play the same environments")  # fmt: skip
        new = run[~run.strategy.isin(base.strategy.unique())]
        base = pd.concat([base, new], ignore_index=True)
    return base


def main(argv: list[str] | None = None) -> pd.DataFrame:
    p = argparse.ArgumentParser(prog="python -m benchmarks.probe_share", description=__doc__.split("\n")[0])
    p.add_argument("runs", nargs="+", help="benchmarks.evaluate output folders (episodes.csv); one must hold Probe")
    p.add_argument("--strategies", nargs="*", default=None, help="strategies to report (default: all)")
    p.add_argument("--out", default="probe_share", help="results name under benchmarks/results/")
    args = p.parse_args(argv)
    try:
        episodes = join_runs([Path(r) for r in args.runs])
    except ValueError as err:
        p.error(str(err))
    if PROBE_NAME not in set(episodes.strategy):
        p.error(f"no run holds the {PROBE_NAME} strategy; add a benchmarks.evaluate folder that ran it")
    shares = probe_share(episodes)
    if args.strategies:
        shares = shares[shares.strategy.isin(args.strategies)]
    print_table(shares)
    write_results(args.out, shares, command=command_line("benchmarks.probe_share", argv),
                  title="Shares of the privileged probe's gain over Random",
                  notes=f"Runs joined on their shared test episodes (Random's scores checked equal, to 1e-4): "
                  f"{', '.join(args.runs)}. share = mean(S - S_Random) / mean(S_Probe - S_Random) at the final "
                  "step, with a 95% paired bootstrap interval.")  # fmt: skip
    return shares


if __name__ == "__main__":
    main()
