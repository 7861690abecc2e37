"""Train a CAASL design policy with REDQ: ``python -m caasl_agents.train --env CausalLinear-v0``.

Every option is a field of :class:`TrainConfig` (``--help`` lists them all with their defaults).
A run writes ``runs/<env>__<seed>__<time>/``:

* ``config.json``: the full configuration (``--resume`` reads it back);
* ``model.zip``: the final model (``REDQ.load``);
* ``checkpoints/``: ``model_<steps>_steps.zip`` every ``--checkpoint-freq`` steps, the latest
  replay buffer and ``latest.json``;
* ``logs/session-<k>/``: ``progress.csv`` and TensorBoard events (one session per start/resume);
* ``eval.csv``: the final paired evaluation against Random on held-out validation episodes (one row:
  scores ``S(h_T)`` and the gain over Random, :func:`~caasl_agents.evaluation.policy_record`), also printed.

Seeds (:mod:`caasl_gym.evaluation.seeds`): every training reset seed must lie in the train family and
the evaluation episodes in the validation family, so neither overlaps the benchmarks' test episodes.

Defaults follow the official CAASL configuration where practical (embedding 32, heads 128-128,
gamma 0.9, actor lr 1e-3, N = 10 critics with their own encoders) and are otherwise sized for a
single GPU (``--device auto``). On a CPU the paper-sized critic ensemble is slow (about 0.1 gradient
steps/s at batch 32 on 2 cores, see ``benchmarks/results/agents_speed.md``); there, use
``--critic-encoder shared --batch-size 64 --n-layers 1 --torch-threads 1`` or fewer critics.

Examples::

    python -m caasl_agents.train --env CausalLinear-v0 --total-timesteps 200000
    python -m caasl_agents.train --env CausalLinear-v0 --env-kwargs '{"num_nodes": 5}' --device cuda
    python -m caasl_agents.train --resume runs/CausalLinear-v0__0__20261128-120000 --total-timesteps 400000
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pandas as pd
import torch as th
from stable_baselines3.common.logger import configure

from caasl_agents.common.callbacks import (
    CheckpointCallback,
    ProgressBarCallback,
    latest_checkpoint,
    save_checkpoint,
)
from caasl_agents.common.cli import parse_config
from caasl_agents.common.vec_env import make_vec_env
from caasl_agents.evaluation import policy_record
from caasl_agents.redq import REDQ
from caasl_gym.evaluation.seeds import TRAIN, VALIDATION, check_in_family
from caasl_gym.registration import domain_of

RESUMABLE_OVERRIDES = frozenset(
    {"total_timesteps", "device", "progress_bar", "checkpoint_freq", "eval_episodes", "eval_deterministic",
     "verbose", "torch_threads", "resume", "run_root"}
)  # fmt: skip
"""Fields that ``--resume`` may change; all others are read from the run's ``config.json``."""


@dataclass
class TrainConfig:
    """Train a CAASL design policy (REDQ + transformer policy) on a registered caasl_gym environment."""

    env: str = "CausalLinear-v0"
    """registered environment id (any caasl_gym id; "module:Id" imports the module first)"""
    env_kwargs: dict = field(default_factory=dict)
    """environment kwargs as a JSON object, e.g. '{"num_nodes": 5}'"""
    seed: int = 0
    """training seed (torch, REDQ subsets, environment copies seed, seed+1, ...)"""
    total_timesteps: int = 200_000
    """environment transitions to train for, over all copies (with --resume: the new total)"""
    n_envs: int = 16
    """environment copies stepped together (one batched simulator and reward-model call per step)"""
    device: str = "auto"
    """torch device: auto (CUDA when present), cpu, cuda, cuda:1, ..."""
    torch_threads: int = 0
    """CPU threads for torch (0: torch's default; 1 is fastest on a busy machine)"""
    run_root: str = "runs"
    """folder that receives the run folder <env>__<seed>__<time>"""
    resume: str = ""
    """run folder to resume from its last checkpoint and replay buffer ("latest": newest for --env/--seed)"""
    checkpoint_freq: int = 20_000
    """environment transitions between checkpoints (model and replay buffer)"""
    progress_bar: bool = True
    """show a progress bar"""
    verbose: int = 0
    """0: quiet, 1: also print the training logs to stdout"""
    log_interval: int = 0
    """episodes between log dumps (0: once per round of n_envs episodes)"""
    eval_episodes: int = 100
    """held-out episodes of the final evaluation against Random (0: skip)"""
    eval_seed: int = VALIDATION.start
    """seed of the first held-out episode (episodes eval_seed + i); must be validation seeds (1000000..9999999)"""
    eval_deterministic: bool = False
    """evaluate the deterministic policy (tanh of the mean) instead of sampled designs (official CAASL
    evaluates samples, which also did better in short runs)"""
    buffer_size: int = 50_000
    """replay buffer transitions; a compact buffer stores each observation once (~7 KB at d=10, N=60)"""
    compact_buffer: bool = True
    """store next observations implicitly (SB3 optimize_memory_usage; exact since episodes never truncate)"""
    batch_size: int = 256
    """minibatch size of each gradient step"""
    learning_starts: int = 2_000
    """transitions collected with uniformly random actions before training starts"""
    train_freq: int = 1
    """vector steps between training rounds"""
    gradient_steps: int = 4
    """gradient steps per training round; update-to-data ratio G = gradient_steps / (train_freq * n_envs)"""
    policy_delay: int = 1
    """gradient steps between actor updates (0: once per training round, as REDQ's policy delay = G)"""
    n_critics: int = 10
    """critics in the ensemble (N)"""
    critic_subset_size: int = 2
    """target critics whose minimum forms the TD target (M <= N)"""
    actor_q_reduction: Literal["mean", "min"] = "mean"
    """reduction of the N critics in the actor loss: mean (REDQ) or min (official CAASL code)"""
    critic_encoder: Literal["separate", "shared"] = "separate"
    """one encoder per critic (paper) or one critic encoder feeding N heads (much cheaper on CPU)"""
    learning_rate: float = 1e-3
    """learning rate of the actor and the entropy coefficient (official CAASL linear: 1e-3)"""
    critic_learning_rate: float = 3e-4
    """learning rate of the critics (REDQ: 3e-4; official CAASL 3e-5 with 4096-sample batches)"""
    gamma: float = 0.9
    """discount factor (official CAASL linear: 0.9)"""
    tau: float = 0.005
    """target-network Polyak coefficient (REDQ: 0.005; official CAASL: 0.001 over far longer runs)"""
    ent_coef: str = "auto_0.1"
    """entropy coefficient: auto_<initial value> (learned, as SAC) or a fixed float; SAC's auto starts at 1,
    too large against rewards of order 0.1-1 for short runs"""
    embed_dim: int = 32
    """per-variable embedding width (official CAASL: 32)"""
    n_layers: int = 2
    """(variables, samples) attention pairs per encoder (official CAASL: 4 linear, 3 SERGIO)"""
    n_heads: int = 4
    """attention heads (head size embed_dim / n_heads)"""
    ff_mult: int = 4
    """feed-forward width as a multiple of embed_dim"""
    value_transform: Literal["auto", "standardize", "log1p_standardize", "none"] = "auto"
    """preprocessing of measured values (auto: log1p_standardize for SERGIO counts, else standardize)"""
    pi_arch: list[int] = field(default_factory=lambda: [128, 128])
    """hidden widths of the per-variable actor head (official CAASL: 128 128)"""
    qf_arch: list[int] = field(default_factory=lambda: [128, 128])
    """hidden widths of the per-variable critic heads (official CAASL: 128 128)"""

    def __post_init__(self) -> None:
        positive = ["total_timesteps", "n_envs", "checkpoint_freq", "buffer_size", "batch_size",
                    "train_freq", "n_critics", "critic_subset_size", "embed_dim", "n_layers", "n_heads",
                    "ff_mult"]  # fmt: skip
        for name in positive:
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ["torch_threads", "log_interval", "eval_episodes", "learning_starts", "gradient_steps",
                     "policy_delay", "seed", "eval_seed", "verbose"]:  # fmt: skip
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.critic_subset_size > self.n_critics:
            raise ValueError(f"critic_subset_size ({self.critic_subset_size}) > n_critics ({self.n_critics})")
        if self.embed_dim % self.n_heads:
            raise ValueError(f"embed_dim ({self.embed_dim}) must be divisible by n_heads ({self.n_heads})")
        for name in ["learning_rate", "critic_learning_rate"]:
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        if not (0.0 <= self.gamma <= 1.0 and 0.0 < self.tau <= 1.0):
            raise ValueError(f"need 0 <= gamma <= 1 and 0 < tau <= 1, got gamma={self.gamma}, tau={self.tau}")
        if not isinstance(self.env_kwargs, dict):
            raise ValueError(f"env_kwargs must be a dict, got {self.env_kwargs!r}")

    @property
    def resolved_value_transform(self) -> str:
        """``value_transform`` with ``"auto"`` resolved from the env id."""
        if self.value_transform != "auto":
            return self.value_transform
        try:
            sergio = domain_of(self.env.split(":")[-1]) == "sergio"
        except ValueError:  # an id outside caasl_gym (e.g. the agents' toy task)
            sergio = False
        return "log1p_standardize" if sergio else "standardize"

    def policy_kwargs(self) -> dict[str, Any]:
        """``policy_kwargs`` of the :class:`~caasl_agents.redq.policies.TransformerPolicy`."""
        return dict(
            n_critics=self.n_critics,
            critic_encoder=self.critic_encoder,
            net_arch=dict(pi=list(self.pi_arch), qf=list(self.qf_arch)),
            features_extractor_kwargs=dict(
                features_dim=self.embed_dim,
                n_layers=self.n_layers,
                n_heads=self.n_heads,
                ff_mult=self.ff_mult,
                value_transform=self.resolved_value_transform,
            ),
        )

    def model_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of :class:`~caasl_agents.redq.REDQ` (besides policy and env)."""
        ent_coef: str | float = self.ent_coef if self.ent_coef.startswith("auto") else float(self.ent_coef)
        return dict(
            learning_rate=self.learning_rate,
            critic_learning_rate=self.critic_learning_rate,
            buffer_size=self.buffer_size,
            optimize_memory_usage=self.compact_buffer,
            replay_buffer_kwargs=dict(handle_timeout_termination=not self.compact_buffer),
            learning_starts=self.learning_starts,
            batch_size=self.batch_size,
            tau=self.tau,
            gamma=self.gamma,
            train_freq=self.train_freq,
            gradient_steps=self.gradient_steps,
            policy_delay=self.policy_delay or None,
            critic_subset_size=self.critic_subset_size,
            actor_q_reduction=self.actor_q_reduction,
            ent_coef=ent_coef,
            policy_kwargs=self.policy_kwargs(),
            seed=self.seed,
            device=self.device,
            verbose=self.verbose,
        )


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
    saved = json.loads((run_dir / "config.json").read_text())
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


def train(cfg: TrainConfig, given: set[str] | None = None) -> Path:
    """Train (or resume) as configured and return the run folder."""
    import caasl_gym  # noqa: F401  (registers the environment ids)

    given = set() if given is None else given
    if cfg.resume:
        run_dir = _find_resume_dir(cfg)
        cfg = _resumed_config(run_dir, cfg, given)
    else:
        run_dir = _new_run_dir(cfg)
    if cfg.torch_threads:
        th.set_num_threads(cfg.torch_threads)
    ckpt_dir, log_root = run_dir / "checkpoints", run_dir / "logs"
    session = len(list(log_root.glob("session-*"))) if log_root.exists() else 0
    train_seed = _check_seeds(cfg, session)

    venv = make_vec_env(cfg.env, cfg.n_envs, seed=train_seed, env_kwargs=cfg.env_kwargs)
    if cfg.resume:
        model_path, buffer_path, _ = latest_checkpoint(ckpt_dir)
        model = REDQ.load(model_path, env=venv, device=cfg.device)
        if buffer_path is not None:
            model.load_replay_buffer(buffer_path)
        model.set_random_seed(train_seed)  # fresh environments and noise for this session
    else:
        (run_dir / "config.json").write_text(json.dumps(dataclasses.asdict(cfg), indent=2))
        model = REDQ("TransformerPolicy", venv, **cfg.model_kwargs())
    formats = ["csv", "tensorboard"] + (["stdout"] if cfg.verbose else [])
    model.set_logger(configure(str(log_root / f"session-{session}"), formats))

    remaining = cfg.total_timesteps - model.num_timesteps
    done = model.num_timesteps
    print(f"run folder: {run_dir} (device {model.device}, {done} steps done, {max(remaining, 0)} to go)")
    if remaining > 0:
        callbacks = [CheckpointCallback(cfg.checkpoint_freq, ckpt_dir)]
        if cfg.progress_bar:
            callbacks.append(ProgressBarCallback())
        model.learn(
            remaining,
            callback=callbacks,
            log_interval=cfg.log_interval or cfg.n_envs,
            reset_num_timesteps=False,
        )
        save_checkpoint(model, ckpt_dir)
    model.save(run_dir / "model.zip")
    model.logger.close()  # flush and close the CSV / TensorBoard files of this session
    venv.close()

    if cfg.eval_episodes:
        args = (cfg.eval_episodes, cfg.eval_seed, cfg.env_kwargs, cfg.eval_deterministic)
        table = pd.DataFrame([policy_record(model, cfg.env, *args)])
        table.to_csv(run_dir / "eval.csv", index=False)
        print(f"\nHeld-out evaluation on {cfg.env} (validation episodes {cfg.eval_seed}+i, score S(h_T), gain):")
        print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    return run_dir


def main(argv: list[str] | None = None) -> Path:
    """Command-line entry point; returns the run folder."""
    cfg, given = parse_config(TrainConfig, argv, prog="python -m caasl_agents.train")
    return train(cfg, given)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main(sys.argv[1:])
