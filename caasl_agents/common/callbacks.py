"""Training callbacks: a progress bar with an honest ETA, checkpoints by steps and by wall time, and a graceful stop.

:class:`CheckpointCallback` saves between two rounds of SB3's loop (in ``on_rollout_start``: the previous
round's transitions are stored and its gradient steps taken), which is where a resumed ``learn`` starts
again; see :mod:`caasl_agents.common.checkpoint`.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from pathlib import Path
from types import FrameType

import numpy as np
from stable_baselines3.common.callbacks import BaseCallback
from tqdm.auto import tqdm

from caasl_agents.common.checkpoint import LATEST, latest_checkpoint, save_checkpoint
from caasl_agents.common.timing import format_duration, planned_gradient_steps, time_gradient_step

__all__ = [
    "LATEST",
    "CheckpointCallback",
    "GracefulStop",
    "ProgressBarCallback",
    "latest_checkpoint",
    "save_checkpoint",
]


class GracefulStop:
    """While active (``with GracefulStop() as stop:``), SIGINT and SIGTERM request a stop instead of ending the process.

    :class:`CheckpointCallback` writes a checkpoint at the next round boundary and stops training; a second
    signal raises ``KeyboardInterrupt`` at once (no checkpoint). Outside the main thread, where Python cannot
    install handlers, it does nothing.

    :param signals: the signals to catch
    """

    def __init__(self, signals: tuple[int, ...] = (signal.SIGINT, signal.SIGTERM)):
        self.signals = signals
        self.signum: int | None = None
        self._previous: dict[int, object] = {}

    @property
    def requested(self) -> bool:
        """Whether a stop was requested."""
        return self.signum is not None

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.signum is not None:
            raise KeyboardInterrupt
        self.signum = signum
        print(
            f"\n{signal.Signals(signum).name}: stopping after a checkpoint at the end of this round "
            "(send it again to stop at once, without one)",
            file=sys.stderr,
            flush=True,
        )

    def __enter__(self) -> GracefulStop:
        if threading.current_thread() is threading.main_thread():
            self._previous = {s: signal.signal(s, self._handle) for s in self.signals}
        return self

    def __exit__(self, *exc: object) -> None:
        for s, handler in self._previous.items():
            signal.signal(s, handler)  # type: ignore[arg-type]
        self._previous = {}


class ProgressBarCallback(BaseCallback):
    """Progress of a run: a tqdm bar over environment steps with gradient steps/s and an ETA that counts both.

    Collection and training are timed apart (a round's collection runs from ``on_rollout_start`` to
    ``on_rollout_end``, its gradient steps from there to the next round). Until the first gradient step is
    timed, one gradient step on a copy of the policy (:func:`~caasl_agents.common.timing.time_gradient_step`)
    stands in, so the ETA counts the gradient steps from the start. Once the estimate rests on
    ``warn_rounds`` rounds (and again once it rests on as many training rounds), a run that would take longer
    than ``warn_after_s`` prints one warning ending with ``advice``.

    :param bar: show the bar (the estimate and the warning work without it)
    :param warn_after_s: remaining run time above which to warn
    :param advice: what cuts the run time (the options to change), appended to the warning
    :param warn_rounds: rounds to time before judging the run time
    :param update_every: refresh the mean return shown every this many rounds
    """

    def __init__(
        self,
        bar: bool = True,
        warn_after_s: float = 86_400.0,
        advice: str = "",
        warn_rounds: int = 5,
        update_every: int = 50,
    ):
        super().__init__()
        self.bar, self.warn_after_s, self.advice = bar, warn_after_s, advice
        self.warn_rounds, self.update_every = warn_rounds, update_every
        self.pbar: tqdm | None = None
        self.warned = False
        self._checks = 0
        self.collect_s, self.collect_steps, self.train_s, self.train_steps, self.train_rounds = 0.0, 0, 0.0, 0, 0
        self.probe_s: float | None = None
        self._rounds = 0
        self._round_start = self._round_end = None  # type: float | None
        self._steps_at_start = self._updates_at_end = 0

    # -- estimate ----------------------------------------------------------------------------------
    @property
    def seconds_per_gradient_step(self) -> float | None:
        """Measured over this session's training rounds, else the probe's."""
        return self.train_s / self.train_steps if self.train_steps else self.probe_s

    def remaining_s(self) -> float:
        """Estimated seconds to the end of the run (``nan`` until a round and the gradient steps are timed)."""
        per_grad = self.seconds_per_gradient_step
        if not self.collect_steps or (per_grad is None and self._remaining_gradient_steps()):
            return float("nan")
        env_steps = max(self.total - self.model.num_timesteps, 0)
        return env_steps * self.collect_s / self.collect_steps + self._remaining_gradient_steps() * (per_grad or 0.0)

    def _remaining_gradient_steps(self) -> int:
        return max(self.planned_gradient_steps - self.model._n_updates, 0)

    # -- hooks -------------------------------------------------------------------------------------
    def _on_training_start(self) -> None:
        self.total = int(self.locals["total_timesteps"])
        self.planned_gradient_steps = planned_gradient_steps(self.model, self.total)
        if self.bar:
            self.pbar = tqdm(
                total=self.total,
                initial=self.model.num_timesteps,
                unit="step",
                dynamic_ncols=True,
                bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} env steps [{elapsed}{postfix}]",
            )
        if self._remaining_gradient_steps():
            self._show("timing one gradient step")
            self.probe_s = time_gradient_step(self.model)

    def _count_training(self, now: float) -> None:
        """Book the time since the last collection ended as training, if gradient steps were taken."""
        if self._round_end is not None:
            done = self.model._n_updates - self._updates_at_end
            if done:
                self.train_s += now - self._round_end
                self.train_steps += done
                self.train_rounds += 1
        self._round_end = None

    def _on_rollout_start(self) -> None:
        now = time.perf_counter()
        self._count_training(now)
        self._round_start, self._steps_at_start = now, self.model.num_timesteps

    def _on_rollout_end(self) -> None:
        now = time.perf_counter()
        if self._round_start is not None:
            self.collect_s += now - self._round_start
            self.collect_steps += self.model.num_timesteps - self._steps_at_start
        self._round_end, self._updates_at_end = now, self.model._n_updates
        self._rounds += 1
        self._check_run_time()
        self._show()

    def _on_step(self) -> bool:
        return True

    def _on_training_end(self) -> None:
        self._count_training(time.perf_counter())
        if self.pbar is not None:
            self._show()
            self.pbar.close()
            self.pbar = None

    # -- output ------------------------------------------------------------------------------------
    def _show(self, note: str = "") -> None:
        if self.pbar is None:
            return
        self.pbar.update(self.model.num_timesteps - self.pbar.n)
        parts = [note] if note else []
        per_grad = self.seconds_per_gradient_step
        if per_grad:
            parts.append(f"{'' if self.train_steps else '~'}{1 / per_grad:.3g} grad/s")
        if not note:
            parts.append(f"ETA {format_duration(self.remaining_s())}")
        buffer = self.model.ep_info_buffer
        if buffer and self._rounds % self.update_every == 0:
            self._return = f"ep_return {np.mean([ep['r'] for ep in buffer]):.3f}"
        if getattr(self, "_return", None):
            parts.append(self._return)
        self.pbar.set_postfix_str(", ".join(parts), refresh=bool(note))

    def _check_run_time(self) -> None:
        """Warn once, after ``warn_rounds`` rounds and again after as many training rounds, if the run is long."""
        due = [self._rounds >= self.warn_rounds, self.train_rounds >= self.warn_rounds]
        if self.warned or self._checks >= sum(due):
            return
        self._checks = sum(due)
        remaining = self.remaining_s()
        if not remaining > self.warn_after_s:
            return
        self.warned = True
        per_env = self.collect_s / self.collect_steps
        env_steps, grads = max(self.total - self.model.num_timesteps, 0), self._remaining_gradient_steps()
        message = (
            f"warning: this run needs about {format_duration(remaining)} more ({env_steps} environment steps at "
            f"{per_env * 1e3:.3g} ms and {grads} gradient steps at {self.seconds_per_gradient_step or 0:.3g} s each)"
        )
        message += f"; {self.advice}" if self.advice else ""
        (tqdm.write if self.pbar is not None else print)(message, file=sys.stderr)


class CheckpointCallback(BaseCallback):
    """Save a checkpoint every ``save_freq`` environment steps, every ``save_minutes`` of wall time, and on a stop.

    Step checkpoints are kept (``model_<steps>_steps.zip``, the run's series); the others replace each other
    (``resume_<steps>_steps.zip``); every checkpoint becomes the latest one, with the filled part of the
    replay buffer and the training state (:func:`~caasl_agents.common.checkpoint.save_checkpoint`).
    Checkpoints are taken between two rounds of SB3's loop, where a resumed run starts again.

    :param save_freq: environment steps (all copies) between kept checkpoints
    :param save_dir: checkpoint folder
    :param save_minutes: wall-clock minutes after which the next round boundary saves (0: never by time)
    :param stop: when it has been requested, save at the next round boundary and stop training
        (then :attr:`stopped` is True and the model in memory is one environment step past the checkpoint)
    :param save_replay_buffer: also save the replay buffer (needed to resume exactly)
    """

    def __init__(
        self,
        save_freq: int,
        save_dir: str | os.PathLike,
        save_minutes: float = 0.0,
        stop: GracefulStop | None = None,
        save_replay_buffer: bool = True,
    ):
        super().__init__()
        if save_freq < 1:
            raise ValueError(f"save_freq must be >= 1, got {save_freq}")
        if save_minutes < 0:
            raise ValueError(f"save_minutes must be >= 0, got {save_minutes}")
        self.save_freq, self.save_dir, self.save_minutes = save_freq, Path(save_dir), save_minutes
        self.stop, self.save_replay_buffer = stop, save_replay_buffer
        self.stopped = False
        self._last_saved, self._last_time = -1, 0.0

    def _on_training_start(self) -> None:
        self._last_saved, self._last_time, self.stopped = self.model.num_timesteps, time.monotonic(), False

    def _on_rollout_start(self) -> None:
        steps = self.model.num_timesteps
        by_steps = steps // self.save_freq > self._last_saved // self.save_freq
        late = self.save_minutes > 0 and time.monotonic() - self._last_time >= 60 * self.save_minutes
        by_time = late and steps > self._last_saved  # nothing new since the last one (or the start): no need
        stopping = self.stop is not None and self.stop.requested
        if by_steps or by_time or stopping:
            self.save(keep=by_steps)
        self.stopped = stopping

    def _on_step(self) -> bool:
        return not self.stopped

    def save(self, keep: bool = True) -> Path:
        """Write a checkpoint now (kept as ``model_<steps>_steps.zip`` when ``keep``) and return the model path."""
        path = save_checkpoint(self.model, self.save_dir, self.save_replay_buffer, keep=keep)
        self._last_saved, self._last_time = self.model.num_timesteps, time.monotonic()
        return path
