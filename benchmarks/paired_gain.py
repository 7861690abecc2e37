"""Paired gains over any strategy, from ``benchmarks.evaluate`` runs of the same test episodes.

``evaluate`` pairs every strategy with Random. "Is the policy above round-robin?" needs the difference to
round-robin on the same episodes, with its own CI. This joins the ``episodes.csv`` of one or more runs
(:func:`benchmarks.probe_share.join_runs`: Random's scores must agree on the shared episodes) and writes each
strategy's final-step gain over ``--reference``, paired by episode.

    python -m benchmarks.paired_gain benchmarks/results/evaluation_sergio_pf_uniform --reference RoundRobin \\
        --out paired_sergio_round_robin
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from benchmarks._common import command_line, print_table, write_results
from benchmarks.probe_share import join_runs
from caasl_gym.evaluation import final, summarize


def paired_gains(episodes: pd.DataFrame, reference: str) -> pd.DataFrame:
    """Final-step ``gain`` (mean of ``S - S_reference`` over the shared episodes) and ``gain_ci95`` per
    (``env_id``, ``strategy``), the reference and the ids it did not run left out.

    Raises:
        ValueError: ``reference`` is not among the strategies (the message lists them).
    """
    strategies = sorted(episodes.strategy.unique())
    if reference not in strategies:
        raise ValueError(f"no strategy {reference!r} in these runs; they hold: {', '.join(strategies)}")
    rows = final(summarize(episodes, reference=reference))
    rows = rows[(rows.strategy != reference) & rows.gain.notna()]  # ids the reference did not run are left out
    return rows[["env_id", "strategy", "t", "n", "score", "gain", "gain_ci95"]].reset_index(drop=True)


def main(argv: list[str] | None = None) -> pd.DataFrame:
    p = argparse.ArgumentParser(prog="python -m benchmarks.paired_gain", description=__doc__.split("\n")[0])
    p.add_argument("runs", nargs="+", help="benchmarks.evaluate output folders (episodes.csv) of the same episodes")
    p.add_argument("--reference", required=True, help="the strategy to pair with (e.g. RoundRobin)")
    p.add_argument("--out", default="paired_gain", help="results name under benchmarks/results/")
    args = p.parse_args(argv)
    try:
        table = paired_gains(join_runs([Path(r) for r in args.runs]), args.reference)
    except ValueError as err:
        p.error(str(err))
    print_table(table)
    write_results(args.out, table, command=command_line("benchmarks.paired_gain", argv),
                  title=f"Paired gains over {args.reference}",
                  notes=f"Runs joined on their shared test episodes (Random's scores checked equal, to 1e-4): "
                  f"{', '.join(args.runs)}. gain = mean(S - S_{args.reference}) at the final step over the "
                  "same episodes, with its 95% CI.")  # fmt: skip
    return table


if __name__ == "__main__":
    main()
