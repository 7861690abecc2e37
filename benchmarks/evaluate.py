"""The paper's evaluation: design strategies x registered ids x held-out environments.

Every strategy runs on the same hidden causal models and the same initial observational data (episode
``i`` of an id is reset with seed ``EVAL_SEED_BASE + i``, disjoint from every training seed), so
differences are paired. For t = 0..T it reports the mean and 95% CI of the score S(h_t) (the return,
expected correct adjacency entries), the expected SHD, AUPRC and edge F1 of the reward model's
posterior, and the paired difference of the score to Random.

``--score exact`` scores the same designs with the exact posterior (:mod:`caasl_gym.reward.exact`) instead
of the environment's default reward model, so design quality is measured independently of the model a
policy was trained against (linear ids with d <= 12 only; others are skipped). The observations, and
hence every strategy's designs, do not depend on the reward model.

Run: ``python -m benchmarks.evaluate --ids CausalLinear-v0 --strategies CAASL Random Observational``
Outputs: ``benchmarks/results/<out>/episodes.csv`` (tidy, one row per id/strategy/episode/t),
``summary.csv``, ``summary.md`` and ``returns.png``.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

import gymnasium as gym
import numpy as np
import pandas as pd
import torch
from scipy import stats
from tqdm import tqdm

import caasl_gym
from benchmarks._common import RESULTS_DIR, environment_header, markdown_table
from benchmarks.strategies import ObservationalStrategy, PolicyStrategy, RandomStrategy, Strategy
from caasl_gym import metrics

EVAL_SEED_BASE = 10_000_000
"""Evaluation episodes use seeds EVAL_SEED_BASE + i; training seeds must stay below it."""
STRATEGY_SEED = 77


def run_episode(env: gym.Env, strategy: Strategy, seed: int) -> list[dict]:
    """One episode; returns one record per t = 0..T with the posterior's metrics."""
    obs, info = env.reset(seed=seed)
    rng = np.random.default_rng([STRATEGY_SEED, seed])
    base = env.unwrapped
    truth = base.true_adjacency[None]
    records = []
    t, terminated, truncated = 0, False, False
    while True:
        probs = base.edge_probabilities()[None]
        records.append(
            dict(
                t=t,
                score=float(info["score"]),
                expected_shd=float(metrics.expected_shd(probs, truth)[0]),
                auprc=float(metrics.auprc(probs, truth)[0]),
                edge_f1=float(metrics.edge_f1(probs, truth)[0]),
            )
        )
        if terminated or truncated:
            return records
        obs, _, terminated, truncated, info = env.step(strategy.act(obs, rng))
        t += 1


def evaluate(
    env_ids: Sequence[str],
    strategies: Sequence[Strategy],
    n_envs: int = 100,
    env_kwargs: dict | None = None,
) -> pd.DataFrame:
    """Tidy results: one row per (id, strategy, episode, t)."""
    rows = []
    total = len(env_ids) * len(strategies) * n_envs
    with tqdm(total=total, desc="episodes", unit="ep") as bar:
        for env_id in env_ids:
            env = gym.make(env_id, **(env_kwargs or {}))
            for strategy in strategies:
                for i in range(n_envs):
                    for rec in run_episode(env, strategy, EVAL_SEED_BASE + i):
                        rows.append(dict(env_id=env_id, strategy=strategy.name, episode=i, **rec))
                    bar.update()
            env.close()
    return pd.DataFrame(rows)


def _ci95(x: np.ndarray) -> float:
    x = x[np.isfinite(x)]
    if len(x) < 2:
        return float("nan")
    return float(stats.t.ppf(0.975, len(x) - 1) * x.std(ddof=1) / np.sqrt(len(x)))


def summarize(episodes: pd.DataFrame, reference: str = "Random") -> pd.DataFrame:
    """Mean and 95% CI half-width per (id, strategy, t), plus the paired score difference to ``reference``."""
    rows = []
    ref = episodes[episodes.strategy == reference].set_index(["env_id", "episode", "t"])["score"]
    for (env_id, strategy, t), g in episodes.groupby(["env_id", "strategy", "t"], sort=False):
        row = dict(env_id=env_id, strategy=strategy, t=t, n=len(g))
        for m in ("score", "expected_shd", "auprc", "edge_f1"):
            v = g[m].to_numpy(dtype=float)
            row[m] = float(np.nanmean(v))
            row[f"{m}_ci95"] = _ci95(v)
        if len(ref) and strategy != reference:
            diff = g.set_index(["env_id", "episode", "t"])["score"] - ref
            diff = diff.dropna().to_numpy()
            row["score_minus_random"] = float(diff.mean()) if len(diff) else float("nan")
            row["score_minus_random_ci95"] = _ci95(diff)
        rows.append(row)
    return pd.DataFrame(rows)


def plot_returns(summary: pd.DataFrame, path: Path) -> Path | None:
    """Returns against t with 95% CI bands, one panel per id (needs matplotlib)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    ids = list(dict.fromkeys(summary.env_id))
    cols = min(4, len(ids))
    rows = int(np.ceil(len(ids) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 3.2 * rows), squeeze=False)
    for ax, env_id in zip(axes.flat, ids):
        for strategy, g in summary[summary.env_id == env_id].groupby("strategy", sort=False):
            ax.plot(g.t, g.score, marker="o", ms=3, label=strategy)
            ax.fill_between(g.t, g.score - g.score_ci95, g.score + g.score_ci95, alpha=0.2)
        ax.set_title(env_id, fontsize=9)
        ax.set_xlabel("design step t")
        ax.set_ylabel("returns (expected correct entries)")
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(ids) :]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def final_table(summary: pd.DataFrame) -> pd.DataFrame:
    """The t = T rows, formatted as mean ± CI, one row per (id, strategy)."""
    last = summary.loc[summary.groupby(["env_id", "strategy"], sort=False).t.idxmax()]
    out = pd.DataFrame(
        {
            "env_id": last.env_id,
            "strategy": last.strategy,
            "T": last.t,
            "returns": [f"{m:.2f} ± {c:.2f}" for m, c in zip(last.score, last.score_ci95)],
            "vs Random (paired)": [
                "" if not np.isfinite(m) else f"{m:+.2f} ± {c:.2f}"
                for m, c in zip(
                    last.get("score_minus_random", pd.Series(np.nan, index=last.index)),
                    last.get("score_minus_random_ci95", pd.Series(np.nan, index=last.index)),
                )
            ],
            "E[SHD]": [f"{m:.2f} ± {c:.2f}" for m, c in zip(last.expected_shd, last.expected_shd_ci95)],
            "AUPRC": [f"{m:.3f} ± {c:.3f}" for m, c in zip(last.auprc, last.auprc_ci95)],
            "edge F1": [f"{m:.3f} ± {c:.3f}" for m, c in zip(last.edge_f1, last.edge_f1_ci95)],
        }
    )
    return out.reset_index(drop=True)


def make_strategies(names: Sequence[str], env_id: str | None = None, deterministic: bool = False) -> list[Strategy]:
    """Strategies by name: ``Random``, ``Observational``, ``CAASL`` (shipped policy for ``env_id``'s domain)
    or ``CAASL:<path to model.zip>``. CAASL samples its designs (as the official evaluation does) unless
    ``deterministic``, which takes the tanh of the policy's mean."""
    out: list[Strategy] = []
    for name in names:
        if name == "Random":
            out.append(RandomStrategy())
        elif name == "Observational":
            out.append(ObservationalStrategy())
        elif name.startswith("CAASL"):
            from caasl_agents import REDQ, load_pretrained

            _, _, path = name.partition(":")
            model = REDQ.load(path, device="cpu") if path else load_pretrained(_training_id(env_id))
            out.append(PolicyStrategy(model, deterministic=deterministic))
        else:
            raise ValueError(f"unknown strategy {name!r}; valid: Random, Observational, CAASL, CAASL:<path>")
    return out


def _training_id(env_id: str | None) -> str:
    """The in-distribution id whose policy is evaluated (zero-shot) on ``env_id``."""
    if env_id is None:
        raise ValueError("CAASL needs an environment id to pick the shipped policy")
    return "SergioKnockout-v0" if env_id.startswith("Sergio") else "CausalLinear-v0"


def write_outputs(episodes: pd.DataFrame, out_dir: Path, command: str, score_model: str | None = None) -> pd.DataFrame:
    """Write episodes.csv, summary.csv, summary.md and returns.png; return the final table."""
    out_dir.mkdir(parents=True, exist_ok=True)
    summary = summarize(episodes)
    episodes.to_csv(out_dir / "episodes.csv", index=False)
    summary.to_csv(out_dir / "summary.csv", index=False)
    table = final_table(summary)
    plot = plot_returns(summary, out_dir / "returns.png")
    md = [
        "# Design strategies on held-out environments",
        "",
        environment_header(command),
        "",
        f"Mean ± 95% CI over {episodes.episode.nunique()} held-out environments per id (seeds "
        f"{EVAL_SEED_BASE}+i, paired across strategies), at the final step T. Returns = S(h_T), the "
        "expected number of correct adjacency entries under the "
        + (f"`{score_model}` posterior" if score_model else "environment's default reward model's posterior")
        + " (out of d²).",
        "",
        markdown_table(table),
        "",
    ]
    if plot is not None:
        md += [f"![returns]({plot.name})", ""]
    (out_dir / "summary.md").write_text("\n".join(md))
    return table


def main(argv: list[str] | None = None) -> pd.DataFrame:
    parser = argparse.ArgumentParser(description="Evaluate design strategies on held-out environments.")
    parser.add_argument("--ids", nargs="+", default=["CausalLinear-v0"], help="registered env ids, or 'all'")
    parser.add_argument("--strategies", nargs="+", default=["CAASL", "Random", "Observational"])
    parser.add_argument("--n-envs", type=int, default=100, help="held-out environments per id")
    parser.add_argument("--env-kwargs", type=json.loads, default=None, help="JSON dict passed to gym.make")
    parser.add_argument("--out", default="evaluation", help="folder under benchmarks/results/")
    parser.add_argument("--deterministic", action="store_true", help="CAASL: mean designs instead of samples")
    parser.add_argument(
        "--score", default=None, help="reward model that scores the designs (e.g. 'exact'); default: the env's"
    )
    parser.add_argument(
        "--threads", type=int, default=1, help="torch threads (1 is fastest for one environment at a time)"
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    ids = list(caasl_gym.ALL_IDS) if args.ids == ["all"] else args.ids
    env_kwargs = dict(args.env_kwargs or {})
    if args.score is not None:
        env_kwargs["reward_model"] = args.score
        usable = []
        for env_id in ids:
            try:
                gym.make(env_id, **env_kwargs).close()
                usable.append(env_id)
            except ValueError as err:
                print(f"skipping {env_id}: {err}")
        ids = usable
    frames = []
    for env_id in ids:
        strategies = make_strategies(args.strategies, env_id, args.deterministic)
        frames.append(evaluate([env_id], strategies, args.n_envs, env_kwargs))
    episodes = pd.concat(frames, ignore_index=True)
    command = "python -m benchmarks.evaluate " + " ".join(argv if argv is not None else __import__("sys").argv[1:])
    table = write_outputs(episodes, RESULTS_DIR / args.out, command, args.score)
    print(markdown_table(table))
    return table


if __name__ == "__main__":
    main()
