"""Ship a training run as the pretrained policy of its environment id.

    python -m caasl_agents.pretrained.export runs/CausalLinear-v0__0__20261128-233341
    python -m caasl_agents.pretrained.export RUN --checkpoint 40000 --out /tmp/policies
    python -m caasl_agents.pretrained.export RUN --checkpoint best   # selected on validation seeds

Copies the run's ``model.zip`` (or ``checkpoints/model_<steps>_steps.zip``) to ``<out>/<name>.zip`` and
writes the sidecar ``<name>.json``: the training command that reproduces the shipped model (from the
run's ``config.json``, with ``--total-timesteps`` set to the exported step count), seed, environment
steps, gradient steps, wall time (summed over the run's sessions), hardware, the reward model trained
against, the score ``S(h_T)`` and paired gain over Random on the run's validation episodes
(``eval_seed + i``, :func:`~caasl_agents.evaluation.policy_record`; disjoint from the training seeds and
from the benchmarks' test seeds) and the zip's sha256, which
:func:`~caasl_agents.pretrained.load_pretrained` verifies. Sidecars exported before the evaluation
engine record ``mean_return`` / ``diff_vs_random`` instead (:func:`~caasl_agents.evaluation.gain_of`
reads both).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import shutil
from pathlib import Path
from typing import Any

import pandas as pd
import torch as th

from caasl_agents.common.cli import format_command
from caasl_agents.evaluation import policy_record
from caasl_agents.pretrained import PACKAGE_DIR
from caasl_agents.redq import REDQ
from caasl_agents.train import PRESETS, TrainConfig, load_run_config

RUN_ONLY_FIELDS = frozenset({"run_root", "resume", "progress_bar", "verbose", "checkpoint_minutes"})
"""Config fields that do not change what is trained (left out of the recorded command and config)."""
KEPT_FIELDS = ("env", "seed", "total_timesteps", *(k for k in PRESETS["cpu"] if k != "total_timesteps"))
"""Config fields written into the recorded command even at their defaults (the presets' fields among them,
so that the command trains the same under any ``--preset``)."""


def checkpoints(run_dir: str | os.PathLike) -> list[tuple[int, Path]]:
    """``(environment steps, path)`` of every checkpoint of a run, plus its final model, by steps."""
    run_dir = Path(run_dir)
    found = {int(p.stem.split("_")[1]): p for p in (run_dir / "checkpoints").glob("model_*_steps.zip")}
    final = run_dir / "model.zip"
    if final.is_file():
        found.setdefault(int(REDQ.load(final, device="cpu").num_timesteps), final)
    if not found:
        raise FileNotFoundError(f"{run_dir}: no checkpoints/model_<steps>_steps.zip and no model.zip")
    return sorted(found.items())


def train_fields(cfg: TrainConfig) -> set[str]:
    return {f.name for f in dataclasses.fields(cfg)}


def _validation(model: REDQ, cfg: TrainConfig, episodes: int, deterministic: bool = False) -> dict[str, Any]:
    """:func:`~caasl_agents.evaluation.policy_record` (sampled or deterministic designs) on the run's validation
    episodes."""
    return policy_record(model, cfg.env, episodes, cfg.eval_seed, cfg.env_kwargs, deterministic)


def select_checkpoint(run_dir: str | os.PathLike, episodes: int = 100) -> tuple[int, list[dict[str, Any]]]:
    """The checkpoint with the largest paired gain over Random on the run's validation seeds.

    Validation uses the training CLI's evaluation seeds (``eval_seed + i``), which are disjoint from the
    training seeds and from the benchmarks' test seeds, so a test evaluation of the selected policy stays
    unbiased. Ties go to the later checkpoint.

    :return: the selected step count and one validation record per checkpoint
    """
    cfg = load_run_config(run_dir)
    records = []
    for steps, path in checkpoints(run_dir):
        record = _validation(REDQ.load(path, device="cpu"), cfg, episodes)
        records.append({"num_timesteps": steps, **record})
        print(f"checkpoint {steps}: gain {record['gain']:+.3f} ± {record['gain_ci95']:.3f} over Random")
    best = max(records, key=lambda r: (r["gain"], r["num_timesteps"]))
    return int(best["num_timesteps"]), records


def _model_path(run_dir: Path, checkpoint: int | None) -> Path:
    if checkpoint is None:
        path = run_dir / "model.zip"
        hint = "the run has not finished; pass --checkpoint <steps>"
    else:
        path = run_dir / "checkpoints" / f"model_{checkpoint}_steps.zip"
        found = sorted(int(p.stem.split("_")[1]) for p in (run_dir / "checkpoints").glob("model_*_steps.zip"))
        hint = f"checkpoints in this run: {found or 'none'}"
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist ({hint})")
    return path


def training_wall_time_s(run_dir: Path, num_timesteps: int) -> float:
    """Training wall time summed over the run's sessions (SB3's ``time/time_elapsed``), up to the export."""
    total = 0.0
    for csv in sorted((run_dir / "logs").glob("session-*/progress.csv")):
        log = pd.read_csv(csv)
        if {"time/time_elapsed", "time/total_timesteps"} <= set(log.columns):
            log = log[log["time/total_timesteps"] <= num_timesteps]
            total += float(log["time/time_elapsed"].max()) if len(log) else 0.0
    return total


def _reward_model_name(env_id: str, env_kwargs: dict[str, Any]) -> str:
    """The reward model the run's environments used (the id's default unless ``env_kwargs`` names one)."""
    import gymnasium as gym

    env = gym.make(env_id, **env_kwargs)
    try:
        model = getattr(env.unwrapped, "config", None)
        model = getattr(model, "reward_model", None)
        return str(model) if model is not None else "n/a (not a caasl_gym design environment)"
    finally:
        env.close()


def hardware() -> str:
    """A one-line description of this machine and torch build."""
    gpu = f", GPU: {th.cuda.get_device_name(0)}" if th.cuda.is_available() else ""
    return f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPU cores{gpu}, torch {th.__version__}"


def export(
    run_dir: str | os.PathLike,
    checkpoint: int | str | None = None,
    out: str | os.PathLike = PACKAGE_DIR,
    name: str | None = None,
    eval_episodes: int = 100,
    notes: str = "",
    force: bool = False,
) -> dict[str, Any]:
    """Copy a run's policy to ``out`` with its sidecar; returns the sidecar.

    :param run_dir: a folder written by ``python -m caasl_agents.train``
    :param checkpoint: environment steps of the checkpoint to ship (default: the final ``model.zip``), or
        ``"best"``: the checkpoint with the best validation gain over Random (:func:`select_checkpoint`)
    :param out: destination folder (default: this package's data folder)
    :param name: file stem (default: the run's env id)
    :param eval_episodes: held-out episodes of the recorded evaluation against Random (0: none)
    :param notes: free text stored in the sidecar (e.g. the training hardware when exported elsewhere)
    :param force: allow replacing a shipped policy in the package data folder
    :raises FileExistsError: ``out`` is the package data folder, the policy ``name`` ships already and not ``force``
    """
    run_dir = Path(run_dir)
    cfg = load_run_config(run_dir)
    name = name or cfg.env.split(":")[-1]
    if "/" in name or not name:
        raise ValueError(f"invalid policy name {name!r}; pass name= (--name) without '/'")
    shipped = Path(out).resolve() == Path(PACKAGE_DIR).resolve() and (Path(PACKAGE_DIR) / f"{name}.zip").exists()
    if shipped and not force:
        raise FileExistsError(
            f"{name}.zip is a shipped policy in {PACKAGE_DIR}; pass --out DIR to export elsewhere, or --force "
            "(force=True) to replace it"
        )
    selection = None
    if checkpoint == "best":
        checkpoint, selection = select_checkpoint(run_dir, eval_episodes or 100)
    elif checkpoint is not None and not isinstance(checkpoint, int):
        raise ValueError(f"checkpoint must be a step count, 'best' or None, got {checkpoint!r}")
    source = _model_path(run_dir, checkpoint)
    model = REDQ.load(source, device="cpu")
    record: dict[str, Any] = {
        "format": 1,
        "env_id": name,
        "trained_on": cfg.env,
        "env_kwargs": cfg.env_kwargs,
        "reward_model": _reward_model_name(cfg.env, cfg.env_kwargs),
        "command": None,  # below
        "seed": cfg.seed,
        "num_timesteps": int(model.num_timesteps),
        "gradient_steps": int(model._n_updates),
        "source": f"{run_dir.name}/{source.relative_to(run_dir)}",
        "wall_time_s": round(training_wall_time_s(run_dir, int(model.num_timesteps)), 1),
        "hardware": hardware(),
        "config": {k: v for k, v in dataclasses.asdict(cfg).items() if k not in RUN_ONLY_FIELDS},
    }
    imitation = run_dir / "imitation.json"
    if imitation.is_file():  # a behaviour-cloned policy (python -m caasl_agents.imitate): its own command
        recipe = json.loads(imitation.read_text())
        record["command"] = recipe["command"]
        record["imitation"] = {k: v for k, v in recipe.items() if k not in train_fields(cfg) and k != "command"}
        selection_csv = run_dir / "selection.csv"
        if selection_csv.is_file():
            record["wall_time_s"] = round(float(pd.read_csv(selection_csv)["wall_s"].max()), 1)
    else:  # learning rates are constant, so a run stopped at the exported step count reproduces a checkpoint
        steps = dataclasses.replace(cfg, total_timesteps=int(model.num_timesteps))
        record["command"] = format_command(steps, "python -m caasl_agents.train", RUN_ONLY_FIELDS, KEPT_FIELDS)
    if notes:
        record["notes"] = notes
    if selection is not None:
        record["selection"] = {
            "rule": "largest paired gain over Random on the validation seeds (eval_seed + i)",
            "checkpoints": selection,
        }
        record["eval"] = next(
            {k: v for k, v in r.items() if k != "num_timesteps"} for r in selection if r["num_timesteps"] == checkpoint
        )
    elif eval_episodes:  # both action modes, on the same episodes
        record["eval"] = _validation(model, cfg, eval_episodes)
        record["eval_deterministic"] = _validation(model, cfg, eval_episodes, deterministic=True)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    target = out / f"{name}.zip"
    shutil.copyfile(source, target)
    from caasl_gym.reward.loading import sha256_file

    record["size_bytes"] = target.stat().st_size
    record["sha256"] = sha256_file(target)
    (out / f"{name}.json").write_text(json.dumps(record, indent=2, default=float) + "\n")
    return record


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(
        prog="python -m caasl_agents.pretrained.export", description=__doc__.split("\n")[0]
    )
    parser.add_argument("run_dir", help="run folder written by python -m caasl_agents.train")
    parser.add_argument(
        "--checkpoint",
        type=lambda v: v if v == "best" else int(v),
        default=None,
        help="ship checkpoints/model_<steps>_steps.zip, or 'best' (largest validation gain over Random)",
    )
    parser.add_argument("--out", default=str(PACKAGE_DIR), help="destination folder (default: the package data)")
    parser.add_argument("--name", default=None, help="file stem (default: the run's env id)")
    parser.add_argument("--eval-episodes", type=int, default=100, help="held-out episodes vs Random (0: skip)")
    parser.add_argument("--notes", default="", help="free text stored in the sidecar")
    parser.add_argument("--force", action="store_true", help="replace a shipped policy in the package data")
    args = parser.parse_args(argv)
    try:
        record = export(args.run_dir, args.checkpoint, args.out, args.name, args.eval_episodes, args.notes, args.force)
    except (FileExistsError, FileNotFoundError, ValueError) as err:
        parser.exit(2, f"export: {err}\n")
    print(json.dumps({k: v for k, v in record.items() if k != "config"}, indent=2, default=float))
    return record


if __name__ == "__main__":
    main()
