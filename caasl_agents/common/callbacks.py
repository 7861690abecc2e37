"""Training callbacks: a plain-tqdm progress bar and step-based checkpoints with the replay buffer."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm
from tqdm.auto import tqdm

LATEST = "latest.json"


class ProgressBarCallback(BaseCallback):
    """A tqdm bar over environment steps (SB3's own needs ``rich``), with the recent mean return.

    :param update_every: refresh the return shown every this many calls
    """

    def __init__(self, update_every: int = 50):
        super().__init__()
        self.update_every = update_every
        self.pbar: tqdm | None = None

    def _on_training_start(self) -> None:
        total = int(self.locals["total_timesteps"])
        self.pbar = tqdm(total=total, initial=self.model.num_timesteps, unit="step", dynamic_ncols=True)

    def _on_step(self) -> bool:
        assert self.pbar is not None
        self.pbar.update(self.model.num_timesteps - self.pbar.n)
        buffer = self.model.ep_info_buffer
        if self.n_calls % self.update_every == 0 and buffer:
            self.pbar.set_postfix(ep_return=f"{np.mean([ep['r'] for ep in buffer]):.3f}", refresh=False)
        return True

    def _on_training_end(self) -> None:
        if self.pbar is not None:
            self.pbar.close()
            self.pbar = None


class CheckpointCallback(BaseCallback):
    """Save the model every ``save_freq`` environment steps, with the replay buffer.

    Writes ``model_<steps>_steps.zip`` (all kept), ``replay_buffer.pkl`` (only the latest, since it
    is large) and ``latest.json`` (which checkpoint to resume from) into ``save_dir``.

    :param save_freq: environment steps (all copies) between checkpoints
    :param save_dir: checkpoint folder
    :param save_replay_buffer: also save the replay buffer (needed to resume exactly)
    """

    def __init__(self, save_freq: int, save_dir: str | os.PathLike, save_replay_buffer: bool = True):
        super().__init__()
        if save_freq < 1:
            raise ValueError(f"save_freq must be >= 1, got {save_freq}")
        self.save_freq = save_freq
        self.save_dir = Path(save_dir)
        self.save_replay_buffer = save_replay_buffer
        self._last_saved = -1

    def _on_training_start(self) -> None:
        self._last_saved = self.model.num_timesteps

    def _on_step(self) -> bool:
        if self.model.num_timesteps // self.save_freq > self._last_saved // self.save_freq:
            self.save()
            self._last_saved = self.model.num_timesteps
        return True

    def save(self) -> Path:
        """Write a checkpoint now and return the model path."""
        return save_checkpoint(self.model, self.save_dir, self.save_replay_buffer)


def save_checkpoint(model: BaseAlgorithm, save_dir: str | os.PathLike, save_replay_buffer: bool = True) -> Path:
    """Save ``model`` (and its replay buffer) as the latest checkpoint in ``save_dir``."""
    save_dir = Path(save_dir)
    save_dir.mkdir(parents=True, exist_ok=True)
    steps = model.num_timesteps
    path = save_dir / f"model_{steps}_steps.zip"
    model.save(path)
    record = {"model": path.name, "num_timesteps": steps, "replay_buffer": None}
    if save_replay_buffer and isinstance(model, OffPolicyAlgorithm) and model.replay_buffer is not None:
        tmp = save_dir / "replay_buffer.tmp.pkl"
        model.save_replay_buffer(tmp)
        os.replace(tmp, save_dir / "replay_buffer.pkl")
        record["replay_buffer"] = "replay_buffer.pkl"
    (save_dir / LATEST).write_text(json.dumps(record, indent=2))
    return path


def latest_checkpoint(save_dir: str | os.PathLike) -> tuple[Path, Path | None, int]:
    """The model path, replay-buffer path (or None) and step count of the latest checkpoint.

    :raises FileNotFoundError: no checkpoint in ``save_dir``
    """
    save_dir = Path(save_dir)
    latest = save_dir / LATEST
    if not latest.is_file():
        raise FileNotFoundError(f"no checkpoint to resume from in {save_dir} (missing {LATEST})")
    record = json.loads(latest.read_text())
    buffer = save_dir / record["replay_buffer"] if record.get("replay_buffer") else None
    return save_dir / record["model"], buffer, int(record["num_timesteps"])
