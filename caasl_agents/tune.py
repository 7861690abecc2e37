"""Sweep the train CLI's hyperparameters with Ray Tune: ``python -m caasl_agents.tune --env CausalLinear-v0``.

Every option is a field of :class:`~caasl_agents.tuning.config.SweepConfig` (``--help`` lists them). Each trial
is the train CLI's run (:func:`caasl_agents.train.train`, the same :class:`~caasl_agents.train_config.TrainConfig`,
presets, run folder and exact resume) of one configuration drawn from the search space (``--space``: ``small``,
``paper`` or a JSON / YAML file, :mod:`caasl_agents.tuning.space`), on the native in-process vector env, with
torch pinned to the trial's CPUs (``--cpus-per-trial``). Every ``--report-every`` steps a trial reports its
paired gain over Random on the validation episodes (``--eval-episodes`` from ``--eval-seed``; never the test
seeds); ``--scheduler asha`` stops the weak ones at each rung, after that round's checkpoint.

One machine (the default) starts Ray here with ``--num-cpus`` CPUs; ``--address auto`` (or ``host:port``) joins
a cluster started with ``ray start --head`` (and ``ray start --address=<head>:6379`` on the other machines),
where ``--storage-path`` must be a folder every node sees.

A sweep writes ``<storage-path>/<name>/`` (Ray's experiment folder): ``sweep.json`` (this configuration and
the space), Ray's trial folders, ``trials/<trial id>/<env>__<seed>__<time>/`` (each trial's train-CLI run
folder), and at the end ``trials.csv``, ``reports.csv``, ``sweep.png``, ``best.json`` (``python -m
caasl_agents.train --config best.json`` trains the best configuration again) and ``best_trial.json``
(:mod:`caasl_agents.tuning.results`). ``--resume <folder>`` (or ``latest``) continues an interrupted sweep
(``Tuner.restore``): finished trials are kept, and each unfinished one resumes its run folder from its latest
checkpoint.

Examples::

    python -m caasl_agents.tune --env CausalLinear-v0 --space small --num-samples 8      # this machine
    python -m caasl_agents.tune --space paper --preset gpu --gpus-per-trial 0.25 --address auto --storage-path /nfs/tune
    python -m caasl_agents.tune --resume runs/tune/CausalLinear-v0__20261201-120000
"""

from __future__ import annotations

import dataclasses
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from caasl_agents.common.cli import build_parser
from caasl_agents.train_config import load_config_file
from caasl_agents.tuning.config import PROG, SWEEP_FILE, SweepConfig, load_sweep, save_sweep, trial_train_config
from caasl_agents.tuning.results import write_results
from caasl_agents.tuning.space import Param, load_space, parse_space, sample

CHECK_DRAWS = 64
"""Draws from the space checked to make valid train configurations before the sweep starts."""


def check_space(sweep: SweepConfig, space: dict[str, Param], draws: int = CHECK_DRAWS,
                train_values: dict[str, Any] | None = None) -> None:  # fmt: skip
    """Raise ``ValueError`` naming the first of ``draws`` seeded draws that is no valid train configuration."""
    rng = np.random.default_rng(sweep.search_seed)
    for _ in range(draws):
        draw = sample(space, rng)
        try:
            trial_train_config(sweep, draw, train_values=train_values)
        except ValueError as err:
            raise ValueError(f"search space: the draw {draw} is no valid configuration: {err}") from None


def _import_ray() -> Any:
    try:
        import ray
        from ray import tune  # noqa: F401
    except ImportError:
        raise ImportError(f"{PROG} needs Ray Tune: pip install 'caasl[tune]' (or pip install 'ray[tune]')") from None
    return ray


def _searcher(sweep: SweepConfig) -> Any:
    if sweep.search == "optuna":
        try:
            import optuna  # noqa: F401
            from ray.tune.search.optuna import OptunaSearch
        except ImportError:
            raise ImportError("--search optuna needs optuna: pip install optuna (or use --search random)") from None
        return OptunaSearch(seed=sweep.search_seed)
    from ray.tune.search.basic_variant import BasicVariantGenerator

    return BasicVariantGenerator(random_state=sweep.search_seed)


def _scheduler(sweep: SweepConfig) -> Any:
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler

    if sweep.scheduler == "fifo":
        return FIFOScheduler()
    return ASHAScheduler(time_attr="timesteps", max_t=sweep.total_timesteps, grace_period=sweep.grace,
                         reduction_factor=sweep.reduction_factor)  # fmt: skip


def trial_dirname(trial: Any) -> str:
    """Ray's folder name of a trial: its id."""
    return str(trial.trial_id)


def _trainable(sweep: SweepConfig, folder: Path, train_values: dict[str, Any]) -> Any:
    from ray import tune

    from caasl_agents.tuning.trial import run_trial

    resources = {"cpu": sweep.cpus_per_trial, "gpu": sweep.gpus_per_trial}
    trainable = tune.with_parameters(run_trial, sweep=dataclasses.asdict(sweep), folder=str(folder),
                                     train_values=train_values)  # fmt: skip
    return tune.with_resources(trainable, resources)


def _find_sweep(sweep: SweepConfig) -> Path:
    if sweep.resume != "latest":
        return Path(sweep.resume).resolve()
    found = sorted(Path(sweep.storage_path).glob(f"*/{SWEEP_FILE}"), key=lambda p: p.stat().st_mtime)
    if not found:
        raise FileNotFoundError(f"--resume latest: no sweep (no */{SWEEP_FILE}) in {sweep.storage_path}")
    return found[-1].parent.resolve()


def run_sweep(sweep: SweepConfig, given: set[str] | None = None) -> tuple[Path, dict[str, Any]]:
    """Run (or with ``sweep.resume`` continue) a sweep and write its results; returns its folder and best trial.

    :param sweep: the configuration
    :param given: the fields given explicitly (with ``resume``, only the resumable ones may differ from the
        saved sweep's); None: those that differ from the defaults
    :raises ImportError: Ray (or, with ``--search optuna``, optuna) is missing
    :raises ValueError: a bad search space or option
    """
    ray = _import_ray()
    from ray import tune

    if given is None:
        defaults = SweepConfig()
        given = {f.name for f in dataclasses.fields(sweep) if getattr(sweep, f.name) != getattr(defaults, f.name)}
    if sweep.resume:
        folder = _find_sweep(sweep)
        sweep, spec, train_values = load_sweep(folder, sweep, given)
        space = parse_space(spec)
        if not tune.Tuner.can_restore(str(folder)):
            raise FileNotFoundError(f"--resume {folder}: Ray wrote no experiment state there yet; start it anew")
    else:
        space, spec = load_space(sweep.space)
        train_values = load_config_file(sweep.train_config) if sweep.train_config else {}
        check_space(sweep, space, train_values=train_values)
        name = sweep.name or f"{sweep.env.split(':')[-1].replace('/', '-')}__{time.strftime('%Y%m%d-%H%M%S')}"
        folder = (Path(sweep.storage_path) / name).resolve()
        if (folder / SWEEP_FILE).exists():
            raise FileExistsError(f"{folder} holds a sweep already; continue it with --resume {folder} or pick --name")
        searcher = _searcher(sweep)  # before anything is written: a missing optuna fails here
        folder.mkdir(parents=True, exist_ok=True)
        save_sweep(sweep, folder, spec, train_values)
    if not ray.is_initialized():
        local = dict(num_cpus=sweep.num_cpus or None) if not sweep.address else {}
        ray.init(address=sweep.address or None, include_dashboard=False, log_to_driver=sweep.verbose >= 2,
                 **local)  # fmt: skip
    print(f"sweep folder: {folder} ({'resumed' if sweep.resume else 'new'})", flush=True)
    trainable = _trainable(sweep, folder, train_values)
    if sweep.resume:
        tuner = tune.Tuner.restore(str(folder), trainable, resume_unfinished=True, resume_errored=True)
    else:
        from caasl_agents.tuning.space import to_ray

        tuner = tune.Tuner(
            trainable,
            param_space=to_ray(space),
            tune_config=tune.TuneConfig(
                metric="gain", mode="max", search_alg=searcher, scheduler=_scheduler(sweep),
                num_samples=sweep.num_samples, max_concurrent_trials=sweep.max_concurrent or None,
                trial_dirname_creator=trial_dirname,
            ),
            run_config=tune.RunConfig(name=folder.name, storage_path=str(folder.parent), verbose=sweep.verbose,
                                      failure_config=tune.FailureConfig(max_failures=0)),
        )  # fmt: skip
    tuner.fit()
    best = write_results(folder, sweep, space, train_values)
    return folder, best


def main(argv: list[str] | None = None) -> Path:
    """Command-line entry point; returns the sweep folder. Errors in the options print one line, status 2."""
    parser = build_parser(SweepConfig, prog=PROG)
    given = vars(parser.parse_args(argv))
    try:
        folder, best = run_sweep(SweepConfig(**given), set(given))
    except (ValueError, TypeError, FileNotFoundError, FileExistsError, ImportError) as err:
        print(f"{PROG}: error: {' '.join(str(err).split())}", file=sys.stderr)
        raise SystemExit(2) from None
    if best:
        print(f"best trial {best['trial_id']} ({best['status']}, {best['timesteps']} steps): gain "
              f"{best['gain']:+.3f} +- {best['gain_ci95']:.3f} with {best['params']}")  # fmt: skip
        print(f"results: {folder}/trials.csv, sweep.png; train it again: python -m caasl_agents.train --config "
              f"{folder}/best.json")  # fmt: skip
    else:
        print(f"no trial reported; see the trials' error.txt under {folder}", file=sys.stderr)
    return folder


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main(sys.argv[1:])
