"""What a reward-model training run is given: :class:`TrainConfig`, the one place for its defaults."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from caasl_gym.reward.data import TrainingPrior
from caasl_gym.reward.evaluation import HELDOUT_SEED
from caasl_gym.reward.model import DOMAINS, ENCODERS, ModelConfig


def _opt(default, help: str | None = None):
    """A field with the help text of its CLI flag."""
    return field(default=default, metadata={"help": help})


@dataclass(frozen=True)
class TrainConfig:
    """A training run, one field per flag of ``python -m caasl_gym.reward.train``; bad values raise ``ValueError``.

    The architecture defaults are :class:`~caasl_gym.reward.model.ModelConfig`'s, the data ones ``TrainingPrior``'s.
    """

    domain: str = field(metadata={"choices": DOMAINS, "required": True})
    out: str | None = _opt(None, "output stem (default runs/reward_<domain>)")
    steps: int | None = _opt(None, "optimizer steps (default 20000, unlimited with --time-limit; stops at either)")
    time_limit: float | None = _opt(None, "minutes of training before stopping cleanly")
    batch_size: int = _opt(TrainingPrior.batch_size, "histories per batch at d=10, 60 rows (scaled by 600/(n d))")
    dim: int = _opt(ModelConfig.dim)
    layers: int = _opt(ModelConfig.layers)
    heads: int = _opt(ModelConfig.heads)
    ffn_mult: int = _opt(ModelConfig.ffn_mult)
    lr: float = _opt(1e-3)
    weight_decay: float = _opt(1e-4)
    warmup: int = _opt(200, "linear learning-rate warm-up steps")
    d_min: int = _opt(TrainingPrior.d_min)
    d_max: int = _opt(TrainingPrior.d_max)
    n_int_max: int | None = _opt(None, "max interventional rows (default 50 linear, 20 sergio)")
    groups: int | None = _opt(None, "simulator settings per batch (default 4 linear, 1 sergio)")
    scale_channel: bool = _opt(False, "give the network each variable's log-std")
    encoder: str = field(
        default=ModelConfig.encoder,
        metadata={"choices": ENCODERS, "help": "rows (AVICI) or statistics (variable pairs; linear, scale channel)"},
    )
    teacher: str | None = _opt(None, "folder of exact-posterior shards (soft labels, linear only)")
    teacher_shards: int = _opt(300, "teacher shards 0..N-1 (made when missing)")
    hard_fraction: float = _opt(0.25, "share of hard-label batches with --teacher")
    init: str | None = _opt(None, "warm start from this reward model (its architecture overrides --dim etc.)")
    seed: int = _opt(0)
    device: str = _opt("auto", "auto (CUDA when present), cpu, cuda, cuda:1, ...")
    workers: int = _opt(0, "background data-generation processes")
    threads: int | None = _opt(None, "torch CPU threads in the main process")
    compile: bool = _opt(False, "torch.compile the network")
    resume: bool = _opt(False, "continue from <out>.ckpt")
    checkpoint_every: float = _opt(5.0, "minutes between checkpoints")
    eval_every: int = _opt(1000, "steps between small held-out evaluations (0 = off)")
    eval_datasets: int = _opt(64, "held-out datasets of the periodic evaluation")
    final_eval_datasets: int = _opt(256, "held-out datasets of the final evaluation")
    heldout_seed: int = _opt(HELDOUT_SEED)
    no_progress: bool = _opt(False, "disable the progress bar")

    def __post_init__(self) -> None:
        if self.teacher is not None and self.domain != "linear":
            raise ValueError("--teacher needs --domain linear (the exact posterior models linear SCMs)")
        if self.teacher is not None and self.teacher_shards < 1:
            raise ValueError(f"--teacher-shards must be >= 1, got {self.teacher_shards}")
        if not 0.0 <= self.hard_fraction <= 1.0:
            raise ValueError(f"--hard-fraction must lie in [0, 1], got {self.hard_fraction}")

    @property
    def max_steps(self) -> int:
        """``steps``, else 20000, or unlimited (10**9) with ``time_limit``."""
        return self.steps if self.steps is not None else (20000 if self.time_limit is None else 10**9)

    @property
    def stem(self) -> Path:
        """Output stem: ``<stem>.ckpt``, ``<stem>.log.csv``, ``<stem>.pt`` and ``<stem>.json``."""
        return Path(self.out if self.out is not None else f"runs/reward_{self.domain}")

    def prior(self) -> TrainingPrior:
        """The distribution of the hard-label training batches."""
        groups = self.groups if self.groups is not None else (4 if self.domain == "linear" else 1)
        given = {k: getattr(self, k) for k in ("domain", "batch_size", "d_min", "d_max", "n_int_max")}
        return TrainingPrior(**given, groups=groups)

    def model_config(self, source: ModelConfig | None = None) -> ModelConfig:
        """The architecture: ``dim``, ``layers``, ``heads``, ``ffn_mult`` and ``encoder``, or those of a warm start's
        ``source``."""
        names = ("dim", "layers", "heads", "ffn_mult", "encoder")
        arch = {k: getattr(self if source is None else source, k) for k in names}
        return ModelConfig(domain=self.domain, scale_channel=self.scale_channel, **arch)
