"""What more compute buys: held-out scores of a training run's checkpoints, and their gain over Random.

Each checkpoint ``model_<steps>_steps.zip`` of a run of ``python -m caasl_agents.train`` (and its final
``model.zip``) is evaluated by :func:`caasl_agents.evaluation.policy_record` on the same ``--n-episodes``
test episodes (seeds ``TEST.start + i`` of :mod:`caasl_gym.evaluation.seeds`, as ``benchmarks.evaluate``),
with the same Random designs, so the curve is paired across checkpoints. Designs are sampled from the
policy, episode ``i``'s noise from its own generator (as the shipped policies are evaluated), and with
``--modes sampled deterministic`` also the policy's deterministic designs. ``--validation`` evaluates on the
validation seeds instead (``VALIDATION.start + i``): the curve to *select* a checkpoint or a recipe on. A run
that started from another policy's actor (``train --init-policy``) has that policy as its point at step 0
(``pretrained:<id>``: the policy shipped now, so rerun the curve of such a run before the shipped one changes).

    python -m benchmarks.learning_curve runs/CausalLinear-v0__0__... runs/SergioKnockout-v0__0__...
    python -m benchmarks.learning_curve runs/SergioKnockout-v0__1__... --validation --modes sampled deterministic

Writes ``benchmarks/results/<name>.csv``, ``.md`` and ``.png`` (the score S(h_T) against environment steps,
95% CI bands, Random as a band; one panel per id).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd
import torch
from tqdm import tqdm

from benchmarks._common import RESULTS_DIR, command_line, print_table, write_results
from caasl_agents.evaluation import policy_record
from caasl_agents.pretrained import load_policy
from caasl_agents.pretrained.export import checkpoints, training_wall_time_s
from caasl_gym.evaluation import TEST, VALIDATION

MODES = ("sampled", "deterministic")
"""Valid ``--modes``: sampled designs, or the policy's deterministic design rule."""


def curve(
    run_dir: Path, n_episodes: int, every: int = 1, seed_base: int = TEST.start, modes: tuple[str, ...] = ("sampled",)
) -> pd.DataFrame:
    """One row per evaluated checkpoint of ``run_dir`` and design mode of ``modes`` (episodes ``seed_base + i``)."""
    unknown = [m for m in modes if m not in MODES]
    if unknown:
        raise ValueError(f"unknown design modes {unknown}; valid choices: {', '.join(MODES)}")
    config = json.loads((run_dir / "config.json").read_text())
    env_id, env_kwargs = config["env"], config.get("env_kwargs", {})
    points = checkpoints(run_dir)
    points = points[::every] if points[-1] in points[::every] else [*points[::every], points[-1]]
    if config.get("init_policy"):  # the actor the run started from (--init-policy), at step 0
        points = [(0, config["init_policy"]), *points]
    rows = []
    for steps, path in tqdm(points, desc=env_id, unit="ckpt"):
        model = load_policy(str(path))
        for mode in modes:
            res = policy_record(model, env_id, n_episodes, seed_base, env_kwargs, deterministic=mode == "deterministic")
            rows.append(
                {
                    "env_id": env_id,
                    "seed": config["seed"],
                    "run": run_dir.name,
                    "designs": mode,
                    "env_steps": steps,
                    "gradient_steps": int(model._n_updates) if steps else 0,
                    "wall_time_min": round(training_wall_time_s(run_dir, steps) / 60, 1),
                    **{k: v for k, v in res.items() if k.startswith(("score", "random_score", "gain"))},
                }
            )
    return pd.DataFrame(rows)


def plot(df: pd.DataFrame, path: Path) -> Path | None:
    """Scores against environment steps, one panel per id (needs matplotlib)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    ids = list(dict.fromkeys(df.env_id))
    fig, axes = plt.subplots(1, len(ids), figsize=(4.5 * len(ids), 3.4), squeeze=False)
    for ax, env_id in zip(axes.flat, ids):
        runs = df[df.env_id == env_id]
        for (run, mode), g in runs.groupby(["run", "designs"], sort=False):
            label = f"CAASL, training seed {g.seed.iloc[0]}" + ("" if mode == "sampled" else f", {mode}")
            label += f" ({run})" if runs.run.nunique() > runs.seed.nunique() else ""
            ax.plot(g.env_steps, g.score, marker="o", ms=3, ls="-" if mode == "sampled" else ":", label=label)
            ax.fill_between(g.env_steps, g.score - g.score_ci95, g.score + g.score_ci95, alpha=0.2)
        r, c = runs.random_score.iloc[0], runs.random_score_ci95.iloc[0]
        ax.axhline(r, color="gray", ls="--", label="Random")
        ax.axhspan(r - c, r + c, color="gray", alpha=0.15)
        ax.set_title(env_id, fontsize=9)
        ax.set_xlabel("environment steps")
        ax.set_ylabel("score S(h_T) (held-out)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main(argv: list[str] | None = None) -> pd.DataFrame:
    p = argparse.ArgumentParser(prog="python -m benchmarks.learning_curve", description=__doc__.split("\n")[0])
    p.add_argument("runs", nargs="+", help="run folders of python -m caasl_agents.train")
    p.add_argument("--n-episodes", type=int, default=100, help="held-out environments per checkpoint")
    p.add_argument("--every", type=int, default=1, help="evaluate every k-th checkpoint (the last always)")
    p.add_argument("--name", default="learning_curve", help="results file stem under benchmarks/results")
    p.add_argument("--threads", type=int, default=1, help="torch threads (1 is fastest on a busy machine)")
    p.add_argument("--modes", nargs="+", choices=MODES, default=["sampled"], help="design modes to evaluate")
    p.add_argument("--validation", action="store_true", help="the validation seeds (for selection), not the test seeds")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    seed_base, family = (VALIDATION.start, "validation") if args.validation else (TEST.start, "test")
    frames = [curve(Path(r), args.n_episodes, args.every, seed_base, tuple(args.modes)) for r in args.runs]
    df = pd.concat(frames, ignore_index=True)
    png = plot(df, RESULTS_DIR / f"{args.name}.png")
    notes = (
        f"{args.n_episodes} held-out {family} environments per checkpoint (seeds {seed_base}+i), the same for "
        "every checkpoint and for Random; designs: "
        + " and ".join(args.modes)
        + "; score = S(h_T), gain = S(h_T) - S_Random(h_T) on the same episodes; CIs are "
        "95% Student-t. Wall time: training time up to the checkpoint (SB3's time_elapsed)."
    )
    if png is not None:
        notes += f"\n\n![learning curve]({png.name})"
    print_table(df)
    command = command_line("benchmarks.learning_curve", argv)
    write_results(
        args.name, df, title="Learning curves: held-out scores against training steps", notes=notes, command=command
    )
    return df


if __name__ == "__main__":
    main()
