"""Propose the next experiments for a lab's own CSV of measurements with a CAASL policy.

Run: ``python -m caasl_agents.design --policy CausalLinear-v0 --data experiments.csv [--out DIR]``

CSV conventions (``--data``):

* a header row, then one row per sample (cell, unit) in time order (the last rows are the most recent);
* one numeric column per variable, named by the header, in the lab's units (``--domain counts``:
  non-negative counts); every cell a finite number;
* an optional ``intervention`` column naming the targets of each row, separated by ``;`` (``"a;c"``);
  empty = an observational row;
* or, instead of that column, ``--intervened mask.csv``: a second CSV with the same header and number of
  rows whose cells are ``true``/``false`` (or ``1``/``0``).

Rows are numbered from 0 (the first row after the header) in error messages. The linear domain needs at
least 5 observational rows: each variable is z-scored with its observational mean and std, and the
proposed values are mapped back to the data's units (see :mod:`caasl_agents.propose`).

Prints the proposed experiments and the most probable edges. ``--out DIR`` writes ``proposal.csv`` (one row
per design and target), ``proposal.json`` (everything, including the edge posterior), ``edge_posterior.csv``
(rows = source, columns = target) and ``edge_posterior.png`` (a heatmap; needs matplotlib). Bad input
prints one line ``error: ...`` and exits with status 2.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import torch

from caasl_agents.propose import INTERVENTION_COLUMN, LAB_DOMAINS, Proposal, propose
from caasl_gym.reward.loading import RewardWeightsError

TRUE, FALSE = ("true", "1", "yes"), ("false", "0", "no")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit code 2 (as argparse), no usage block
        print(f"error: {message}", file=sys.stderr)
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="python -m caasl_agents.design",
        description=__doc__.split("\n\n", 1)[0],
        epilog=__doc__.split("\n\n", 2)[2],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--policy",
        required=True,
        help="a shipped id (CausalLinear-v0, SergioKnockout-v0), value:<id> for its value designer, or a run path",
    )
    p.add_argument("--data", required=True, type=Path, help="CSV of measurements (conventions below)")
    p.add_argument("--intervened", type=Path, help="CSV of the targets of each row (instead of an intervention column)")
    p.add_argument("--n-designs", type=int, default=1, help="experiments to propose for this round (default 1)")
    p.add_argument("--seed", type=int, default=None, help="seed of the sampled designs (default: fresh entropy)")
    p.add_argument("--domain", choices=tuple(LAB_DOMAINS), help="linear or counts (default: the policy's)")
    p.add_argument("--reward-model", default="auto", help="auto, exact, linear, sergio or a path (default auto)")
    p.add_argument("--max-rows", type=int, help="rows the policy sees (default: its training row budget)")
    p.add_argument("--deterministic", action="store_true", help="the policy's mean design instead of a sample")
    p.add_argument("--top-edges", type=int, default=10, help="edges to print (default 10)")
    p.add_argument("--torch-threads", type=int, default=1, help="torch threads (default 1: the networks are small)")
    p.add_argument("--out", type=Path, help="folder for proposal.csv, proposal.json and the heatmap")
    return p


def read_mask(path: Path, names: Sequence[str]) -> pd.DataFrame:
    """A CSV of true/false (or 1/0) cells with the data's header, as a bool DataFrame; errors name the cell."""
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    if sorted(table.columns) != sorted(names):
        raise ValueError(f"{path}: columns {list(table.columns)} do not match the data's {list(names)}")
    out = pd.DataFrame(False, index=table.index, columns=list(table.columns))
    for name in table.columns:
        for i, cell in enumerate(table[name]):
            word = cell.strip().lower()
            if word not in TRUE + FALSE:
                raise ValueError(f"{path}: column {name!r}, row {i}: {cell!r} is not true/false or 1/0")
            out.loc[i, name] = word in TRUE
    return out


def read_experiments(data: Path, intervened: Path | None = None) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """The data table (with its ``intervention`` column as text, if any) and the ``--intervened`` mask."""
    table = pd.read_csv(data, dtype={INTERVENTION_COLUMN: str}, keep_default_na=True)
    if INTERVENTION_COLUMN in table.columns:
        table[INTERVENTION_COLUMN] = table[INTERVENTION_COLUMN].fillna("")
        if intervened is not None:
            raise ValueError(f"{data} has an {INTERVENTION_COLUMN!r} column; do not also pass --intervened")
    names = [c for c in table.columns if c != INTERVENTION_COLUMN]
    return table, None if intervened is None else read_mask(intervened, names)


def plot_posterior(proposal: Proposal, path: Path) -> Path | None:
    """A heatmap of the edge posterior (rows = source, columns = target); None without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    probs = proposal.edge_probabilities
    d = len(probs)
    size = min(12.0, 2.5 + 0.35 * d)
    fig, ax = plt.subplots(figsize=(size + 1.0, size))
    image = ax.imshow(probs.to_numpy(), vmin=0.0, vmax=1.0, cmap="viridis")
    ax.set_xticks(range(d), probs.columns, rotation=90, fontsize=max(4, 10 - d // 8))
    ax.set_yticks(range(d), probs.index, fontsize=max(4, 10 - d // 8))
    ax.set_xlabel("target")
    ax.set_ylabel("source")
    ax.set_title(f"P(source -> target | data), reward model {proposal.reward_model}", fontsize=9)
    fig.colorbar(image, ax=ax, fraction=0.046)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_outputs(proposal: Proposal, out: Path, seed: int | None) -> list[Path]:
    """Write the proposal's files into ``out`` and return their paths."""
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "proposal.csv", out / "proposal.json", out / "edge_posterior.csv"]
    proposal.table().to_csv(paths[0], index=False)
    paths[1].write_text(json.dumps({"seed": seed, **proposal.to_dict()}, indent=2) + "\n")
    proposal.edge_probabilities.to_csv(paths[2])
    plot = plot_posterior(proposal, out / "edge_posterior.png")
    return paths if plot is None else [*paths, plot]


def report(proposal: Proposal, top: int) -> str:
    """The printed summary: the designs and the most probable edges."""
    table = proposal.table()
    table["target"] = table["target"].replace("", "(none: observational)")
    lines = [
        f"policy {proposal.policy} ({proposal.domain}, {proposal.intervention} interventions), reward model "
        f"{proposal.reward_model}, {proposal.rows} rows (the policy saw {proposal.policy_rows})",
        "",
        "Proposed experiments (value in the data's units"
        + ("; 0 = knockout" if proposal.domain == "counts" else "")
        + "):",
        table.to_string(index=False, float_format=lambda v: f"{v:.4g}", na_rep="-"),
        "",
        f"Most probable edges (top {top}):",
        proposal.top_edges(top).to_string(index=False, float_format=lambda v: f"{v:.3f}"),
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.torch_threads < 1:
        print(f"error: --torch-threads must be >= 1, got {args.torch_threads}", file=sys.stderr)
        return 2
    torch.set_num_threads(args.torch_threads)
    try:
        data, mask = read_experiments(args.data, args.intervened)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            proposal = propose(
                args.policy,
                data,
                mask,
                n_designs=args.n_designs,
                seed=args.seed,
                reward_model=args.reward_model,
                domain=args.domain,
                max_rows=args.max_rows,
                deterministic=args.deterministic,
            )
        written = write_outputs(proposal, args.out, args.seed) if args.out is not None else []
    except (ValueError, OSError, pd.errors.ParserError, pd.errors.EmptyDataError, RewardWeightsError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    for w in caught:
        print(f"warning: {w.message}", file=sys.stderr)
    print(report(proposal, args.top_edges))
    if written:
        print("\nwrote " + ", ".join(str(p) for p in written))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
