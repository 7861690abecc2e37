"""Train a CAASL design policy with REDQ: ``python -m caasl_agents.train --env CausalLinear-v0``.

Every option is a field of :class:`~caasl_agents.train_config.TrainConfig` (``--help`` lists them all with their
defaults and the cpu preset's values).

Presets (``--preset``, printed at the start): ``cpu`` is the recipe that trained the shipped policies on a
2-core CPU (one shared critic encoder feeding 5 critics, embedding 16, one attention pair, batch 64, one
torch thread, 32,000 steps; :data:`~caasl_agents.train_config.PRESETS`); ``gpu`` is the paper-sized
configuration the field defaults show (10 critics with their own encoders, embedding 32, batch 256, 200,000
steps); ``auto`` (the default) takes ``gpu`` when training runs on CUDA, else ``cpu``. Options given on the
command line override the preset, and ``config.json`` records the resolved values (``preset`` is then
``cpu`` or ``gpu``). The progress bar shows gradient steps/s and an ETA that counts them (the first
gradient step is timed on a copy of the policy before training starts); a run estimated to need more than a
day prints a warning naming the options that cut it.

A run writes ``runs/<env>__<seed>__<time>/`` once its configuration, environments and model are built (a
start that fails leaves nothing):

* ``config.json``: the full resolved configuration (``--resume`` and ``export`` read it back);
* ``model.zip``: the final model (``REDQ.load``);
* ``checkpoints/``: ``model_<steps>_steps.zip`` every ``--checkpoint-freq`` steps (kept), and the latest
  checkpoint, also taken every ``--checkpoint-minutes`` and on SIGINT / SIGTERM: the filled part of the
  replay buffer, the random and environment state and ``latest.json``
  (:mod:`caasl_agents.common.checkpoint`; every file is written atomically);
* ``logs/session-<k>/``: ``progress.csv`` and TensorBoard events (one session per start/resume), with the
  final evaluation as ``eval/*`` at the last step;
* ``eval.csv``: the final paired evaluation against Random on held-out validation episodes (one row:
  scores ``S(h_T)`` and the gain over Random, :func:`~caasl_agents.evaluation.policy_record`), also printed.

Resume (``--resume RUN``) continues exactly from the latest checkpoint, as if the run had not stopped: the
same transitions, counters and random streams (and on a CPU with the same thread count the same parameters,
bit for bit; CUDA kernels need not be deterministic); only what came after that checkpoint is lost, so a
kill -9 at any moment costs at most ``--checkpoint-minutes`` (plus one round) of work. The CSV rows logged
after the checkpoint are dropped. SIGINT (Ctrl-C) or SIGTERM writes a checkpoint at the end of the current
round and exits with status 128 + the signal number (a second signal stops at once, without one).

``--config FILE`` reads options from a JSON (or, with PyYAML, YAML) object of :class:`TrainConfig` fields, such
as the ``best.json`` of a sweep (``python -m caasl_agents.tune``); options on the command line override the
file's, and the file's count as given (they override the preset). An unknown key is an error naming the valid
ones.

Seeds (:mod:`caasl_gym.evaluation.seeds`): every training reset seed must lie in the train family and
the evaluation episodes in the validation family, so neither overlaps the benchmarks' test episodes.

Examples::

    python -m caasl_agents.train --env CausalLinear-v0                      # preset auto
    python -m caasl_agents.train --env CausalLinear-v0 --preset gpu --device cuda --total-timesteps 400000
    python -m caasl_agents.train --resume runs/CausalLinear-v0__0__20261128-120000 --total-timesteps 64000
    python -m caasl_agents.train --config runs/tune/CausalLinear-v0__20261201-120000/best.json --seed 1
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import gymnasium as gym
import numpy as np
import pandas as pd
import torch as th
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.logger import configure

from caasl_agents.common.callbacks import CheckpointCallback, GracefulStop, ProgressBarCallback
from caasl_agents.common.checkpoint import (
    LATEST,
    checkpoint_record,
    restore_checkpoint,
    save_checkpoint,
    set_logger_state,
    truncate_logs,
)
from caasl_agents.common.cli import build_parser
from caasl_agents.common.vec_env import make_vec_env
from caasl_agents.evaluation import policy_record
from caasl_agents.pretrained import load_policy
from caasl_agents.redq import REDQ
from caasl_agents.train_config import (
    PRESETS,
    PROG,
    RESUMABLE_OVERRIDES,
    TrainConfig,
    _describe,
    _field_defaults,
    _uses_cuda,
    load_config_file,
    load_run_config,
    resolve_preset,
)
from caasl_gym.evaluation.seeds import TRAIN, VALIDATION, check_in_family

__all__ = [
    "PRESETS",
    "RESUMABLE_OVERRIDES",
    "TrainConfig",
    "TrainingInterrupted",
    "load_run_config",
    "main",
    "resolve_preset",
    "train",
]


def _sanitize(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in name)


def _new_run_dir(cfg: TrainConfig) -> Path:
    base = Path(cfg.run_root) / f"{_sanitize(cfg.env)}__{cfg.seed}__{time.strftime('%Y%m%d-%H%M%S')}"
    run_dir, k = base, 1
    while run_dir.exists():
        run_dir, k = base.with_name(f"{base.name}-{k}"), k + 1
    run_dir.mkdir(parents=True)
    return run_dir


def _find_resume_dir(cfg: TrainConfig) -> Path:
    if cfg.resume != "latest":
        run_dir = Path(cfg.resume)
        if not (run_dir / "config.json").is_file():
            raise FileNotFoundError(f"--resume {cfg.resume}: not a run folder (no config.json)")
        return run_dir
    pattern = f"{_sanitize(cfg.env)}__{cfg.seed}__*"
    candidates = sorted(Path(cfg.run_root).glob(pattern), key=lambda p: p.stat().st_mtime)
    if not candidates:
        raise FileNotFoundError(f"--resume latest: no run matching {pattern} in {cfg.run_root}")
    return candidates[-1]


def _resumed_config(run_dir: Path, cli: TrainConfig, given: set[str]) -> TrainConfig:
    saved = dataclasses.asdict(load_run_config(run_dir))
    changed = sorted(n for n in given - RESUMABLE_OVERRIDES if getattr(cli, n) != saved.get(n))
    if changed:
        raise ValueError(f"cannot change {', '.join(changed)} when resuming (allowed: {sorted(RESUMABLE_OVERRIDES)})")
    saved.update({n: getattr(cli, n) for n in given & RESUMABLE_OVERRIDES})
    return TrainConfig(**saved)


def _check_seeds(cfg: TrainConfig, session: int) -> int:
    """The reset seed of this session's training envs; raise unless the training seeds so far are train
    seeds and the evaluation episodes validation seeds (:mod:`caasl_gym.evaluation.seeds`)."""
    train_seed = cfg.seed + session * cfg.n_envs
    check_in_family(range(cfg.seed, train_seed + cfg.n_envs), TRAIN, "training seeds (--seed)")
    eval_range = range(cfg.eval_seed, cfg.eval_seed + cfg.eval_episodes)
    check_in_family(eval_range, VALIDATION, "evaluation seeds (--eval-seed)")
    return train_seed


def _speed_advice(cfg: TrainConfig) -> str:
    """The options that would cut this configuration's run time."""
    cuts = ["--preset cpu"] if cfg.preset != "cpu" else []
    if cfg.critic_encoder == "separate":
        cuts.append("--critic-encoder shared")
    cuts += [f"a smaller --total-timesteps (now {cfg.total_timesteps})", f"--gradient-steps (now {cfg.gradient_steps})",
             f"--batch-size (now {cfg.batch_size})", f"--n-critics (now {cfg.n_critics})",
             f"--embed-dim / --n-layers (now {cfg.embed_dim} / {cfg.n_layers})"]  # fmt: skip
    if not _uses_cuda(cfg.device) and th.cuda.is_available():
        cuts.append("--device cuda")
    return "to cut it: " + ", ".join(cuts)


def init_actor(model: REDQ, policy: str) -> None:
    """Start ``model``'s actor from the actor of ``policy``: a REDQ ``.zip`` (e.g. a behaviour clone) or
    ``pretrained:<env id>`` (a shipped policy). The critics keep their fresh initialisation
    (``--actor-warmup`` trains them alone first).

    :raises FileNotFoundError: no such file
    :raises ValueError: its actor does not fit ``model``'s architecture (the message names the first mismatch)
    """
    try:
        source = load_policy(policy)
    except FileNotFoundError as err:
        raise FileNotFoundError(f"--init-policy {err}") from None
    try:
        model.actor.load_state_dict(source.actor.state_dict())
    except RuntimeError as err:
        first = next((line.strip() for line in str(err).splitlines()[1:] if line.strip()), str(err))
        raise ValueError(
            f"--init-policy {policy}: its actor does not fit this configuration ({first}); pass the architecture "
            "options it was trained with (its config.json, or the 'command' of its sidecar)"
        ) from None


class TrainingInterrupted(Exception):
    """Training stopped on a signal after a checkpoint (:attr:`run_dir`, :attr:`signum`, :attr:`num_timesteps`)."""

    def __init__(self, run_dir: Path, signum: int, num_timesteps: int):
        self.run_dir, self.signum, self.num_timesteps = run_dir, signum, num_timesteps
        name = signal.Signals(signum).name
        super().__init__(
            f"{name}: stopped at {num_timesteps} steps with a checkpoint; continue with {PROG} --resume {run_dir}"
        )


@dataclass
class _Session:
    """A started run: everything built, the run folder written."""

    cfg: TrainConfig
    run_dir: Path
    model: REDQ
    new: bool


def _start(cfg: TrainConfig, given: set[str] | None) -> _Session:
    """Build the configuration, environments and model; only then create (or reopen) the run folder."""
    import caasl_gym  # noqa: F401  (registers the environment ids)

    if cfg.resume:
        run_dir = _find_resume_dir(cfg)
        cfg = _resumed_config(run_dir, cfg, set() if given is None else given)
        label = f"preset {cfg.preset} (from {run_dir / 'config.json'})"
        if cfg.preset == "auto":  # a run from before presets: its config.json holds every value
            label = f"configuration from {run_dir / 'config.json'}"
        record = checkpoint_record(run_dir / "checkpoints")
    else:
        why = "chosen" if cfg.preset != "auto" else f"auto: {'a' if _uses_cuda(cfg.device) else 'no'} CUDA device"
        explicit = _field_defaults(TrainConfig) if given is None else None
        cfg = resolve_preset(cfg, given)
        overridden = sorted(
            k for k in PRESETS[cfg.preset] if (k in given if given is not None else getattr(cfg, k) != explicit[k])
        )
        applied = {k: v for k, v in PRESETS[cfg.preset].items() if k not in overridden}
        label = f"preset {cfg.preset} ({why})" + (f": {_describe(applied)}" if applied else "")
        label += f" (given instead: {_describe({k: getattr(cfg, k) for k in overridden})})" if overridden else ""
        run_dir, record = Path(), None
    exact = record is not None and record.get("state") is not None
    ckpt_dir, log_root = run_dir / "checkpoints", run_dir / "logs"
    session = len(list(log_root.glob("session-*"))) if cfg.resume and log_root.exists() else 0
    train_seed = _check_seeds(cfg, 0 if exact else session)  # an exact resume draws on, it does not reseed
    if cfg.torch_threads:
        th.set_num_threads(cfg.torch_threads)
    print(label, flush=True)

    venv = make_vec_env(cfg.env, cfg.n_envs, seed=train_seed, env_kwargs=cfg.env_kwargs)
    try:
        if cfg.resume:
            assert record is not None
            model = REDQ.load(ckpt_dir / record["model"], env=venv, device=cfg.device, force_reset=not exact)
            log_state = restore_checkpoint(model, ckpt_dir)
            if not exact:  # a checkpoint from before exact resume: fresh environments and noise
                print(f"{ckpt_dir / LATEST} predates exact resume: resuming with fresh episodes (seed {train_seed})")
                model.set_random_seed(train_seed)
                buffer = model.replay_buffer
                if buffer is not None and model.optimize_memory_usage and (buffer.full or buffer.pos > 0):
                    # the last transition's next observation was never stored: end its episode there (SB3 #46)
                    buffer.dones[(buffer.pos - 1) % buffer.buffer_size] = True
        else:
            model = REDQ("TransformerPolicy", venv, **cfg.model_kwargs())
            if cfg.init_policy:
                init_actor(model, cfg.init_policy)
            model._last_obs = model.env.reset()  # as the first learn() would: a bad environment fails here
            model._last_episode_starts = np.ones(cfg.n_envs, dtype=bool)
            log_state = None
            run_dir = _new_run_dir(cfg)
            ckpt_dir, log_root = run_dir / "checkpoints", run_dir / "logs"
            (run_dir / "config.json").write_text(json.dumps(dataclasses.asdict(cfg), indent=2))
    except BaseException:
        venv.close()
        raise
    formats = ["csv", "tensorboard"] + (["stdout"] if cfg.verbose else [])
    if log_state is not None:
        truncate_logs(log_root, log_state)
    model.set_logger(configure(str(log_root / f"session-{session}"), formats))
    if log_state is not None:
        set_logger_state(model.logger, log_state)
    return _Session(cfg, run_dir, model, new=not cfg.resume)


def _learn(run: _Session, callbacks: Sequence[BaseCallback] = ()) -> Path:
    """Train to ``total_timesteps`` with checkpoints, then save and evaluate; see :func:`train`."""
    cfg, run_dir, model = run.cfg, run.run_dir, run.model
    ckpt_dir = run_dir / "checkpoints"
    remaining = cfg.total_timesteps - model.num_timesteps
    done = model.num_timesteps
    print(f"run folder: {run_dir} (device {model.device}, {done} steps done, {max(remaining, 0)} to go)", flush=True)
    stop = GracefulStop()
    if remaining > 0:
        progress = ProgressBarCallback(bar=cfg.progress_bar, advice=_speed_advice(cfg))
        checkpoints = CheckpointCallback(cfg.checkpoint_freq, ckpt_dir, cfg.checkpoint_minutes, stop=stop)
        try:
            with stop:
                model.learn(remaining, callback=[progress, checkpoints, *callbacks],
                            log_interval=cfg.log_interval or cfg.n_envs, reset_num_timesteps=False)  # fmt: skip
        except BaseException:
            model.logger.close()
            model.env.close()  # type: ignore[union-attr]
            if run.new and not (ckpt_dir / LATEST).is_file():  # nothing to resume: leave no run folder
                shutil.rmtree(run_dir, ignore_errors=True)
            raise
        if checkpoints.stopped:  # the checkpoint is the state to resume; the model in memory is a step past it
            model.logger.close()
            model.env.close()  # type: ignore[union-attr]
            assert stop.signum is not None
            raise TrainingInterrupted(run_dir, stop.signum, checkpoints._last_saved)
        save_checkpoint(model, ckpt_dir)
    model.save(run_dir / "model.zip")
    model.env.close()  # type: ignore[union-attr]
    if stop.requested:  # the signal came in the last round: training is complete, the evaluation skipped
        model.logger.close()
        raise TrainingInterrupted(run_dir, stop.signum, model.num_timesteps)  # type: ignore[arg-type]

    if cfg.eval_episodes:
        args = (cfg.eval_episodes, cfg.eval_seed, cfg.env_kwargs, cfg.eval_deterministic)
        record = policy_record(model, cfg.env, *args)
        table = pd.DataFrame([record])
        table.to_csv(run_dir / "eval.csv", index=False)
        for key, value in record.items():  # TensorBoard and progress.csv, at the last step
            if isinstance(value, int | float) and not isinstance(value, bool):
                model.logger.record(f"eval/{key}", value)
        model.logger.dump(step=model.num_timesteps)
        print(f"\nHeld-out evaluation on {cfg.env} (validation episodes {cfg.eval_seed}+i, score S(h_T), gain):")
        print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    model.logger.close()  # flush and close the CSV / TensorBoard files of this session
    return run_dir


def train(cfg: TrainConfig, given: set[str] | None = None, callbacks: Sequence[BaseCallback] = ()) -> Path:
    """Train (or resume) as configured and return the run folder.

    :param cfg: the configuration; a new run applies its preset (:func:`resolve_preset`), a resumed one reads
        the run's ``config.json``
    :param given: the fields set explicitly (they override the preset; with ``--resume`` only
        :data:`RESUMABLE_OVERRIDES` may differ from the run's); None: those that differ from the defaults
    :param callbacks: SB3 callbacks run after the checkpoint callback (so a step checkpoint is written before
        they see that round), e.g. the validation reports of a sweep's trial (:mod:`caasl_agents.tuning.trial`)
    :raises TrainingInterrupted: SIGINT or SIGTERM stopped training after a checkpoint
    """
    return _learn(_start(cfg, given), callbacks)


SETUP_ERRORS = (ValueError, TypeError, FileNotFoundError, FileExistsError, ImportError, gym.error.Error)
"""Errors of a start that fails on its input; the CLI prints them as one line."""


def _one_line(err: BaseException) -> str:
    return " ".join(str(err).split()) or type(err).__name__


def _parse(argv: list[str] | None) -> tuple[TrainConfig, set[str]]:
    parser = build_parser(TrainConfig, prog=PROG)
    for action in parser._actions:  # show what the cpu preset changes next to each default
        if action.dest in PRESETS["cpu"] and action.help:
            action.help = action.help[:-1] + f"; cpu preset: {PRESETS['cpu'][action.dest]!r})"
    parser.add_argument(
        "--config",
        metavar="FILE",
        help="read options from a JSON (or YAML, with PyYAML) object "
        "of these fields, e.g. a sweep's best.json; options given here override the file's",
    )
    given = vars(parser.parse_args(argv))
    values = load_config_file(given.pop("config")) if "config" in given else {}
    values.update(given)
    return TrainConfig(**values), set(values)


def main(argv: list[str] | None = None) -> Path:
    """Command-line entry point; returns the run folder.

    Errors in the options, the environment or a run folder print one line and exit with status 2; a stop
    on a signal (after its checkpoint) exits with status 128 + the signal number.
    """
    try:
        run = _start(*_parse(argv))
    except SETUP_ERRORS as err:
        print(f"{PROG}: error: {_one_line(err)}", file=sys.stderr)
        raise SystemExit(2) from None
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted before training started", file=sys.stderr)
        raise SystemExit(128 + signal.SIGINT) from None
    try:
        return _learn(run)
    except TrainingInterrupted as stop:
        print(f"{PROG}: {stop}", file=sys.stderr)
        raise SystemExit(128 + stop.signum) from None
    except KeyboardInterrupt:
        print(f"{PROG}: stopped at once; {PROG} --resume {run.run_dir} continues from the last checkpoint",
              file=sys.stderr)  # fmt: skip
        raise SystemExit(128 + signal.SIGINT) from None


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main(sys.argv[1:])
