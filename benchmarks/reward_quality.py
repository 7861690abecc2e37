"""Quality of the shipped reward models on held-out data of every registered environment's prior.

For each id, ``--n-datasets`` held-out causal models (seeds disjoint from training) each give one
history: 50 observational rows followed by rows from Random designs (every variable a target w.p. 0.5,
linear values ``U(-1, 1)``), evaluated after 50 rows (h0), 60 rows (h10) and 100 rows (h50). Metrics
(means over datasets): AUPRC, AUROC, edge F1 at 0.5, expected SHD, and the expected number of correct
adjacency entries ``S`` next to the all-zeros predictor's ``d^2 - |E|``. The linear model is also
compared, dataset by dataset, with bootstrapped GIES (30 resamples, pooled uncentred BIC) on the held-out
``CausalLinear-v0`` datasets of :mod:`benchmarks.gies_baseline` (its per-dataset results are read from
``benchmarks/results/gies_baseline.per_dataset.csv``; run ``python -m benchmarks.gies_baseline`` first).

On every linear id with ``d <= 12`` the exact posterior (:mod:`caasl_gym.reward.exact`) is the "Bayes
limit" row: exact on ``CausalLinear-v0`` and the weight-mean shift, approximate where the mechanism
differs (scale-free graphs, non-Gaussian noise, shifts). ECE is the expected calibration error of the
edge probabilities (10 bins). ``design ratio`` (``CausalLinear-v0``): the gain ``S(h10) - S(h0)`` of 10
Random-design rows divided by that of 10 single-target rows, on separate held-out sets; a reward model
that ranks designs as the Bayes posterior does has the exact posterior's ratio.

    python -m benchmarks.reward_quality                       # shipped models + exact, 100 datasets per id
    python -m benchmarks.reward_quality --models runs/x exact --domain linear --n-datasets 30
"""

from __future__ import annotations

import argparse
import time
import warnings
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pandas as pd

from benchmarks._common import RESULTS_DIR, write_results
from caasl_gym.registration import ENTRIES, config_for
from caasl_gym.reward import load_reward_model
from caasl_gym.reward.evaluation import graph_metrics, heldout_histories
from caasl_gym.reward.exact import approximation_reasons

BENCH_SEED = 4_000_001
"""Entropy of the benchmark's held-out datasets (held-out family, disjoint from training)."""

ENV_PRIORS = {e.name: {env_id: config_for(env_id) for env_id in e.ids} for e in ENTRIES}
"""Domain -> registered id -> the config of its prior (``num_nodes`` is its ``d``)."""

ROWS = {50: "h0", 60: "h10", 100: "h50"}
APPROXIMATE = {env_id for env_id, config in ENV_PRIORS["linear"].items() if approximation_reasons(config)}
"""Linear ids whose mechanism the exact posterior does not model (its rows there are approximate)."""


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


def gies_comparison(model, n_datasets: int, compute: bool, jobs: int, model_name: str = "linear") -> list[dict]:
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
        records.append(_row("linear", "CausalLinear-v0 [gies_baseline datasets]", 10, rows, model_name, p, adj))
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


def _model_records(domain: str, name: str, model, args: argparse.Namespace) -> list[dict]:
    """Rows of one model on every id of its domain (the exact posterior: only where ``d <= 12``)."""
    from caasl_gym.reward.exact import MAX_EXACT_NODES

    method = "exact (Bayes limit)" if name == "exact" else name
    records = []
    for env_id, setting in ENV_PRIORS[domain].items():
        d = setting.num_nodes
        if (args.ids and env_id not in args.ids) or (name == "exact" and d > MAX_EXACT_NODES):
            continue
        t0 = time.time()
        h = heldout_histories(setting, args.n_datasets, d, n_obs=50, n_int=50, seed=BENCH_SEED)
        sets = [(h, tuple(ROWS), "")]
        if env_id == "CausalLinear-v0":  # the design ratio: 10 single-target rows instead of Random ones
            single = heldout_histories(setting, args.n_datasets, d, n_obs=50, n_int=10, seed=BENCH_SEED,
                                       design_kind="single")  # fmt: skip
            sets.append((single, (50, 60), "-single"))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the exact posterior of a mismatched mechanism: noted in the table
            for hist, row_counts, suffix in sets:
                for rows in row_counts:
                    hh = hist.head(rows)
                    probs = model.edge_probabilities(hh.values, hh.intervened)
                    rec = _row(domain, env_id, d, rows, method, probs, hh.adjacency)
                    rec["history"] += suffix
                    records.append(rec)
        print(f"{method} on {env_id}: {time.time() - t0:.1f} s", flush=True)
    return records


def main(argv: list[str] | None = None) -> pd.DataFrame:
    p = argparse.ArgumentParser(prog="python -m benchmarks.reward_quality", description=__doc__.split("\n")[0])
    p.add_argument("--domain", choices=["linear", "sergio", "both"], default="both")
    p.add_argument(
        "--models",
        nargs="+",
        default=None,
        help="reward models (shipped names, 'exact' or checkpoint paths); default: the domain's shipped models "
        "and, for linear, 'exact'",
    )
    p.add_argument("--n-datasets", type=int, default=100)
    p.add_argument("--ids", nargs="*", default=None, help="only these env ids")
    p.add_argument("--gies-datasets", type=int, default=100, help="datasets of the GIES comparison (0 = off)")
    p.add_argument("--compute-gies", action="store_true", help="run GIES here if gies_baseline results are missing")
    p.add_argument("--jobs", type=int, default=2, help="processes for --compute-gies")
    p.add_argument("--name", default="reward_quality", help="results file name under benchmarks/results")
    args = p.parse_args(argv)
    domains = ["linear", "sergio"] if args.domain == "both" else [args.domain]
    if args.models and len(domains) > 1:
        p.error("--models needs --domain linear or --domain sergio")

    records = []
    for domain in domains:
        names = args.models or (["linear", "linear-small", "exact"] if domain == "linear" else ["sergio"])
        for name in names:
            model = load_reward_model(name)
            if model.domain != domain:
                p.error(f"model {name} is a {model.domain} model, not {domain}")
            records += _model_records(domain, name, model, args)
            if domain == "linear" and args.gies_datasets and name == names[0]:
                records += gies_comparison(model, args.gies_datasets, args.compute_gies, args.jobs, name)
    df = pd.DataFrame.from_records(records)
    notes = _notes(df, args)
    print(notes)
    write_results(args.name, df, title="Reward-model quality on held-out data of every registered prior", notes=notes)
    return df


def _notes(df: pd.DataFrame, args: argparse.Namespace) -> str:
    lines = [
        f"{args.n_datasets} held-out datasets per id (seed {BENCH_SEED}); h0 = 50 observational rows, h10 / h50 = "
        "plus 10 / 50 rows from Random designs; h10-single = plus 10 single-target rows (a separate held-out "
        "set). S = expected number of correct adjacency entries (d² entries); all-zeros = d² − |E|. The exact "
        "posterior is exact on CausalLinear-v0 and approximate on " + ", ".join(sorted(APPROXIMATE)) + ".",
        "",
    ]
    main = df[~df.env_id.str.endswith("[gies_baseline datasets]")]
    for (domain, method), g in main.groupby(["domain", "method"], sort=False):
        piv = g.pivot_table(index="env_id", columns="history", values=["score", "auprc", "ece"], sort=False)
        lines.append(
            f"- {domain}, {method}: mean over ids of AUPRC h0/h10/h50 = "
            + "/".join(f"{piv[('auprc', h)].mean():.3f}" for h in ("h0", "h10", "h50"))
            + "; S h0/h10/h50 = "
            + "/".join(f"{piv[('score', h)].mean():.2f}" for h in ("h0", "h10", "h50"))
        )
        first = next(iter(ENV_PRIORS[domain]))
        r = g[g.env_id == first].set_index("history")
        if r.empty:
            continue
        text = (
            f"  - {first}: AUPRC h0 {r.auprc['h0']:.3f}, h10 {r.auprc['h10']:.3f}; S(h10) {r.score['h10']:.2f} "
            f"vs all-zeros {r.score_all_zeros['h10']:.2f}; ECE h10 {r.ece['h10']:.4f}"
        )
        if "h10-single" in r.index:
            ratio = (r.score["h10"] - r.score["h0"]) / (r.score["h10-single"] - r.score["h0-single"])
            text += f"; design ratio (10 Random rows / 10 single-target rows) {ratio:.2f}"
        lines.append(text)
    cmp = df[df.env_id.str.endswith("[gies_baseline datasets]")]
    for (method, hist), r in cmp.set_index(["method", "history"]).iterrows():
        lines.append(
            f"- {method} on the gies_baseline datasets, {hist}: AUPRC {r.auprc:.3f}, AUROC {r.auroc:.3f}, "
            f"S {r.score:.2f} (all-zeros {r.score_all_zeros:.2f}; {r.n_datasets} datasets)"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
