"""Quality of the shipped reward models on held-out data of every registered environment's prior.

For each id, ``--n-datasets`` held-out causal models (seeds disjoint from training) each give one
history: 50 observational rows followed by rows from Random designs (every variable a target w.p. 0.5,
linear values ``U(-1, 1)``), evaluated after 50 rows (h0), 60 rows (h10) and 100 rows (h50). Metrics
(means over datasets): AUPRC, AUROC, edge F1 at 0.5, expected SHD, and the expected number of correct
adjacency entries ``S`` next to the all-zeros predictor's ``d^2 - |E|``. The linear model is also
compared, dataset by dataset, with bootstrapped GIES (30 resamples, pooled uncentred BIC) on the held-out
``CausalLinear-v0`` datasets of :mod:`benchmarks.gies_baseline` (its per-dataset results are read from
``benchmarks/results/gies_baseline.per_dataset.csv``; run ``python -m benchmarks.gies_baseline`` first).

    python -m benchmarks.reward_quality                       # shipped models, 100 datasets per id
    python -m benchmarks.reward_quality --model runs/x --domain linear --n-datasets 30
"""

from __future__ import annotations

import argparse
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pandas as pd

from benchmarks._common import RESULTS_DIR, write_results
from caasl_gym.reward import load_reward_model
from caasl_gym.reward.data import LinearSetting, SergioSetting
from caasl_gym.reward.evaluation import graph_metrics, heldout_histories

BENCH_SEED = 4_000_001
"""Entropy of the benchmark's held-out datasets (held-out family, disjoint from training)."""

SF = "scale_free"
ENV_PRIORS = {
    "linear": {
        "CausalLinear-v0": (LinearSetting(), 10),
        "CausalLinear-OOD-Graph-v0": (LinearSetting(graph=SF), 10),
        "CausalLinear-OOD-GraphMech-v0": (LinearSetting(graph=SF, weight_mean=0.1), 10),
        "CausalLinear-OOD-GraphMechNoise-v0": (LinearSetting(graph=SF, weight_mean=0.1, noise="gumbel"), 10),
        "CausalLinear-OOD-Hetero-v0": (LinearSetting(noise="heteroskedastic"), 10),
        "CausalLinear-OOD-Shift-v0": (LinearSetting(intervention="shift"), 10),
        "CausalLinear-OOD-D20-v0": (LinearSetting(), 20),
        "CausalLinear-OOD-D30-v0": (LinearSetting(), 30),
    },
    "sergio": {
        "SergioKnockout-v0": (SergioSetting(), 10),
        "SergioKnockout-OOD-Graph-v0": (SergioSetting(graph=SF), 10),
        "SergioKnockout-OOD-DropSeq-v0": (SergioSetting(technical_noise="drop-seq"), 10),
        "SergioKnockout-OOD-Knockdown-v0": (SergioSetting(intervention="knockdown"), 10),
        "SergioKnockout-OOD-NoisyIntervention-v0": (SergioSetting(flip_prob=0.1), 10),
        "SergioKnockout-OOD-D20-v0": (SergioSetting(), 20),
        "SergioKnockout-OOD-D30-v0": (SergioSetting(), 30),
    },
}
"""Registered id -> (simulator setting, d) of its prior."""

ROWS = {50: "h0", 60: "h10", 100: "h50"}


def _ci(x: np.ndarray) -> float:
    x = x[np.isfinite(x)]
    return float(1.96 * x.std(ddof=1) / np.sqrt(len(x))) if len(x) > 1 else float("nan")


def _row(domain: str, env_id: str, d: int, rows: int, method: str, probs: np.ndarray, adj: np.ndarray) -> dict:
    from caasl_gym import metrics

    m = graph_metrics(probs, adj)
    return {
        "domain": domain, "env_id": env_id, "d": d, "rows": rows, "history": ROWS[rows], "method": method,
        "n_datasets": len(adj), **m,
        "auprc_ci95": _ci(metrics.auprc(probs, adj)),
        "score_ci95": _ci(metrics.expected_correct(probs, adj)),
    }  # fmt: skip


def gies_comparison(model, n_datasets: int, compute: bool, jobs: int) -> list[dict]:
    """The reward model next to bootstrapped GIES on the datasets of :mod:`benchmarks.gies_baseline`.

    GIES metrics are read from ``benchmarks/results/gies_baseline.per_dataset.csv`` (written by
    ``python -m benchmarks.gies_baseline``); with ``compute`` and no such file they are computed here with the
    same seeds (slow: about 1 s per GIES run, 30 runs per dataset and history).
    """
    from benchmarks.gies_baseline import _bootstrap_job, make_heldout_linear

    params, h0, h10 = make_heldout_linear(n_datasets)
    adj = params.adjacency
    per_dataset = RESULTS_DIR / "gies_baseline.per_dataset.csv"
    gies = pd.read_csv(per_dataset) if per_dataset.is_file() else None
    if gies is not None and gies.dataset.max() + 1 < n_datasets:
        gies = None
    if gies is None and compute:
        from benchmarks.gies_baseline import HELDOUT_ENTROPY

        work = [(b, h, hh.values[b], hh.targets[b], 30, HELDOUT_ENTROPY) for h, hh in (("h0", h0), ("h10", h10))
                for b in range(n_datasets)]  # fmt: skip
        with ProcessPoolExecutor(jobs) as pool:
            results = list(pool.map(_bootstrap_job, work))
        probs = {h: np.zeros(adj.shape) for h in ("h0", "h10")}
        for b, h, pr, _ in results:
            probs[h][b] = pr
    records = []
    for name, hist in (("h0", h0), ("h10", h10)):
        rows = hist.values.shape[1]
        p = model.edge_probabilities(hist.values, hist.targets)
        records.append(_row("linear", "CausalLinear-v0 [gies_baseline datasets]", 10, rows, "reward model", p, adj))
        if gies is not None:
            g = gies[(gies.history == name) & (gies.dataset < n_datasets)].sort_values("dataset")
            records.append({
                "domain": "linear", "env_id": "CausalLinear-v0 [gies_baseline datasets]", "d": 10, "rows": rows,
                "history": name, "method": "GIES bootstrap (30)", "n_datasets": len(g),
                "auprc": g.auprc.mean(), "auroc": g.auroc.mean(), "f1": g.edge_f1.mean(),
                "expected_shd": g.expected_shd.mean(), "score": g.score.mean(),
                "score_all_zeros": g.score_all_zeros.mean(), "auprc_ci95": _ci(g.auprc.to_numpy()),
                "score_ci95": _ci(g.score.to_numpy()),
            })  # fmt: skip
        elif compute:
            records.append(_row("linear", "CausalLinear-v0 [gies_baseline datasets]", 10, rows, "GIES bootstrap (30)",
                                probs[name], adj))  # fmt: skip
    return records


def main(argv: list[str] | None = None) -> pd.DataFrame:
    p = argparse.ArgumentParser(prog="python -m benchmarks.reward_quality", description=__doc__.split("\n")[0])
    p.add_argument("--domain", choices=["linear", "sergio", "both"], default="both")
    p.add_argument("--model", default=None, help="checkpoint path (stem, .pt or .json); default: the shipped model")
    p.add_argument("--n-datasets", type=int, default=100)
    p.add_argument("--ids", nargs="*", default=None, help="only these env ids")
    p.add_argument("--gies-datasets", type=int, default=100, help="datasets of the GIES comparison (0 = off)")
    p.add_argument("--compute-gies", action="store_true", help="run GIES here if gies_baseline results are missing")
    p.add_argument("--jobs", type=int, default=2, help="processes for --compute-gies")
    p.add_argument("--name", default="reward_quality", help="results file name under benchmarks/results")
    args = p.parse_args(argv)
    domains = ["linear", "sergio"] if args.domain == "both" else [args.domain]
    if args.model and len(domains) > 1:
        p.error("--model needs --domain linear or --domain sergio")

    records = []
    for domain in domains:
        model = load_reward_model(args.model or domain)
        if model.domain != domain:
            p.error(f"model {args.model} is a {model.domain} model, not {domain}")
        for env_id, (setting, d) in ENV_PRIORS[domain].items():
            if args.ids and env_id not in args.ids:
                continue
            t0 = time.time()
            h = heldout_histories(setting, args.n_datasets, d, n_obs=50, n_int=50, seed=BENCH_SEED)
            for rows in ROWS:
                hh = h.head(rows)
                probs = model.edge_probabilities(hh.values, hh.intervened)
                records.append(_row(domain, env_id, d, rows, "reward model", probs, hh.adjacency))
            print(f"{env_id}: {time.time() - t0:.1f} s", flush=True)
        if domain == "linear" and args.gies_datasets:
            records += gies_comparison(model, args.gies_datasets, args.compute_gies, args.jobs)
    df = pd.DataFrame.from_records(records)
    notes = _notes(df, args)
    print(notes)
    write_results(args.name, df, title="Reward-model quality on held-out data of every registered prior", notes=notes)
    return df


def _notes(df: pd.DataFrame, args: argparse.Namespace) -> str:
    lines = [
        f"Model: `{args.model or 'shipped'}`. {args.n_datasets} held-out datasets per id (seed {BENCH_SEED}); "
        "h0 = 50 observational rows, h10 / h50 = plus 10 / 50 rows from Random designs. S = expected number "
        "of correct adjacency entries (d² entries); S_zeros = all-zeros predictor (d² − |E|).",
        "",
    ]
    rm = df[df.method == "reward model"]
    for domain, g in rm.groupby("domain", sort=False):
        piv = g.pivot_table(index="env_id", columns="history", values=["score", "auprc"], sort=False)
        gain = (piv[("score", "h10")] - piv[("score", "h0")]).mean()
        lines.append(
            f"- {domain}: mean over ids of S(h10) − S(h0) = {gain:+.3f}; mean AUPRC h0/h10/h50 = "
            + "/".join(f"{piv[('auprc', h)].mean():.3f}" for h in ("h0", "h10", "h50"))
            + "; mean S h0/h10/h50 = "
            + "/".join(f"{piv[('score', h)].mean():.2f}" for h in ("h0", "h10", "h50"))
        )
        gains = piv[("score", "h10")] - piv[("score", "h0")]
        lines.append(
            "  - S(h10) − S(h0) per id: " + ", ".join(f"{k.replace('-v0', '')} {v:+.2f}" for k, v in gains.items())
        )
        first = next(iter(ENV_PRIORS[domain]))
        in_dist = g[g.env_id == first].set_index("history")
        if in_dist.empty:
            continue
        lines.append(
            f"  - {first}: AUPRC h0 {in_dist.auprc['h0']:.3f}, h10 {in_dist.auprc['h10']:.3f}; "
            f"S(h10) {in_dist.score['h10']:.2f} vs all-zeros {in_dist.score_all_zeros['h10']:.2f}"
        )
    cmp = df[df.env_id.str.endswith("[gies_baseline datasets]")]
    for (method, hist), r in cmp.set_index(["method", "history"]).iterrows():
        lines.append(
            f"- {method} on the gies_baseline datasets, {hist}: AUPRC {r.auprc:.3f}, AUROC {r.auroc:.3f}, "
            f"S {r.score:.2f} (all-zeros {r.score_all_zeros:.2f}; {r.n_datasets} datasets)"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
