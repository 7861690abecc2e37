"""One trial of a sweep: the train CLI's run (:func:`caasl_agents.train.train`) with validation reports to Ray Tune.

Each report (every ``report_every`` transitions, right after the step checkpoint of that round, and at the
end) is the paired gain over Random on the validation episodes ``eval_seed + i``
(:func:`~caasl_agents.evaluation.policy_record`), sent with ``ray.tune.report`` together with a small Ray
checkpoint that points at the trial's run folder. The run folder itself is the train CLI's
(``<sweep>/trials/<trial id>/<env>__<seed>__<time>/``), so a restored trial resumes it exactly from its
latest checkpoint, and any trial can be continued, exported or evaluated like a training run.

When the scheduler (ASHA) stops a trial, Ray ends the blocked ``tune.report`` with ``SystemExit``; the
callback turns it into :class:`TrialStopped`, which leaves SB3's ``learn`` (it cannot pause mid-learn)
after that round's checkpoint, and the trial returns. Ray is imported only inside the trial.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import torch as th
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback

from caasl_agents.tuning.config import SweepConfig, trial_train_config

POINTER = "trial.json"
"""The file of a trial's Ray checkpoint: ``{"run_dir", "timesteps", "trial_wall_s"}``."""


class TrialStopped(Exception):
    """The scheduler stopped the trial at :attr:`timesteps` (after that round's checkpoint)."""

    def __init__(self, timesteps: int):
        self.timesteps = timesteps
        super().__init__(f"stopped by the scheduler at {timesteps} steps")


class ReportCallback(BaseCallback):
    """Call ``report(model)`` at the first round boundary past each multiple of ``every`` environment steps.

    Put it after the train CLI's checkpoint callback (``train(..., callbacks=[...])`` does), so the step
    checkpoint of a report's round is on disk before the report.

    :param every: environment steps (all copies) between reports
    :param report: evaluates and reports the model; may raise :class:`TrialStopped`
    :param last_reported: the steps of the last report already made (a restored trial's), so a resumed run
        whose checkpoint lies past it reports that checkpoint at once
    """

    def __init__(self, every: int, report: Callable[[BaseAlgorithm], None], last_reported: int = 0):
        super().__init__()
        if every < 1:
            raise ValueError(f"every must be >= 1, got {every}")
        self.every, self.report, self.last_reported = every, report, last_reported

    def _on_rollout_start(self) -> None:
        steps = self.model.num_timesteps
        if steps // self.every > self.last_reported // self.every:
            self.last_reported = steps
            self.report(self.model)

    def _on_step(self) -> bool:
        return True


def _run_folder(run_root: Path) -> Path | None:
    """The trial's run folder from an earlier attempt, if it has a checkpoint to resume; one without is removed."""
    found = sorted(p.parent for p in run_root.glob("*/config.json"))
    for run_dir in found[:-1]:  # pragma: no cover - a trial makes one run folder
        shutil.rmtree(run_dir, ignore_errors=True)
    if found and (found[-1] / "checkpoints" / "latest.json").is_file():
        return found[-1]
    if found:  # killed before its first checkpoint: nothing to resume
        shutil.rmtree(found[-1], ignore_errors=True)
    return None


def run_trial(params: dict[str, Any], sweep: dict[str, Any], folder: str, train_values: dict[str, Any]) -> None:
    """The Ray Tune function trainable: train the configuration ``params`` drawn from the space, reporting as it goes.

    :param params: the trial's draw ``{field: value}``
    :param sweep: the sweep's :class:`SweepConfig` as a dict
    :param folder: the sweep's folder (absolute: Ray runs trials in their own working directory)
    :param train_values: the ``--train-config`` values, read by the driver
    """
    from ray import tune

    import caasl_gym  # noqa: F401  (registers the environment ids in this worker)
    from caasl_agents.evaluation import policy_record
    from caasl_agents.train import train

    started = time.monotonic()
    config = SweepConfig(**sweep)
    th.set_num_threads(config.torch_threads)
    run_root = Path(folder) / "trials" / tune.get_context().get_trial_id()
    cfg, given = trial_train_config(config, params, run_root, train_values)
    previous = {"timesteps": 0, "trial_wall_s": 0.0}
    checkpoint = tune.get_checkpoint()
    if checkpoint is not None:
        with checkpoint.as_directory() as path:
            previous = json.loads((Path(path) / POINTER).read_text())
    run_dir = _run_folder(run_root)
    if run_dir is not None:  # continue the interrupted run exactly (only the run-only fields may differ)
        cfg = dataclasses.replace(cfg, resume=str(run_dir))
        given = {"resume", "torch_threads", "progress_bar", "verbose", "device"}

    def send(metrics: dict[str, Any], steps: int, where: Path) -> None:
        wall = previous["trial_wall_s"] + time.monotonic() - started
        metrics = {**metrics, "timesteps": int(steps), "trial_wall_s": wall, "torch_threads": th.get_num_threads(),
                   "run_dir": str(where)}  # fmt: skip
        with tempfile.TemporaryDirectory() as tmp:
            pointer = {"run_dir": str(where), "timesteps": int(steps), "trial_wall_s": wall}
            (Path(tmp) / POINTER).write_text(json.dumps(pointer))
            try:
                tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(tmp))
            except SystemExit:  # the scheduler stopped this trial while the report waited
                raise TrialStopped(steps) from None

    def report(model: BaseAlgorithm) -> None:
        record = policy_record(model, cfg.env, cfg.eval_episodes, cfg.eval_seed, cfg.env_kwargs,
                               cfg.eval_deterministic)  # fmt: skip
        send(record, model.num_timesteps, _run_folder_of(run_root))

    callback = ReportCallback(config.report_every, report, last_reported=int(previous["timesteps"]))
    try:
        run_dir = train(cfg, given, callbacks=[callback])
    except TrialStopped:
        return
    record = pd.read_csv(run_dir / "eval.csv").iloc[0].to_dict()  # the train CLI's final evaluation
    record = {k: (v.item() if hasattr(v, "item") else v) for k, v in record.items()}
    send(record, _final_steps(run_dir), run_dir)


def _run_folder_of(run_root: Path) -> Path:
    """The (only) run folder of a trial."""
    return sorted(p.parent for p in run_root.glob("*/config.json"))[-1]


def _final_steps(run_dir: Path) -> int:
    """Environment steps of a run folder's final model (its latest checkpoint's)."""
    return int(json.loads((run_dir / "checkpoints" / "latest.json").read_text())["num_timesteps"])
