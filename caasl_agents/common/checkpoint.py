"""Crash-safe training checkpoints that resume exactly.

A checkpoint in a run's ``checkpoints/`` folder is three files and the record that names them:

* the model: ``model_<steps>_steps.zip`` (the run's series, kept: every ``--checkpoint-freq`` steps and
  at the end) or ``resume_<steps>_steps.zip`` (by wall time or on a signal; replaced by the next one);
* ``replay_buffer_<steps>.npz``: the filled rows of the replay buffer (:func:`save_replay_buffer`);
* ``state_<steps>.pkl``: what the model zip lacks to go on exactly (:func:`training_state`): the random
  states (numpy's global generator, which samples the minibatches; torch's CPU and CUDA generators; the
  action space's generator of the warm-up actions; REDQ's critic-subset generator), the state of the
  environments (every SB3 wrapper and the Gymnasium vector env, with their generators and the episodes
  in progress) and the logger's position (pending values, rows written);
* ``latest.json``: which checkpoint to resume from, with its step, episode and gradient-step counters.

Every file is written under a temporary name, flushed to disk and renamed into place, and ``latest.json``
is replaced only once the files it names are complete, so a kill at any moment leaves a whole checkpoint
(the previous or the new one). Files no longer named are removed afterwards.

The training CLI takes checkpoints between two rounds of SB3's loop (a round's transitions stored and its
gradient steps taken), so restoring one (:func:`restore_checkpoint`) and calling ``learn`` again continues
as the uninterrupted run would: the same transitions and, on a CPU with the same thread count, the same
parameters bit for bit (CUDA kernels need not be deterministic, so there they may drift apart). The model
zip itself holds the counters, the current observations and the optimizers.
"""

from __future__ import annotations

import json
import os
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import numpy as np
import torch as th
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.buffers import ReplayBuffer
from stable_baselines3.common.logger import CSVOutputFormat, Logger
from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm
from stable_baselines3.common.vec_env import VecEnv, VecEnvWrapper

from caasl_agents.common.vec_env import VectorEnvAdapter

LATEST = "latest.json"
STATE_FORMAT = 2
"""``format`` of the records and state files written here (records without one are of format 1: a
pickled ``replay_buffer.pkl`` and no state, which resumes with fresh environments)."""
_NOT_STATE = frozenset({"venv", "env_fns", "class_attributes"})
"""Attributes of the environment levels that are structure, not state (or cannot be pickled)."""
_STALE_PATTERNS = ("resume_*_steps.zip", "replay_buffer_*.npz", "state_*.pkl", "replay_buffer.pkl", "*.tmp")


def atomic_write(path: str | os.PathLike, write: Callable[[IO[bytes]], Any]) -> None:
    """Write ``path`` through ``write(file)`` into a temporary file, flush it to disk, then rename it into place."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as file:
        write(file)
        file.flush()
        os.fsync(file.fileno())
    os.replace(tmp, path)


# -- replay buffer ---------------------------------------------------------------------------------
def _rows(buffer: ReplayBuffer) -> int:
    # with optimize_memory_usage the next observation of the last transition sits in row pos
    return buffer.buffer_size if buffer.full else min(buffer.pos + 1, buffer.buffer_size)


def _buffer_arrays(buffer: ReplayBuffer) -> dict[str, np.ndarray]:
    if type(buffer) is not ReplayBuffer:
        raise TypeError(f"only SB3's ReplayBuffer (array observations) is supported, got {type(buffer).__name__}")
    return {k: v for k, v in vars(buffer).items() if isinstance(v, np.ndarray) and len(v) == buffer.buffer_size}


def save_replay_buffer(buffer: ReplayBuffer, file: str | os.PathLike | IO[bytes]) -> None:
    """Save the filled rows of ``buffer`` (``(rows, n_envs, ...)`` per array) and its position as ``.npz``.

    :param buffer: SB3's ``ReplayBuffer`` (``optimize_memory_usage`` or not)
    :param file: destination path or binary file
    """
    rows = _rows(buffer)
    meta = {"format": STATE_FORMAT, "buffer_size": buffer.buffer_size, "n_envs": buffer.n_envs,
            "pos": buffer.pos, "full": buffer.full, "rows": rows}  # fmt: skip
    arrays = {k: v[:rows] for k, v in _buffer_arrays(buffer).items()}
    np.savez(file, __meta__=np.array(json.dumps(meta)), **arrays)  # type: ignore[arg-type]


def load_replay_buffer(buffer: ReplayBuffer, path: str | os.PathLike) -> None:
    """Fill ``buffer`` in place from :func:`save_replay_buffer`'s file; rows beyond those saved are zero.

    :raises ValueError: the file is not such a file or does not fit ``buffer`` (size, copies, shapes, dtypes)
    """
    path = Path(path)
    hint = "a replay_buffer_<steps>.npz written by a checkpoint of a run with the same --buffer-size and --n-envs"
    try:
        data = np.load(path, allow_pickle=False)
        meta = json.loads(str(data["__meta__"]))
    except (OSError, ValueError, KeyError) as err:
        raise ValueError(f"{path} is not a saved replay buffer ({err}); expected {hint}") from None
    if (meta["buffer_size"], meta["n_envs"]) != (buffer.buffer_size, buffer.n_envs):
        rows, copies = meta["buffer_size"], meta["n_envs"]
        raise ValueError(
            f"{path} holds a buffer of {rows * copies} transitions ({rows} rows x {copies} copies), this model's of "
            f"{buffer.buffer_size * buffer.n_envs} ({buffer.buffer_size} x {buffer.n_envs}); expected {hint}"
        )
    targets = _buffer_arrays(buffer)
    if set(targets) != set(data.files) - {"__meta__"}:
        raise ValueError(f"{path} holds arrays {sorted(data.files)}, this buffer {sorted(targets)}; expected {hint}")
    fresh = buffer.pos == 0 and not buffer.full
    for name, target in targets.items():
        saved = data[name]
        if saved.shape[1:] != target.shape[1:] or saved.dtype != target.dtype:
            raise ValueError(
                f"{path}: {name} is {saved.dtype} {saved.shape[1:]}, this buffer's {target.dtype} "
                f"{target.shape[1:]}; expected {hint}"
            )
        target[: len(saved)] = saved
        if not fresh:
            target[len(saved) :] = 0
    buffer.pos, buffer.full = int(meta["pos"]), bool(meta["full"])


# -- environments, random streams, logger ---------------------------------------------------------
def _env_levels(venv: VecEnv) -> list[Any]:
    """The SB3 wrappers from the outside in, the adapter and the Gymnasium vector env it wraps."""
    levels: list[Any] = [venv]
    while isinstance(levels[-1], VecEnvWrapper):
        levels.append(levels[-1].venv)
    if isinstance(levels[-1], VectorEnvAdapter):
        levels.append(levels[-1].venv)
    return levels


def env_state(venv: VecEnv) -> bytes:
    """The pickled state of every level of ``venv`` (its attributes, with generators and episodes in progress).

    :raises TypeError: a level holds something that cannot be pickled
    """
    states = []
    for level in _env_levels(venv):
        state = {k: v for k, v in vars(level).items() if k not in _NOT_STATE}
        try:
            states.append((type(level).__name__, pickle.dumps(state)))
        except Exception as err:
            name = type(level).__name__
            raise TypeError(f"cannot checkpoint the environment: {name} does not pickle ({err})") from err
    return pickle.dumps(states)


def set_env_state(venv: VecEnv, state: bytes) -> None:
    """Restore :func:`env_state` into ``venv``, an environment built the same way.

    :raises ValueError: ``venv`` is wrapped differently from the saved one
    """
    states, levels = pickle.loads(state), _env_levels(venv)
    names = [type(level).__name__ for level in levels]
    if [name for name, _ in states] != names:
        raise ValueError(f"the checkpoint's environment is {[n for n, _ in states]}, this one {names}")
    for level, (_, saved) in zip(levels, states, strict=True):
        vars(level).update(pickle.loads(saved))


def rng_state(model: BaseAlgorithm) -> dict[str, Any]:
    """Every random stream training draws from, besides the environments'."""
    state: dict[str, Any] = {
        "numpy": np.random.get_state(),
        "torch": th.get_rng_state(),
        "action_space": model.action_space.np_random.bit_generator.state,
    }
    if th.cuda.is_available():
        state["cuda"] = th.cuda.get_rng_state_all()
    subsets = getattr(model, "_subset_generator", None)
    if subsets is not None:
        state["critic_subsets"] = subsets.get_state()
    return state


def set_rng_state(model: BaseAlgorithm, state: dict[str, Any]) -> None:
    """Restore :func:`rng_state` (CUDA's streams only where the same number of devices is present)."""
    np.random.set_state(state["numpy"])
    th.set_rng_state(state["torch"])
    model.action_space.np_random.bit_generator.state = state["action_space"]
    if "cuda" in state and th.cuda.is_available() and len(state["cuda"]) == th.cuda.device_count():
        th.cuda.set_rng_state_all(state["cuda"])
    if "critic_subsets" in state and getattr(model, "_subset_generator", None) is not None:
        model._subset_generator.set_state(state["critic_subsets"])  # type: ignore[attr-defined]


def logger_state(logger: Logger) -> dict[str, Any]:
    """The logger's position: its folder, the CSV rows written so far and the values recorded since the last dump."""
    rows = None
    for fmt in logger.output_formats:
        if isinstance(fmt, CSVOutputFormat):
            fmt.file.flush()
            with open(fmt.file.name) as file:
                rows = max(sum(1 for _ in file) - 1, 0)
    return {
        "dir": Path(logger.dir).name if logger.dir else None,
        "csv_rows": rows,
        "values": dict(logger.name_to_value),
        "counts": dict(logger.name_to_count),
        "excluded": dict(logger.name_to_excluded),
    }


def set_logger_state(logger: Logger, state: dict[str, Any]) -> None:
    """Put the values recorded before the checkpoint (and not yet dumped) back into ``logger``."""
    logger.name_to_value.update(state["values"])
    logger.name_to_count.update(state["counts"])
    logger.name_to_excluded.update(state["excluded"])


def truncate_logs(log_root: str | os.PathLike, state: dict[str, Any]) -> None:
    """Drop the CSV rows logged after the checkpoint: in its session beyond ``csv_rows``, all rows of later sessions.

    Sessions are the folders ``session-<k>`` of ``log_root``; TensorBoard's event files cannot be cut and
    keep the rows of a lost stretch.
    """
    if not state.get("dir") or state.get("csv_rows") is None:
        return
    saved = int(state["dir"].rsplit("-", 1)[-1])
    for folder in Path(log_root).glob("session-*"):
        session = int(folder.name.rsplit("-", 1)[-1])
        csv = folder / "progress.csv"
        if session < saved or not csv.is_file():
            continue
        lines = csv.read_text().splitlines(keepends=True)
        keep = lines[: 1 + state["csv_rows"]] if session == saved else lines[:1]
        if len(keep) < len(lines):
            atomic_write(csv, lambda file, keep=keep: file.write("".join(keep).encode()))


def training_state(model: BaseAlgorithm) -> dict[str, Any]:
    """What an exact resume needs besides the model zip and the replay buffer."""
    return {
        "format": STATE_FORMAT,
        "num_timesteps": model.num_timesteps,
        "rng": rng_state(model),
        "env": env_state(model.env) if model.env is not None else None,
        "logger": logger_state(model.logger) if model._logger is not None else None,
    }


# -- checkpoints -------------------------------------------------------------------------------------
def save_checkpoint(
    model: BaseAlgorithm, save_dir: str | os.PathLike, save_replay_buffer_too: bool = True, keep: bool = True
) -> Path:
    """Save ``model``, the filled part of its replay buffer and its :func:`training_state` as the latest checkpoint.

    :param model: the algorithm, between two rounds of its training loop
    :param save_dir: checkpoint folder (created if needed)
    :param save_replay_buffer_too: also save the replay buffer (needed to resume exactly)
    :param keep: name the model ``model_<steps>_steps.zip`` and keep it; else ``resume_<steps>_steps.zip``,
        removed by the next checkpoint
    :return: the model path
    """
    save_dir = Path(save_dir)
    save_dir.mkdir(parents=True, exist_ok=True)
    steps = model.num_timesteps
    record: dict[str, Any] = {
        "format": STATE_FORMAT,
        "num_timesteps": steps,
        "episodes": int(getattr(model, "_episode_num", 0)),
        "gradient_steps": int(getattr(model, "_n_updates", 0)),
        "model": f"model_{steps}_steps.zip" if keep else f"resume_{steps}_steps.zip",
        "replay_buffer": None,
        "state": f"state_{steps}.pkl",
    }
    atomic_write(save_dir / record["model"], model.save)
    buffer = getattr(model, "replay_buffer", None)
    if save_replay_buffer_too and isinstance(model, OffPolicyAlgorithm) and buffer is not None:
        record["replay_buffer"] = f"replay_buffer_{steps}.npz"
        atomic_write(save_dir / record["replay_buffer"], lambda file: save_replay_buffer(buffer, file))
    state = training_state(model)
    atomic_write(save_dir / record["state"], lambda file: pickle.dump(state, file))
    atomic_write(save_dir / LATEST, lambda file: file.write(json.dumps(record, indent=2).encode()))
    named = {record["model"], record["replay_buffer"], record["state"]}
    for pattern in _STALE_PATTERNS:
        for path in save_dir.glob(pattern):
            if path.name not in named:
                path.unlink(missing_ok=True)
    return save_dir / record["model"]


def checkpoint_record(save_dir: str | os.PathLike) -> dict[str, Any]:
    """The ``latest.json`` record of ``save_dir`` (``format`` 1 when written before exact resume).

    :raises FileNotFoundError: no checkpoint in ``save_dir``
    """
    latest = Path(save_dir) / LATEST
    if not latest.is_file():
        raise FileNotFoundError(f"no checkpoint to resume from in {save_dir} (missing {LATEST})")
    return {"format": 1, "state": None, **json.loads(latest.read_text())}


def latest_checkpoint(save_dir: str | os.PathLike) -> tuple[Path, Path | None, int]:
    """The model path, replay-buffer path (or None) and step count of the latest checkpoint.

    :raises FileNotFoundError: no checkpoint in ``save_dir``
    """
    save_dir = Path(save_dir)
    record = checkpoint_record(save_dir)
    buffer = save_dir / record["replay_buffer"] if record.get("replay_buffer") else None
    return save_dir / record["model"], buffer, int(record["num_timesteps"])


def restore_checkpoint(model: BaseAlgorithm, save_dir: str | os.PathLike) -> dict[str, Any] | None:
    """Load the latest checkpoint's replay buffer and state into ``model`` (loaded from its zip, with its env).

    :param model: the checkpoint's model, loaded with ``force_reset=False`` and an env built as the run's
    :param save_dir: checkpoint folder
    :return: the logger position to continue from (:func:`logger_state`), or None for a format-1 checkpoint,
        of which only the replay buffer is loaded (the caller resets the environments)
    :raises ValueError: the files do not belong together or do not fit ``model``
    """
    save_dir = Path(save_dir)
    record = checkpoint_record(save_dir)
    if record.get("replay_buffer") and isinstance(model, OffPolicyAlgorithm):
        path = save_dir / record["replay_buffer"]
        if path.suffix == ".pkl":  # format 1
            model.load_replay_buffer(path)
        else:
            load_replay_buffer(model.replay_buffer, path)  # type: ignore[arg-type]
    if not record.get("state"):
        return None
    with open(save_dir / record["state"], "rb") as file:
        state = pickle.load(file)
    if state["num_timesteps"] != model.num_timesteps or record["num_timesteps"] != model.num_timesteps:
        raise ValueError(
            f"{save_dir}: the state is of step {state['num_timesteps']}, the model of step {model.num_timesteps}"
        )
    if state["env"] is not None and model.env is not None:
        set_env_state(model.env, state["env"])
    set_rng_state(model, state["rng"])
    return state["logger"]
