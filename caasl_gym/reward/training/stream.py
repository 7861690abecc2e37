"""The endless stream of training batches: hard labels from the training prior, soft ones from teacher shards."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch.utils.data import IterableDataset, get_worker_info

from caasl_gym.reward.data import TrainingPrior
from caasl_gym.reward.evaluation import TRAIN_KEY
from caasl_gym.reward.inputs import encode_histories
from caasl_gym.reward.teacher import TEACHER_SEED, TeacherPrior, shard_path, write_shards


class HistoryStream(IterableDataset):
    """Endless training batches ``{"x": (B, n, d, C) float32, "adj": (B, d, d) float32}``.

    Each DataLoader worker ``w`` draws from ``SeedSequence(seed, spawn_key=(TRAIN_KEY, segment, w))``;
    ``segment`` counts resumptions, so a resumed run never replays data. With a ``teacher`` folder, a
    batch is one of the shards ``0..teacher_shards-1`` of :mod:`caasl_gym.reward.teacher` with its exact
    edge marginals as soft targets (a missing shard is made on the spot, and since a shard depends only
    on its index the data are the same whether it was made beforehand or not), except with probability
    ``hard_fraction`` a batch from ``prior`` with the true graph as hard target: this keeps what the
    teacher does not cover (d = 20 and 30, non-Gaussian noise, shifts, scale-free graphs) in the mix.
    Worker ``w`` takes the shards ``w, w + W, ...``: in index order in the first epoch, then shuffled.
    """

    def __init__(
        self,
        prior: TrainingPrior,
        seed: int,
        segment: int = 0,
        *,
        scale_channel: bool = False,
        teacher: str | Path | None = None,
        teacher_shards: int = 0,
        hard_fraction: float = 0.25,
    ) -> None:
        super().__init__()
        self.prior, self.seed, self.segment, self.scale_channel = prior, int(seed), int(segment), scale_channel
        self.teacher, self.teacher_shards = None if teacher is None else Path(teacher), int(teacher_shards)
        self.hard_fraction = float(hard_fraction) if self.teacher is not None else 1.0

    def generator(self, worker: int) -> np.random.Generator:
        """The one generator of worker ``worker``: every draw of its batches comes from it."""
        return np.random.default_rng(np.random.SeedSequence(self.seed, spawn_key=(TRAIN_KEY, self.segment, worker)))

    def _encode(self, values: np.ndarray, intervened: np.ndarray, target: np.ndarray) -> dict[str, torch.Tensor]:
        """Values and indicators ``(B, n, d)`` and the target ``(B, d, d)`` as one batch."""
        x = encode_histories(values.astype(np.float64), intervened, None, self.prior.domain, self.scale_channel)
        return {"x": torch.from_numpy(x), "adj": torch.from_numpy(target.astype(np.float32))}

    def _teacher_batch(self, index: int) -> dict[str, torch.Tensor]:
        path = shard_path(self.teacher, TEACHER_SEED, index)
        if not path.is_file():
            write_shards(self.teacher, TEACHER_SEED, range(index, index + 1), TeacherPrior(), progress=False)
        with np.load(path) as z:
            return self._encode(z["values"], z["intervened"], z["probs"])

    def __iter__(self):
        info = get_worker_info()
        if info is not None:
            torch.set_num_threads(1)
        worker, workers = (0, 1) if info is None else (info.id, info.num_workers)
        rng = self.generator(worker)
        mine = np.arange(worker, self.teacher_shards, workers) if self.teacher is not None else np.arange(0)
        queue, epoch = [], 0
        while True:
            if not len(mine) or rng.random() < self.hard_fraction:
                h = self.prior.sample_batch(rng)
                yield self._encode(h.values, h.intervened, h.adjacency)
                continue
            if not queue:
                queue = list((mine if epoch == 0 else rng.permutation(mine))[::-1])
                epoch += 1
            yield self._teacher_batch(int(queue.pop()))
