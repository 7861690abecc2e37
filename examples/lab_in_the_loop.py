"""Lab in the loop, end to end: a simulated "unknown lab", then rounds of propose -> experiment -> append.

The lab is a hidden linear SCM drawn from the ``CausalLinear-v0`` prior (:mod:`caasl_gym.simulators.linear`),
measured in its own units (each variable shifted and scaled, as a thermometer or an assay would report it).
The script writes the lab's observational data to ``observational.csv``, then for each round asks
:func:`caasl_agents.propose.propose` for the next experiments, "runs" them in the lab (one sample each,
the do-values in the lab's units), appends the rows (with their ``intervention`` column) and prints how
the edge posterior compares with the hidden graph: AUPRC and the expected number of correct adjacency
entries (out of d^2). The final table is written to ``experiments.csv``.

Run:   python examples/lab_in_the_loop.py [--rounds 5] [--designs 2] [--seed 0] [--out DIR]
       python examples/lab_in_the_loop.py --policy value:CausalLinear-v0   # the shipped value designer
Then:  python -m caasl_agents.design --policy CausalLinear-v0 --data DIR/experiments.csv

The small example CSV shipped beside this script was written by (the same lab, 6 variables, 30
observational rows and 4 interventional ones):

    python examples/lab_in_the_loop.py --write-csv examples/experiments.csv
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from caasl_agents.propose import (
    INTERVENTION_COLUMN,
    TARGET_SEPARATOR,
    load_policy,
    posterior,
    propose,
    value_designer_id,
)
from caasl_gym.metrics import auprc, expected_correct
from caasl_gym.simulators.linear import sample_linear_params, simulate_linear


class SimulatedLab:
    """A hidden linear SCM from the ``CausalLinear-v0`` prior, reported in its own units ``offset + scale * x``.

    Args:
        rng: the lab's only source of randomness (the model and every sample).
        d: number of variables.
    """

    def __init__(self, rng: np.random.Generator, d: int = 10) -> None:
        self.rng = rng
        self.params = sample_linear_params(rng, 1, d)
        self.names = tuple(f"V{j + 1}" for j in range(d))
        self.offset = rng.uniform(-50.0, 50.0, d)  # (d,)
        self.scale = rng.uniform(0.5, 20.0, d)  # (d,)

    @property
    def adjacency(self) -> np.ndarray:
        """``(d, d)`` bool hidden graph (``A[i, j]`` iff ``i -> j``)."""
        return self.params.adjacency[0].copy()

    def run(self, targets: np.ndarray, values: np.ndarray) -> pd.DataFrame:
        """One sample per experiment: ``targets`` ``(m, d)`` bool, ``values`` ``(m, d)`` in the lab's units.

        Returns:
            ``m`` rows in the lab's units with their ``intervention`` column.
        """
        scm_values = np.where(targets, (np.nan_to_num(values) - self.offset) / self.scale, 0.0)
        x = simulate_linear(self.rng, self.params, targets[None], scm_values[None])[0]  # (m, d)
        table = pd.DataFrame(self.offset + self.scale * x, columns=list(self.names))
        table[INTERVENTION_COLUMN] = [TARGET_SEPARATOR.join(np.asarray(self.names)[t]) for t in targets]
        return table

    def observe(self, n: int) -> pd.DataFrame:
        """``n`` observational rows."""
        d = len(self.names)
        return self.run(np.zeros((n, d), dtype=bool), np.zeros((n, d)))


def score(probs: pd.DataFrame, adjacency: np.ndarray) -> dict[str, float]:
    """AUPRC and expected correct entries of a posterior ``(d, d)`` against the hidden graph."""
    p = probs.to_numpy()[None]
    return {"auprc": float(auprc(p, adjacency[None])[0]), "expected_correct": float(expected_correct(p, adjacency)[0])}


def run_loop(
    rounds: int = 5, designs: int = 2, seed: int = 0, d: int = 10, n_obs: int = 50, out: Path | None = None, policy=None
) -> pd.DataFrame:
    """The loop; returns one row per round (0 = observational data only) with the posterior's scores.

    ``seed`` seeds the lab (``[seed, 0]``) and the proposals (``[seed, 1]``) separately.
    """
    lab = SimulatedLab(np.random.default_rng([seed, 0]), d)
    rng = np.random.default_rng([seed, 1])
    policy = "CausalLinear-v0" if policy is None else policy
    model = policy if value_designer_id(policy) else load_policy(policy)[0]  # propose loads a value designer
    data = lab.observe(n_obs)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        data.drop(columns=INTERVENTION_COLUMN).to_csv(out / "observational.csv", index=False)
    records = []
    for r in range(rounds + 1):
        if r == rounds:  # the last round only scores the data
            records.append({"round": r, "rows": len(data), "designs": "", **score(posterior(data), lab.adjacency)})
            break
        proposal = propose(model, data, n_designs=designs, seed=rng)
        targets, values = proposal.as_arrays(lab.names)
        shown = " | ".join(", ".join(f"{k}={v:.3g}" for k, v in dsg.items()) or "observe" for dsg in proposal.designs)
        records.append(
            {"round": r, "rows": len(data), "designs": shown, **score(proposal.edge_probabilities, lab.adjacency)}
        )
        data = pd.concat([data, lab.run(targets, values)], ignore_index=True)
    if out is not None:
        data.to_csv(out / "experiments.csv", index=False)
    return pd.DataFrame(records)


def write_example_csv(path: Path, seed: int = 0) -> pd.DataFrame:
    """The shipped example: the lab of ``seed`` with 6 variables, 30 observational and 4 interventional rows."""
    lab = SimulatedLab(np.random.default_rng([seed, 0]), d=6)
    targets = np.zeros((4, 6), dtype=bool)
    targets[[0, 1, 2, 3], [0, 2, 4, 1]] = True
    targets[3, 5] = True
    values = np.where(targets, lab.offset + lab.scale * np.array([1.0, -1.0, 0.5, 1.0])[:, None], np.nan)
    table = pd.concat([lab.observe(30), lab.run(targets, values)], ignore_index=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    table.round(4).to_csv(path, index=False)
    return table


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--designs", type=int, default=2, help="experiments per round")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--d", type=int, default=10, help="variables of the simulated lab")
    p.add_argument("--policy", default="CausalLinear-v0", help="a shipped id, value:<id> or a run path")
    p.add_argument("--out", type=Path, help="folder for the CSVs (default: a new temporary folder)")
    p.add_argument("--write-csv", type=Path, help="only write the small example CSV to this path")
    args = p.parse_args()
    torch.set_num_threads(1)  # the networks are small: one thread is faster, more so on a shared machine
    if args.write_csv is not None:
        write_example_csv(args.write_csv, args.seed)
        print(f"wrote {args.write_csv}")
        return
    out = args.out or Path(tempfile.mkdtemp(prefix="lab_in_the_loop_"))
    table = run_loop(args.rounds, args.designs, args.seed, d=args.d, out=out, policy=args.policy)
    with pd.option_context("display.max_colwidth", 90, "display.width", 200):
        print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    first, last = table.iloc[0], table.iloc[-1]
    print(
        f"\nAUPRC {first.auprc:.3f} -> {last.auprc:.3f}, expected correct entries {first.expected_correct:.1f} -> "
        f"{last.expected_correct:.1f} of {args.d**2}; data in {out}"
    )


if __name__ == "__main__":
    main()
