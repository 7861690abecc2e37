"""A sweep's results from its folder: every report and trial as CSV, a plot, and the best configuration (``best.json``).

Read from the files Ray Tune writes in each trial's folder (``params.json``: the draw; ``result.json``: one
report per line; ``error.txt`` for a failed trial), so a finished, resumed or copied sweep folder gives the
same tables without Ray:

* ``reports.csv``: one row per report ``(trial_id, timesteps, gain, gain_ci95, score, random_score,
  trial_wall_s, ...)``;
* ``trials.csv``: one row per trial: its status (completed, stopped early, error), the drawn values, the gain
  at each report step (``gain@<steps>``), the last report's ``gain`` / ``gain_ci95``, ``best_gain``,
  ``timesteps``, ``trial_wall_s`` and ``run_dir``;
* ``sweep.png``: the learning curves (the best trials highlighted) and the last gain against each varied value;
* ``best.json``: the best trial's resolved train configuration (``python -m caasl_agents.train --config
  best.json`` trains it again), and ``best_trial.json``: which trial that is and its numbers.

The best trial is the one with the largest last gain among the trials that ran to ``total_timesteps``
(among those that went furthest, when none did).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from caasl_agents.train_config import resolve_preset
from caasl_agents.tuning.config import SweepConfig, best_json, trial_train_config
from caasl_agents.tuning.space import Param

REPORT_COLUMNS = ["trial_id", "timesteps", "gain", "gain_ci95", "score", "random_score", "trial_wall_s",
                  "time_total_s", "torch_threads", "run_dir"]  # fmt: skip


def trial_folders(folder: Path) -> list[Path]:
    """Ray's folder of each trial of the sweep in ``folder`` (those holding a ``params.json``), by trial id."""
    found = [p.parent for p in folder.glob("*/params.json")]
    return sorted(found, key=lambda p: _trial_id(p))


def _trial_id(trial_dir: Path) -> str:
    lines = (trial_dir / "result.json").read_text().splitlines() if (trial_dir / "result.json").is_file() else []
    for line in lines:
        if line.strip():
            return str(json.loads(line)["trial_id"])
    return trial_dir.name


def collect(folder: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(reports, params)``: every report (columns :data:`REPORT_COLUMNS`, one row per trial and step; a step
    reported twice, e.g. around an interruption, keeps its last report) and each trial's draw and status inputs
    (index ``trial_id``; columns the drawn fields and ``error``)."""
    reports, params = [], []
    for trial_dir in trial_folders(folder):
        trial_id = _trial_id(trial_dir)
        draw = json.loads((trial_dir / "params.json").read_text())
        failed = trial_dir / "error.txt"
        error = failed.read_text().strip().splitlines()[-1:] if failed.is_file() else []
        params.append({"trial_id": trial_id, **draw, "error": error[0] if error else ""})
        path = trial_dir / "result.json"
        for line in path.read_text().splitlines() if path.is_file() else []:
            if line.strip():
                row = json.loads(line)
                reports.append({k: row.get(k) for k in REPORT_COLUMNS} | {"trial_id": trial_id})
    table = pd.DataFrame(reports, columns=REPORT_COLUMNS)
    table["run_dir"] = table.run_dir.map(_shown)
    table = table.drop_duplicates(["trial_id", "timesteps"], keep="last").sort_values(["trial_id", "timesteps"])
    return table.reset_index(drop=True), pd.DataFrame(params, columns=None).set_index("trial_id")


def trial_table(reports: pd.DataFrame, params: pd.DataFrame, total_timesteps: int) -> pd.DataFrame:
    """One row per trial (see the module docstring), best last gain first."""
    rows = []
    for trial_id, draw in params.iterrows():
        mine = reports[reports.trial_id == trial_id]
        row: dict[str, Any] = {"trial_id": trial_id}
        if draw["error"]:
            row["status"] = "error"
        elif len(mine) and mine.timesteps.iloc[-1] >= total_timesteps:
            row["status"] = "completed"
        else:
            row["status"] = "stopped early"
        row.update({k: v for k, v in draw.items() if k != "error"})
        row.update({f"gain@{int(s)}": g for s, g in zip(mine.timesteps, mine.gain)})
        last = mine.iloc[-1] if len(mine) else None
        row.update(
            gain=None if last is None else last.gain, gain_ci95=None if last is None else last.gain_ci95,
            best_gain=mine.gain.max() if len(mine) else None, timesteps=0 if last is None else int(last.timesteps),
            trial_wall_s=None if last is None else last.trial_wall_s, run_dir=None if last is None else last.run_dir,
            error=draw["error"],
        )  # fmt: skip
        rows.append(row)
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    steps = sorted((c for c in table.columns if c.startswith("gain@")), key=lambda c: int(c.split("@")[1]))
    front = ["trial_id", "status", *[c for c in params.columns if c != "error"], *steps]
    table = table[front + [c for c in table.columns if c not in front]]
    order = table.sort_values(["timesteps", "gain"], ascending=False, na_position="last").index
    return table.loc[order].reset_index(drop=True)


def best_trial(trials: pd.DataFrame) -> pd.Series:
    """The best row of :func:`trial_table`: the largest last gain among the trials that went furthest.

    :raises ValueError: no trial reported
    """
    reported = trials[trials.timesteps > 0] if len(trials) else trials
    if reported.empty:
        raise ValueError("no trial reported a validation gain; see the trials' error.txt in the sweep folder")
    furthest = reported[reported.timesteps == reported.timesteps.max()]
    return furthest.loc[furthest.gain.astype(float).idxmax()]


def plot(reports: pd.DataFrame, trials: pd.DataFrame, space: dict[str, Param], path: Path, top: int = 3) -> bool:
    """Write ``sweep.png``: learning curves (the ``top`` best trials in colour) and the last gain against each
    varied field (filled: completed, hollow: stopped early). Returns False (and writes nothing) without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        import matplotlib.ticker
    except ImportError:
        return False
    varied = [name for name, p in space.items() if p.kind != "constant"]
    cols = 1 + len(varied)
    ncols = min(cols, 3)
    nrows = -(-cols // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.2 * ncols, 3.4 * nrows), squeeze=False)
    flat = list(axes.flat)
    ax = flat[0]
    best_ids = list(trials.trial_id[:top])
    for trial_id, curve in reports.groupby("trial_id", sort=False):
        highlighted = trial_id in best_ids
        ax.plot(curve.timesteps, curve.gain, marker="o", ms=3, lw=1.8 if highlighted else 0.8,
                color=None if highlighted else "0.7", label=str(trial_id) if highlighted else None,
                zorder=3 if highlighted else 1)  # fmt: skip
    ax.axhline(0.0, color="k", lw=0.6, ls=":")
    ax.set(xlabel="environment steps", ylabel="validation gain over Random", title="learning curves (best in colour)")
    if best_ids:
        ax.legend(fontsize=7)
    done = trials.status == "completed"
    for ax, name in zip(flat[1:], varied):
        for mask, face in ((done, "C0"), (~done, "none")):
            ax.scatter(trials[name][mask].astype(float), trials.gain[mask].astype(float), facecolors=face,
                       edgecolors="C0", s=28)  # fmt: skip
        if space[name].log_scale:
            ax.set_xscale("log")
            ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.axhline(0.0, color="k", lw=0.6, ls=":")
        ax.set(xlabel=name, ylabel="last validation gain")
    for ax in flat[cols:]:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def write_results(folder: Path, sweep: SweepConfig, space: dict[str, Param], train_values: dict[str, Any]
                  ) -> dict[str, Any]:  # fmt: skip
    """Write ``reports.csv``, ``trials.csv``, ``sweep.png``, ``best.json`` and ``best_trial.json`` into ``folder``.

    ``train_values`` are the sweep's ``--train-config`` values (:func:`~caasl_agents.tuning.config.base_values`).

    :return: the ``best_trial.json`` record (trial id, its draw, gains, steps, wall time, run folder), or
        ``{}`` when no trial reported
    """
    reports, params = collect(folder)
    trials = trial_table(reports, params, sweep.total_timesteps)
    reports.to_csv(folder / "reports.csv", index=False)
    trials.to_csv(folder / "trials.csv", index=False)
    plot(reports, trials, space, folder / "sweep.png")
    try:
        best = best_trial(trials)
    except ValueError:
        return {}
    draw = {name: _plain(best[name]) for name in space if name in best}
    cfg = resolve_preset(*trial_train_config(sweep, draw, train_values=train_values))
    (folder / "best.json").write_text(json.dumps(best_json(cfg), indent=2))
    record = {"trial_id": best.trial_id, "params": draw, "gain": _plain(best.gain), "gain_ci95": _plain(best.gain_ci95),
              "timesteps": int(best.timesteps), "trial_wall_s": _plain(best.trial_wall_s), "run_dir": best.run_dir,
              "status": best.status}  # fmt: skip
    (folder / "best_trial.json").write_text(json.dumps(record, indent=2))
    return record


def _shown(path: Any) -> Any:
    """A trial's run folder as written to the results: relative to the working directory when inside it
    (the trials need absolute paths, Ray runs them elsewhere; the tables should not name this machine)."""
    if not isinstance(path, str) or not Path(path).is_absolute():
        return path
    try:
        return str(Path(path).relative_to(Path.cwd()))
    except ValueError:
        return path


def _plain(value: Any) -> Any:
    """A numpy scalar as the Python value (for JSON)."""
    return value.item() if hasattr(value, "item") else value
