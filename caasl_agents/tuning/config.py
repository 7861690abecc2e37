"""The sweep CLI's configuration (:class:`SweepConfig`) and each trial's train configuration.

A trial is the train CLI's run of ``base`` (``--train-config`` or the preset) with the sampled values of the
search space on top, and the sweep's own fields (env, steps, reports, resources) fixed for every trial:
:func:`trial_train_config`. Nothing here imports Ray.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from caasl_agents.train_config import TrainConfig, load_config_file
from caasl_gym.evaluation.seeds import VALIDATION, check_in_family

PROG = "python -m caasl_agents.tune"
SWEEP_FILE = "sweep.json"
"""The sweep's resolved configuration in its folder (``--resume`` reads it back)."""
RESUMABLE = frozenset({"resume", "address", "num_cpus", "verbose", "storage_path"})
"""Fields that ``--resume`` may change; all others are read from the sweep's ``sweep.json``."""
RUN_ONLY = ("resume", "run_root", "progress_bar", "verbose")
"""TrainConfig fields that describe one run, not the recipe: left out of ``best.json``."""


@dataclass
class SweepConfig:
    """Sweep the hyperparameters of the train CLI's REDQ runs with Ray Tune (one machine, or a Ray cluster)."""

    env: str = "CausalLinear-v0"
    """registered environment id of every trial (any caasl_gym id; "module:Id" imports the module first)"""
    env_kwargs: dict = field(default_factory=dict)
    """environment kwargs as a JSON object, e.g. '{"num_nodes": 5}'"""
    space: str = "small"
    """search space: a named one (paper: paper-sized ranges for GPUs; small: CPU sizes) or a JSON / YAML file
    of {field: {"loguniform"|"uniform"|"randint"|"choice": [...]} or a constant}"""
    train_config: str = ""
    """JSON / YAML file of train-CLI options every trial starts from (as python -m caasl_agents.train --config)"""
    preset: Literal["auto", "cpu", "gpu"] = "auto"
    """the trials' train-CLI preset for the fields neither the space nor --train-config sets (auto: gpu when
    trials get a GPU, else cpu)"""
    num_samples: int = 8
    """trials (configurations drawn from the space)"""
    scheduler: Literal["asha", "fifo"] = "asha"
    """asha: stop weak trials at the rungs (grace period x reduction factor^k steps); fifo: run all to the end"""
    search: Literal["random", "optuna"] = "random"
    """how configurations are drawn: random, or optuna's TPE (needs the optuna package)"""
    search_seed: int = 0
    """seed of the configuration draws (random and optuna)"""
    seed: int = 0
    """training seed of every trial (the same episodes for every configuration), unless the space varies seed"""
    total_timesteps: int = 32_000
    """environment transitions of a trial that is not stopped early (ASHA's max_t)"""
    report_every: int = 4_000
    """transitions between a trial's validation reports (and its kept checkpoints; ASHA's time unit)"""
    eval_episodes: int = 50
    """validation episodes of each report (the paired gain over Random on episodes eval_seed + i)"""
    eval_seed: int = VALIDATION.start
    """first validation episode of each report; must be validation seeds (1000000..9999999)"""
    grace_period: int = 0
    """ASHA: transitions before a trial may be stopped (0: report_every)"""
    reduction_factor: float = 2.0
    """ASHA: keep the best 1 / reduction_factor of the trials at each rung"""
    cpus_per_trial: float = 1.0
    """CPUs Ray reserves for a trial; its torch uses max(1, floor) threads"""
    gpus_per_trial: float = 0.0
    """GPUs Ray reserves for a trial (a fraction shares one GPU); > 0 trains on CUDA"""
    max_concurrent: int = 0
    """trials running at once (0: as many as the resources allow)"""
    address: str = ""
    """Ray cluster to join ("auto": the one ray start made here, or host:port); empty: start Ray on this machine"""
    num_cpus: int = 0
    """CPUs of the Ray instance started here (0: every core); ignored with --address"""
    storage_path: str = "runs/tune"
    """folder of the sweeps (on a cluster, one that every node sees, e.g. NFS)"""
    name: str = ""
    """sweep folder name under storage_path (empty: <env>__<time>)"""
    resume: str = ""
    """sweep folder to continue after an interruption ("latest": newest in storage_path)"""
    verbose: int = 1
    """Ray Tune's console output: 0 silent, 1 status, 2 every report"""

    def __post_init__(self) -> None:
        for name in ["num_samples", "total_timesteps", "report_every", "eval_episodes"]:
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ["search_seed", "seed", "grace_period", "max_concurrent", "num_cpus", "verbose"]:
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.report_every > self.total_timesteps:
            raise ValueError(f"report_every ({self.report_every}) > total_timesteps ({self.total_timesteps})")
        if not self.reduction_factor > 1:
            raise ValueError(f"reduction_factor must be > 1, got {self.reduction_factor}")
        if not self.cpus_per_trial > 0 or self.gpus_per_trial < 0:
            raise ValueError(f"need cpus_per_trial > 0 and gpus_per_trial >= 0, got {self.cpus_per_trial}, "
                             f"{self.gpus_per_trial}")  # fmt: skip
        if not isinstance(self.env_kwargs, dict):
            raise ValueError(f"env_kwargs must be a dict, got {self.env_kwargs!r}")
        check_in_family(range(self.eval_seed, self.eval_seed + self.eval_episodes), VALIDATION, "--eval-seed")

    @property
    def torch_threads(self) -> int:
        """Torch threads of each trial: its reserved CPUs, at least one."""
        return max(1, math.floor(self.cpus_per_trial))

    @property
    def device(self) -> str:
        """The trials' torch device."""
        return "cuda" if self.gpus_per_trial > 0 else "cpu"

    @property
    def grace(self) -> int:
        """ASHA's grace period in transitions."""
        return self.grace_period or self.report_every


def base_values(sweep: SweepConfig, train_values: dict[str, Any] | None = None) -> dict[str, Any]:
    """The TrainConfig values every trial shares: ``--train-config``'s, then the sweep's own fields.

    :param train_values: the ``--train-config`` file's values, read once by the driver (trials may run where
        the file is not); None: read the file now
    """
    if train_values is None:
        train_values = load_config_file(sweep.train_config) if sweep.train_config else {}
    values = dict(train_values)
    values.update(
        env=sweep.env, env_kwargs=dict(sweep.env_kwargs), seed=sweep.seed,
        total_timesteps=sweep.total_timesteps, checkpoint_freq=sweep.report_every,
        eval_episodes=sweep.eval_episodes, eval_seed=sweep.eval_seed, device=sweep.device,
        torch_threads=sweep.torch_threads, progress_bar=False, verbose=0,
    )  # fmt: skip
    if "preset" not in values or sweep.preset != "auto":
        values["preset"] = sweep.preset
    if values["preset"] == "auto":
        values["preset"] = "gpu" if sweep.gpus_per_trial > 0 else "cpu"
    return values


def trial_train_config(sweep: SweepConfig, params: dict[str, Any], run_root: str | os.PathLike = "runs",
                       train_values: dict[str, Any] | None = None) -> tuple[TrainConfig, set[str]]:  # fmt: skip
    """The TrainConfig of the trial that drew ``params``, and the fields given explicitly (they override the preset).

    :param sweep: the sweep
    :param params: the trial's draw from the space ``{field: value}``
    :param run_root: the folder that receives the trial's run folder ``<env>__<seed>__<time>``
    :param train_values: the ``--train-config`` values (None: read the file), see :func:`base_values`
    :raises ValueError: the draw does not make a valid configuration (e.g. M > N)
    """
    values = base_values(sweep, train_values)
    values.update(params)
    values["run_root"] = str(run_root)
    return TrainConfig(**values), set(values)


def best_json(cfg: TrainConfig) -> dict[str, Any]:
    """A trial's resolved configuration as ``python -m caasl_agents.train --config`` reads it (no run-only fields)."""
    return {k: v for k, v in dataclasses.asdict(cfg).items() if k not in RUN_ONLY}


def save_sweep(sweep: SweepConfig, folder: Path, space_spec: dict[str, Any], train_values: dict[str, Any]) -> None:
    """Write ``sweep.json`` (the configuration, the space and the ``--train-config`` values) into its folder."""
    record = {"config": dataclasses.asdict(sweep), "space": space_spec, "train_config": train_values}
    (folder / SWEEP_FILE).write_text(json.dumps(record, indent=2))


def load_sweep(folder: Path, given: SweepConfig, given_fields: set[str]
               ) -> tuple[SweepConfig, dict[str, Any], dict[str, Any]]:  # fmt: skip
    """The configuration of the sweep in ``folder`` with the resumable fields given on the command line, its
    space and its ``--train-config`` values.

    :raises FileNotFoundError: not a sweep folder
    :raises ValueError: a non-resumable field given with a different value (the message lists the resumable ones)
    """
    path = folder / SWEEP_FILE
    if not path.is_file():
        raise FileNotFoundError(f"--resume {folder}: not a sweep folder (no {SWEEP_FILE}); {PROG} writes one")
    record = json.loads(path.read_text())
    saved = record["config"]
    changed = sorted(n for n in given_fields - RESUMABLE if getattr(given, n) != saved.get(n))
    if changed:
        raise ValueError(f"cannot change {', '.join(changed)} when resuming (allowed: {', '.join(sorted(RESUMABLE))})")
    saved.update({n: getattr(given, n) for n in given_fields & RESUMABLE})
    return SweepConfig(**saved), record["space"], record.get("train_config", {})
