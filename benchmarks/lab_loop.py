"""Lab in the loop: the 5-round loop of :mod:`caasl_agents.propose` against Random designs on simulated labs.

Each lab is a hidden linear SCM from the ``CausalLinear-v0`` prior (d = 10), reported in its own units
(``offset + scale * x``, offsets ``U(-50, 50)``, scales ``U(0.5, 20)``), with 50 observational rows. Every
round a strategy proposes 2 experiments from the lab's table (values in the lab's units), the lab runs each
once (one row), the rows are appended, and the exact posterior of all rows is scored against the hidden
graph: AUPRC and the expected number of correct adjacency entries (of d² = 100).

Strategies, all through :func:`~caasl_agents.propose.decode_actions` (the environments' decoding and the
observational mean/std back to the lab's units): ``CAASL`` (:func:`~caasl_agents.propose.propose`, the
shipped policy, sampled designs), ``CAASL-value`` (``propose("value:CausalLinear-v0", ...)``, the shipped
value designer, sampled designs), ``Random`` (:class:`~caasl_gym.evaluation.RandomStrategy` actions) and
``Observational``. Lab ``i`` is seeded with the test seed ``TEST.start + i`` (model, initial data and the
experiments' noise, the same for every strategy), the strategies with ``strategy_rngs``; differences are
paired over the labs.

Also timed, on one torch thread: one proposal (``propose`` with the policy or value designer already loaded) at
d = 5, 10, 20, 50 on a 60-row table, and ``python examples/lab_in_the_loop.py`` end to end (a fresh process).

Run: ``python -m benchmarks.lab_loop [--labs 20]``
Outputs: ``benchmarks/results/lab_loop/summary.md``, ``rounds.csv`` (one row per lab, strategy and round),
``timings.csv``.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from benchmarks._common import RESULTS_DIR, command_line, environment_header, markdown_table, median_seconds
from caasl_agents.propose import check_data, decode_actions, load_policy, posterior, propose
from caasl_gym.evaluation import TEST, RandomStrategy
from caasl_gym.evaluation.seeds import check_in_family, strategy_rngs
from caasl_gym.evaluation.stats import mean_ci95, paired_difference
from caasl_gym.metrics import auprc, expected_correct
from caasl_gym.simulators.linear import sample_linear_params, simulate_linear

OUT = RESULTS_DIR / "lab_loop"
STRATEGIES = ("CAASL", "CAASL-value", "Random", "Observational")
VALUE = "value:CausalLinear-v0"
"""The ``propose`` policy of ``CAASL-value``: the shipped value designer."""


class Lab:
    """A hidden linear SCM in its own units; every draw (model, data, experiments) from ``rng``."""

    def __init__(self, rng: np.random.Generator, d: int) -> None:
        self.rng, self.params = rng, sample_linear_params(rng, 1, d)
        self.names = [f"V{j + 1}" for j in range(d)]
        self.offset, self.scale = rng.uniform(-50.0, 50.0, d), rng.uniform(0.5, 20.0, d)

    def run(self, targets: np.ndarray, values: np.ndarray) -> tuple[pd.DataFrame, np.ndarray]:
        """``(m, d)`` rows in the lab's units for ``(m, d)`` targets and values (lab units) and the mask."""
        scm = np.where(targets, (np.nan_to_num(values) - self.offset) / self.scale, 0.0)
        x = simulate_linear(self.rng, self.params, targets[None], scm[None])[0]
        return pd.DataFrame(self.offset + self.scale * x, columns=self.names), targets


def actions_of(strategy: str, model, data: pd.DataFrame, mask: np.ndarray, k: int, rng: np.random.Generator):
    """``(k, d, 2)`` actions of a strategy for the table so far (CAASL: the proposal's own actions)."""
    d = data.shape[1]
    if strategy in ("CAASL", "CAASL-value"):
        return propose(model if strategy == "CAASL" else VALUE, data, mask, n_designs=k, seed=rng).actions
    if strategy == "Random":
        return RandomStrategy().act(np.zeros((k, 1, d, 3)), [rng] * k)
    return np.stack([np.full((d,), -1.0), np.zeros(d)], axis=-1)[None].repeat(k, axis=0)


def one_lab(seed: int, strategy: str, model, rounds: int, k: int, d: int, n_obs: int) -> list[dict]:
    lab = Lab(np.random.default_rng(seed), d)
    data, mask = lab.run(np.zeros((n_obs, d), dtype=bool), np.zeros((n_obs, d)))
    rng = strategy_rngs([seed])[0]
    records = []
    for r in range(rounds + 1):
        probs = posterior(data, mask).to_numpy()[None]
        adj = lab.params.adjacency[:1]
        records.append(
            dict(seed=seed, strategy=strategy, round=r, rows=len(data), auprc=float(auprc(probs, adj)[0]),
                 expected_correct=float(expected_correct(probs, adj)[0]))
        )  # fmt: skip
        if r == rounds:
            break
        targets, _, values = decode_actions(actions_of(strategy, model, data, mask, k, rng), check_data(data, mask))
        rows, new = lab.run(targets, values)
        data, mask = pd.concat([data, rows], ignore_index=True), np.concatenate([mask, new])
    return records


def proposal_seconds(model, d: int, repeats: int) -> float:
    lab = Lab(np.random.default_rng(TEST.start + 999), d)
    data, mask = lab.run(np.zeros((60, d), dtype=bool), np.zeros((60, d)))
    rng = np.random.default_rng(0)
    return median_seconds(lambda: propose(model, data, mask, seed=rng), repeats)[0]


def example_seconds() -> float:
    start = time.perf_counter()
    root = Path(__file__).resolve().parents[1]
    subprocess.run([sys.executable, str(root / "examples" / "lab_in_the_loop.py")], check=True, capture_output=True)
    return time.perf_counter() - start


def summary_table(rounds: pd.DataFrame) -> pd.DataFrame:
    final = int(rounds["round"].max())
    last = rounds[rounds["round"] == final]
    first = rounds[rounds["round"] == 0]
    rows = []
    for strategy in STRATEGIES:
        s = last[last.strategy == strategy].sort_values("seed")
        ref = last[last.strategy == "Random"].sort_values("seed")
        s0 = first[first.strategy == strategy].sort_values("seed")
        row = {"strategy": strategy}
        for metric in ("auprc", "expected_correct"):
            m, c = mean_ci95(s[metric])
            m0, _ = mean_ci95(s0[metric])
            g, gc = paired_difference(s[metric].to_numpy(), ref[metric].to_numpy())
            row[f"{metric} round 0"] = f"{m0:.3f}"
            row[f"{metric} round {final}"] = f"{m:.3f} ± {c:.3f}"
            row[f"{metric} vs Random (paired)"] = "" if strategy == "Random" else f"{g:+.3f} ± {gc:.3f}"
        rows.append(row)
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    p.add_argument("--labs", type=int, default=20)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--designs", type=int, default=2, help="experiments per round")
    p.add_argument("--repeats", type=int, default=20, help="timed proposals per d")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    seeds = range(TEST.start, TEST.start + args.labs)
    check_in_family(seeds, TEST, "lab seeds")
    model, _ = load_policy("CausalLinear-v0")
    records = [
        r for seed in seeds for s in STRATEGIES for r in one_lab(seed, s, model, args.rounds, args.designs, 10, 50)
    ]
    rounds = pd.DataFrame(records)
    timings = pd.DataFrame(
        [
            {
                "what": f"one proposal, d = {d}, 60 rows",
                "reward model": "exact" if d <= 12 else "linear",
                "seconds": proposal_seconds(model, d, args.repeats),
            }
            for d in (5, 10, 20, 50)
        ]
        + [
            {
                "what": f"one value-designer proposal, d = {d}, 60 rows",
                "reward model": "exact" if d <= 12 else "linear",
                "seconds": proposal_seconds(VALUE, d, args.repeats),
            }
            for d in (5, 10, 20, 50)
        ]
        + [
            {
                "what": "python examples/lab_in_the_loop.py (fresh process)",
                "reward model": "exact",
                "seconds": example_seconds(),
            }
        ]
    )
    OUT.mkdir(parents=True, exist_ok=True)
    rounds.to_csv(OUT / "rounds.csv", index=False)
    timings.to_csv(OUT / "timings.csv", index=False)
    table = summary_table(rounds)
    per_round = rounds.groupby(["strategy", "round"], sort=False)[["auprc", "expected_correct"]].mean().reset_index()
    command = command_line("benchmarks.lab_loop", argv)
    md = [
        "# Lab in the loop: CAASL and value-designer proposals vs Random designs on simulated labs",
        "",
        environment_header(command.strip()),
        "",
        f"{args.labs} simulated labs (hidden CausalLinear-v0 SCMs, d = 10, in their own units; seeds {TEST.start}+i), "
        f"50 observational rows, {args.rounds} rounds of {args.designs} experiments (one row each); the exact "
        "posterior of all rows against the hidden graph. Mean ± 95% CI over the labs; differences paired on the "
        "same labs (same model, initial data and experiment noise stream).",
        "",
        markdown_table(table),
        "",
        "Mean per round:",
        "",
        markdown_table(
            per_round.pivot(index="round", columns="strategy", values=["auprc", "expected_correct"]).pipe(_flat)
        ),
        "",
        "Wall time (one torch thread; median of the timed proposals after a warm-up, the policy already loaded):",
        "",
        markdown_table(timings),
        "",
    ]
    (OUT / "summary.md").write_text("\n".join(md))
    print("\n".join(md))


def _flat(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    out.columns = [f"{metric} {strategy}" for metric, strategy in out.columns]
    return out.reset_index()


if __name__ == "__main__":
    main()
