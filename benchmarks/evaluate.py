"""The paper's evaluation: design strategies x registered ids x held-out test episodes (a thin CLI).

Every strategy runs on the same hidden causal models and the same initial observational data (episode
``i`` of an id is reset with seed ``TEST.start + i`` = ``10_000_000 + i``, the test family of
:mod:`caasl_gym.evaluation.seeds`), so differences are paired. The rollout, the strategies and the
statistics are :mod:`caasl_gym.evaluation`'s. For t = 0..T it reports the mean and 95% CI of the score
S(h_t) (expected correct adjacency entries), the expected SHD, AUPRC and edge F1 of the reward model's
posterior, the gain S(h_t) - S_Random(h_t) (paired) and the wall and CPU time per design.

``--score exact`` scores the same designs with the exact posterior (:mod:`caasl_gym.reward.exact`) instead
of the environment's default reward model, so design quality is measured independently of the model a
policy was trained against (linear ids with d <= 12 only; others are skipped). The observations, and
hence every strategy's designs, do not depend on the reward model.

``Probe`` adds the **privileged** reference :class:`~caasl_gym.evaluation.probe.PrivilegedProbe` (row ``Probe
(privileged)``): a one-step greedy designer that simulates candidate designs on the true hidden model. It is
a headroom yardstick, not a method; when it runs, the table adds every strategy's *share of the probe's gain*
(its gain over Random divided by the probe's, with a paired bootstrap 95% interval over episodes).

Run: ``python -m benchmarks.evaluate --ids CausalLinear-v0 --strategies CAASL Random Observational``
Outputs: ``benchmarks/results/<out>/episodes.csv`` (tidy, one row per id/strategy/episode/t),
``summary.csv``, ``summary.md`` and ``scores.png``.
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

import caasl_gym
from benchmarks._common import RESULTS_DIR, command_line, environment_header, markdown_table
from caasl_gym.evaluation import (
    PROBE_NAME,
    TEST,
    ObservationalStrategy,
    PrivilegedProbe,
    RandomStrategy,
    RoundRobinStrategy,
    Strategy,
    evaluate,
    final,
    summarize,
)
from caasl_gym.registration import config_for, training_id


def run(
    env_ids: Sequence[str],
    names: Sequence[str],
    n_envs: int = 100,
    env_kwargs: dict | None = None,
    deterministic: bool = False,
    score_model: str | None = None,
    probe_random: int = 16,
    probe_singles: bool = True,
) -> pd.DataFrame:
    """Tidy records of the strategies ``names`` (:func:`make_strategies`) on ``n_envs`` test episodes per id:
    one row per (id, strategy, episode, t), with the posterior metrics."""
    frames = []
    for env_id in env_ids:
        strategies = make_strategies(names, env_id, deterministic, env_kwargs, probe_random, probe_singles)
        print(f"{env_id}: {', '.join(s.name for s in strategies)} on {n_envs} test episodes", flush=True)
        if any(getattr(s, "privileged", False) for s in strategies):
            print(f"  {PROBE_NAME} reads the hidden model: a headroom reference, not a method", flush=True)
        options = dict(metrics=True, score_model=score_model)
        frames.append(evaluate(env_id, strategies, n_envs, TEST.start, env_kwargs, **options))
    return pd.concat(frames, ignore_index=True)


def plot_scores(summary: pd.DataFrame, path: Path) -> Path | None:
    """Scores against t with 95% CI bands, one panel per id (needs matplotlib)."""
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
        ax.set_ylabel("score S(h_t) (expected correct entries)")
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(ids) :]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def probe_share(episodes: pd.DataFrame, reference: str = "Random", n_boot: int = 2000, seed: int = 0) -> pd.DataFrame:
    """Each strategy's share of the privileged probe's gain at the final step, per id where the probe ran.

    ``share = mean(S - S_ref) / mean(S_probe - S_ref)`` over the same episodes, with a 95% paired bootstrap
    interval (episodes resampled together, ``n_boot`` draws from ``default_rng(seed)``).

    Returns:
        One row per (``env_id``, ``strategy``) other than the reference and the probe: ``share``,
        ``share_low``, ``share_high`` (empty when no id has both the probe and the reference).
    """
    rows = []
    last = episodes[episodes.t == episodes.groupby("env_id").t.transform("max")]
    for env_id, g in last.groupby("env_id", sort=False):
        table = g.pivot(index="episode", columns="strategy", values="score")
        if PROBE_NAME not in table or reference not in table:
            continue
        probe_gain = (table[PROBE_NAME] - table[reference]).to_numpy()
        idx = np.random.default_rng(seed).integers(0, len(table), size=(n_boot, len(table)))
        for strategy in dict.fromkeys(g.strategy):
            if strategy in (reference, PROBE_NAME):
                continue
            gain = (table[strategy] - table[reference]).to_numpy()
            boot = gain[idx].mean(1) / probe_gain[idx].mean(1)
            low, high = np.quantile(boot, [0.025, 0.975])
            rows.append(dict(env_id=env_id, strategy=strategy, share=gain.mean() / probe_gain.mean(),
                             share_low=low, share_high=high))  # fmt: skip
    return pd.DataFrame(rows, columns=["env_id", "strategy", "share", "share_low", "share_high"])


def final_table(summary: pd.DataFrame, shares: pd.DataFrame | None = None) -> pd.DataFrame:
    """The t = T rows, formatted as mean ± CI, one row per (id, strategy); with :func:`probe_share`'s
    ``shares`` (non-empty), a column ``share of probe gain`` (share and its 95% interval)."""
    last = final(summary)

    def fmt(column: str, digits: int, sign: str = "") -> list[str]:
        pairs = zip(last[column], last[f"{column}_ci95"])
        return ["" if not np.isfinite(m) else f"{m:{sign}.{digits}f} ± {c:.{digits}f}" for m, c in pairs]

    out = pd.DataFrame({"env_id": last.env_id, "strategy": last.strategy, "T": last.t})
    out["score S(h_T)"] = fmt("score", 2)
    out["gain vs Random (paired)"] = fmt("gain", 2, "+")
    out["E[SHD]"], out["AUPRC"], out["edge F1"] = fmt("expected_shd", 2), fmt("auprc", 3), fmt("edge_f1", 3)
    out["s / design"] = [f"{v:.2g}" for v in last.design_seconds]
    if "design_cpu_seconds" in last:  # episodes recorded before CPU time was have none
        out["CPU s / design"] = [f"{v:.2g}" for v in last.design_cpu_seconds]
    if shares is not None and len(shares):
        keyed = shares.set_index(["env_id", "strategy"])
        out["share of probe gain"] = [
            f"{keyed.share[k]:.2f} [{keyed.share_low[k]:.2f}, {keyed.share_high[k]:.2f}]" if k in keyed.index else ""
            for k in zip(out.env_id, out.strategy)
        ]
    return out.reset_index(drop=True)


def make_strategies(
    names: Sequence[str],
    env_id: str | None = None,
    deterministic: bool = False,
    env_kwargs: dict | None = None,
    probe_random: int = 16,
    probe_singles: bool = True,
) -> list[Strategy]:
    """Strategies by name:

    * ``Random``, ``Observational``, ``RoundRobin`` (one target per step, in turn), ``Random-extreme``
      (Random's targets with values ±1: what the size of the values alone gains);
    * ``Probe``: the **privileged** reference :class:`~caasl_gym.evaluation.probe.PrivilegedProbe` (observational,
      every single target unless not ``probe_singles``, and ``probe_random`` uniform candidates per step, scored on
      the hidden model);
    * ``CAASL`` (the shipped policy of ``env_id``'s domain, sampled designs as in the official evaluation,
      or the policy's deterministic design with ``deterministic``: its ``deterministic_design`` rule,
      :mod:`caasl_agents.redq.designs`), ``CAASL-deterministic`` (always the deterministic design),
      and either with ``:<path to model.zip>``;
    * ``CAASL-value`` / ``CAASL-value-deterministic``: the value designer shipped for ``env_id``'s prior
      (:func:`~caasl_agents.value.load_value_designer`; sampled designs unless ``deterministic``, or always its
      deterministic design), reading ``env_id``'s own reward model;
    * ``Greedy`` / ``Greedy-score``: :class:`~caasl_gym.baselines.greedy.GreedyExactDesigner` (EIG / expected
      score) for the id's prior (linear, d <= 12);
    * ``SS-Finite``, ``DiffCBED``: :mod:`caasl_gym.baselines` designers on bootstrapped-GIES particles;
    * ``Posterior-parents`` / ``Posterior-uncertainty``: one target per step chosen from the env's own posterior
      (:class:`~caasl_gym.baselines.posterior_targets.PosteriorTargets`; any id).
    """
    out: list[Strategy] = []
    for name in names:
        base, _, path = name.partition(":")
        if base == "Random":
            out.append(RandomStrategy())
        elif base == "Random-extreme":
            out.append(RandomStrategy(extreme_values=True))
        elif base == "Observational":
            out.append(ObservationalStrategy())
        elif base == "RoundRobin":
            out.append(RoundRobinStrategy())
        elif base == "Probe":
            out.append(PrivilegedProbe(n_random=probe_random, single_targets=probe_singles))
        elif base in ("CAASL", "CAASL-deterministic"):
            from caasl_agents import REDQ, load_pretrained
            from caasl_agents.evaluation import PolicyStrategy

            if not path and env_id is None:
                raise ValueError("CAASL needs an environment id to pick the shipped policy")
            model = REDQ.load(path, device="cpu") if path else load_pretrained(training_id(env_id))
            mean = deterministic or base == "CAASL-deterministic"
            out.append(PolicyStrategy(model, deterministic=mean, name=base))
        elif base in ("CAASL-value", "CAASL-value-deterministic"):
            from caasl_agents.value import load_value_designer

            if env_id is None:
                raise ValueError(f"{base} needs an environment id to pick the shipped designer")
            mean = deterministic or base == "CAASL-value-deterministic"
            out.append(load_value_designer(env_id, env_kwargs, deterministic=mean, name=base))
        elif base in BASELINES:
            if env_id is None:
                raise ValueError(f"{base} needs an environment id (it is built for the id's prior)")
            out.append(BASELINES[base](config_for(env_id, **(env_kwargs or {}))))
        else:
            names_ = ["Random", "Observational", "RoundRobin", "CAASL", "CAASL-deterministic", "CAASL:<path>"]
            names_ += ["CAASL-value", "CAASL-value-deterministic"]
            names_ += ["Probe", "Random-extreme"]
            names_ += list(BASELINES)
            valid = ", ".join(names_)
            raise ValueError(f"unknown strategy {name!r}; valid: {valid}")
    return out


def _greedy(criterion: str):
    def build(config):
        from caasl_gym.baselines.greedy import GreedyExactDesigner

        name = "Greedy" if criterion == "eig" else "Greedy-score"
        kwargs = {} if criterion == "eig" else {"n_samples": 8, "n_candidates": 16}
        return GreedyExactDesigner.for_config(config, criterion=criterion, name=name, **kwargs)

    return build


def _particles(kind: str):
    def build(config):
        from caasl_gym.baselines.diffcbed import DiffCBEDDesigner
        from caasl_gym.baselines.ss_finite import SSFiniteDesigner

        return (SSFiniteDesigner if kind == "SS-Finite" else DiffCBEDDesigner).for_config(config)

    return build


def _posterior(criterion: str):
    def build(config):
        from caasl_gym.baselines.posterior_targets import PosteriorTargets

        return PosteriorTargets.for_config(config, criterion=criterion)

    return build


BASELINES = {
    "Greedy": _greedy("eig"),
    "Greedy-score": _greedy("score"),
    "SS-Finite": _particles("SS-Finite"),
    "DiffCBED": _particles("DiffCBED"),
    "Posterior-parents": _posterior("parents"),
    "Posterior-uncertainty": _posterior("uncertainty"),
}
"""Likelihood-based and posterior-heuristic strategies by name: ``config -> Strategy`` for the env's config."""


def write_outputs(episodes: pd.DataFrame, out_dir: Path, command: str, score_model: str | None = None) -> pd.DataFrame:
    """Write episodes.csv, summary.csv, summary.md and scores.png; return the final table."""
    out_dir.mkdir(parents=True, exist_ok=True)
    summary = summarize(episodes)
    episodes.to_csv(out_dir / "episodes.csv", index=False)
    summary.to_csv(out_dir / "summary.csv", index=False)
    shares = probe_share(episodes)
    if len(shares):
        shares.to_csv(out_dir / "probe_share.csv", index=False)
    table = final_table(summary, shares)
    plot = plot_scores(summary, out_dir / "scores.png")
    md = [
        "# Design strategies on held-out environments",
        "",
        environment_header(command),
        "",
        f"Mean ± 95% CI over {episodes.episode.nunique()} held-out test environments per id (seeds "
        f"{TEST.start}+i, paired across strategies), at the final step T. Score S(h_T): the expected number "
        "of correct adjacency entries (out of d²) under the "
        + (f"`{score_model}` posterior" if score_model else "environment's default reward model's posterior")
        + "; gain: S(h_T) - S_Random(h_T) on the same episodes; s / design: the strategy's wall time per design; "
        "CPU s / design: this process's CPU time per design (wall time grows on a loaded machine, CPU time does not).",
        "",
    ]
    if PROBE_NAME in set(episodes.strategy):
        md += [
            f"**{PROBE_NAME} is privileged: a reference, not a method.** At every step it simulates candidate designs "
            "(observational, every single target and uniform draws from the action box) on the *true hidden model* "
            "with noise of its own, scores each history with the environment's reward model and true graph, and "
            "plays the best. Its gain shows what a one-step design that knows the answer adds here; *share of probe "
            "gain* = a strategy's gain / the probe's gain on the same episodes, with a paired bootstrap 95% interval.",
            "",
        ]
    md += [markdown_table(table), ""]
    if plot is not None:
        md += [f"![scores]({plot.name})", ""]
    (out_dir / "summary.md").write_text("\n".join(md))
    return table


def main(argv: list[str] | None = None) -> pd.DataFrame:
    parser = argparse.ArgumentParser(description="Evaluate design strategies on held-out environments.")
    parser.add_argument("--ids", nargs="+", default=["CausalLinear-v0"], help="registered env ids, or 'all'")
    parser.add_argument("--strategies", nargs="+", default=["CAASL", "Random", "Observational"])
    parser.add_argument("--n-envs", type=int, default=100, help="held-out environments per id")
    parser.add_argument("--env-kwargs", type=json.loads, default=None, help="JSON dict passed to gym.make")
    parser.add_argument("--out", default="evaluation", help="folder under benchmarks/results/")
    parser.add_argument("--deterministic", action="store_true", help="CAASL: deterministic designs instead of samples")
    parser.add_argument(
        "--score", default=None, help="reward model that scores the designs (e.g. 'exact'); default: the env's"
    )
    parser.add_argument(
        "--probe-random", type=int, default=16, help="Probe: uniform candidates per step (besides the single targets)"
    )
    parser.add_argument(
        "--probe-no-singles", action="store_true", help="Probe: no single-target candidates (fewer, faster)"
    )
    parser.add_argument(
        "--threads", "--torch-threads", dest="threads", type=int, default=1,
        help="torch threads (1 is fastest on a busy machine)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    ids = list(caasl_gym.ALL_IDS) if args.ids == ["all"] else args.ids
    env_kwargs = dict(args.env_kwargs or {})
    if args.score is not None:
        usable = []
        for env_id in ids:
            try:
                gym.make(env_id, **{**env_kwargs, "reward_model": args.score}).close()
                usable.append(env_id)
            except ValueError as err:
                print(f"skipping {env_id}: {err}")
        ids = usable
    options = (args.deterministic, args.score, args.probe_random, not args.probe_no_singles)
    episodes = run(ids, args.strategies, args.n_envs, env_kwargs, *options)
    command = command_line("benchmarks.evaluate", argv)
    table = write_outputs(episodes, RESULTS_DIR / args.out, command, args.score)
    print(markdown_table(table))
    return table


if __name__ == "__main__":
    main()
