"""The training loop: AdamW, the learning-rate schedule, periodic evaluation, checkpoint and resume, the sidecar.

A run writes ``<out>.log.csv``, ``<out>.ckpt`` (what ``resume`` continues from), ``<out>.pt`` (state dict) and
``<out>.json`` (architecture, command, seeds, steps, hardware, wall time, held-out metrics, sha256 of the ``.pt``)."""

from __future__ import annotations

import csv
import json
import math
import os
import platform
import sys
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from caasl_gym.reward.evaluation import TRAIN_KEY, heldout_report
from caasl_gym.reward.loading import RewardModel, load_reward_model, save_weights
from caasl_gym.reward.model import EdgePosteriorNet, edge_bce
from caasl_gym.reward.training.config import TrainConfig
from caasl_gym.reward.training.stream import HistoryStream


def resolve_device(name: str) -> torch.device:
    """``auto`` is CUDA when present, else the CPU; an absent CUDA raises ``ValueError``."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(name)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda requested but CUDA is not available")
    return dev


def hardware_string(device: torch.device) -> str:
    gpu = torch.cuda.get_device_name(device) if device.type == "cuda" else "none"
    cpu = f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPU cores"
    return f"{cpu}, GPU: {gpu}, torch {torch.__version__}, threads {torch.get_num_threads()}"


def warm_start(net: EdgePosteriorNet, src: RewardModel) -> dict:
    """Copy a loaded model's weights into ``net`` (same trunk; a new scale channel starts at 0); returns its sidecar."""
    state = {k: v.clone() for k, v in src.net.state_dict().items()}
    if "embed.weight" not in state:  # the statistics encoder has no per-entry embedding to widen
        net.load_state_dict(state)
        return src.metadata
    w = state["embed.weight"]  # (dim, C_src)
    if w.shape[1] < net.config.channels:
        state["embed.weight"] = torch.cat([w, w.new_zeros(w.shape[0], net.config.channels - w.shape[1])], dim=1)
    net.load_state_dict(state)
    return src.metadata


def learning_rate(config: TrainConfig, step: int, elapsed: float) -> float:
    """Linear warm-up, then cosine decay to 5% of ``lr``, in steps when ``steps`` is given (the same schedule on any
    machine; ``time_limit`` then only stops the run early), else in wall time (``elapsed`` s) of the ``time_limit``."""
    if step < config.warmup:
        return config.lr * (step + 1) / config.warmup
    if config.steps is not None or not config.time_limit:
        progress = step / max(config.max_steps, 1)
    else:
        progress = elapsed / (60.0 * config.time_limit)
    progress = min(progress, 1.0)
    return config.lr * (0.05 + 0.95 * 0.5 * (1.0 + math.cos(math.pi * progress)))


def backward(model, x: torch.Tensor, adj: torch.Tensor, device: torch.device, bf16: bool) -> torch.Tensor:
    """Back-propagate (and return) the BCE of a batch ``x`` ``(B, n, d, C)``, targets ``adj`` ``(B, d, d)``."""
    with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=bf16):
        logits = model(x)
    loss = edge_bce(logits, adj)
    loss.backward()
    return loss


class Trainer:
    """A :class:`TrainConfig` run, set up (torch seeded with ``config.seed``, warm start, ``resume``) to :meth:`fit`.

    A missing checkpoint to resume raises ``FileNotFoundError``, another architecture (or ``init``) ``ValueError``."""

    def __init__(self, config: TrainConfig, command: str) -> None:
        if config.threads:
            torch.set_num_threads(config.threads)
        self.config, self.command, self.stem = config, command, config.stem
        self.device = resolve_device(config.device)
        self.cuda = self.device.type == "cuda"  # then bf16 autocast, fused AdamW and pinned batches
        self.stem.parent.mkdir(parents=True, exist_ok=True)
        source = None if config.init is None else load_reward_model(config.init)
        if source is not None and not hasattr(source, "net"):
            raise ValueError(f"--init {config.init}: not a trained network (use a shipped name such as linear-small)")
        self.model_config = config.model_config(None if source is None else source.config)
        torch.manual_seed(config.seed)
        self.net = net = EdgePosteriorNet(self.model_config)
        meta = warm_start(net, source) if source is not None and not config.resume else None
        self.init_meta = meta if meta is not None or config.init is None else {"name": config.init}  # resumed
        net.to(self.device)
        self.optim = torch.optim.AdamW(net.parameters(), config.lr, weight_decay=config.weight_decay, fused=self.cuda)
        self.step, self.seen, self.elapsed_before, segments = 0, 0, 0.0, []
        if config.resume:
            if not (path := Path(f"{self.stem}.ckpt")).is_file():
                raise FileNotFoundError(f"--resume: no checkpoint at {path}")
            ck = torch.load(path, map_location=self.device, weights_only=False)
            if ck["config"] != (arch := self.model_config.to_dict()):
                raise ValueError(f"--resume: checkpoint architecture {ck['config']} differs from {arch}")
            net.load_state_dict(ck["model"])
            self.optim.load_state_dict(ck["optim"])
            self.step, self.seen, self.elapsed_before = ck["step"], ck["histories_seen"], ck["elapsed_s"]
            segments = ck["segments"]
        self.segment = len(segments)
        self.segments = [*segments, {"segment": self.segment, "start_step": self.step, "command": command}]
        self.prior = config.prior()

    def elapsed(self) -> float:
        """Seconds of training, resumed segments included."""
        return self.elapsed_before + time.time() - self.t0

    def checkpoint(self) -> None:
        """Write ``<out>.ckpt`` (atomically)."""
        state = dict(config=self.model_config.to_dict(), model=self.net.state_dict(), optim=self.optim.state_dict())
        state |= dict(step=self.step, histories_seen=self.seen, elapsed_s=self.elapsed(), segments=self.segments)
        torch.save({**state, "args": vars(self.config)}, f"{self.stem}.ckpt.tmp")
        Path(f"{self.stem}.ckpt.tmp").replace(f"{self.stem}.ckpt")

    def evaluate(self, n_datasets: int) -> dict:
        """:func:`~caasl_gym.reward.evaluation.heldout_report` of the network on ``n_datasets`` held-out datasets."""
        report = heldout_report(RewardModel(self.net, device=self.device), n_datasets, self.config.heldout_seed)
        self.net.train()  # RewardModel put it in eval mode
        return report

    def fit(self) -> dict:
        """Train to ``max_steps`` or the ``time_limit``, write ``<out>.pt`` and ``<out>.json``; returns the sidecar."""
        cfg, device, net, optim = self.config, self.device, self.net, self.optim
        teacher = dict(teacher=cfg.teacher, teacher_shards=cfg.teacher_shards, hard_fraction=cfg.hard_fraction)
        stream = HistoryStream(self.prior, cfg.seed, self.segment, scale_channel=cfg.scale_channel, **teacher)
        workers = dict(prefetch_factor=4, persistent_workers=True) if cfg.workers else {}
        loader = DataLoader(stream, batch_size=None, num_workers=cfg.workers, pin_memory=self.cuda, **workers)
        model = torch.compile(net, dynamic=True) if cfg.compile else net
        log_path = Path(f"{self.stem}.log.csv")
        new_log = not (cfg.resume and log_path.is_file())
        log_file = open(log_path, "w" if new_log else "a", newline="")
        log = csv.writer(log_file)
        if new_log:
            log.writerow(["step", "histories", "elapsed_s", "lr", "loss", "auprc_h0", "auprc_h10", "score_h10"])
        total = cfg.max_steps if cfg.max_steps < 10**9 else None
        bar = tqdm(total=total, initial=self.step, unit="step", dynamic_ncols=True, disable=cfg.no_progress)
        self.t0 = last_ckpt = time.time()
        losses, ema = [], None
        it = iter(loader)
        while self.step < cfg.max_steps:
            elapsed = self.elapsed()
            if cfg.time_limit is not None and elapsed >= 60.0 * cfg.time_limit:
                break
            batch = next(it)
            x, adj = (batch[k].to(device, non_blocking=True) for k in ("x", "adj"))
            lr = learning_rate(cfg, self.step, elapsed)
            for group in optim.param_groups:
                group["lr"] = lr
            optim.zero_grad(set_to_none=True)
            try:
                loss = backward(model, x, adj, device, self.cuda)
            except Exception as err:  # torch.compile failure: continue eagerly rather than lose the run
                if model is net:
                    raise
                print(f"torch.compile failed ({type(err).__name__}: {err}); continuing without it", file=sys.stderr)
                model = net
                optim.zero_grad(set_to_none=True)
                loss = backward(model, x, adj, device, self.cuda)
            torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
            optim.step()
            self.step, self.seen = self.step + 1, self.seen + x.shape[0]
            losses.append(loss.detach())
            if self.step % 50 == 0 or self.step == cfg.max_steps:
                mean_loss = float(sum(losses)) / len(losses)  # summed on the device, in step order
                losses.clear()
                ema = mean_loss if ema is None else 0.7 * ema + 0.3 * mean_loss
                row = [self.step, self.seen, round(self.elapsed(), 2), f"{lr:.3g}", f"{mean_loss:.5f}", "", "", ""]
                if cfg.eval_every and self.step % cfg.eval_every == 0:
                    rep = self.evaluate(cfg.eval_datasets)
                    row[5:] = [f"{rep['h0']['auprc']:.4f}", f"{rep['h10']['auprc']:.4f}", f"{rep['h10']['score']:.3f}"]
                    if not cfg.no_progress:
                        bar.write(f"step {self.step}: held-out AUPRC h0 {row[5]} h10 {row[6]}, S(h10) {row[7]}")
                log.writerow(row)
                log_file.flush()
                bar.set_postfix(loss=f"{ema:.4f}", hist=self.seen, lr=f"{lr:.2g}")
            bar.update(1)
            if time.time() - last_ckpt >= 60.0 * cfg.checkpoint_every:
                self.checkpoint()
                last_ckpt = time.time()
        wall = self.elapsed()
        bar.close()
        self.checkpoint()
        log_file.close()
        del it, loader
        return self.write_weights(wall)

    def write_weights(self, wall: float) -> dict:
        """Save ``<out>.pt``, evaluate it and write the sidecar ``<out>.json``; returns the sidecar."""
        cfg, pt_path = self.config, Path(f"{self.stem}.pt")
        digest = save_weights(self.net.state_dict(), pt_path)
        report = self.evaluate(cfg.final_eval_datasets)
        regenerate = f"python -m caasl_gym.reward.teacher --shards {cfg.teacher_shards} --out <folder>"
        teacher = {"shards": cfg.teacher_shards, "hard_fraction": cfg.hard_fraction, "regenerate": regenerate}
        optimizer = {"name": "AdamW", "lr": cfg.lr, "weight_decay": cfg.weight_decay, "warmup": cfg.warmup}
        optimizer |= {"schedule": "cosine to 5%", "grad_clip": 1.0, "bf16_autocast": self.cuda}
        meta = {
            "format": 1,
            "name": self.stem.name,
            "domain": cfg.domain,
            "config": self.model_config.to_dict(),
            "weights_file": pt_path.name,
            "sha256": digest,
            "parameters": sum(p.numel() for p in self.net.parameters()),
            "command": self.command,
            "seed": cfg.seed,
            "data_seeds": f"SeedSequence({cfg.seed}, spawn_key=({TRAIN_KEY}, segment, worker))",
            "segments": self.segments,
            "steps": self.step,
            "histories_seen": self.seen,
            "wall_time_s": round(wall, 1),
            "hardware": hardware_string(self.device),
            "workers": cfg.workers,
            "training_prior": self.prior.to_dict(),
            "teacher": None if cfg.teacher is None else teacher,
            "init": None if self.init_meta is None else {k: self.init_meta.get(k) for k in ("name", "sha256")},
            "optimizer": optimizer,
            "heldout": report,
        }
        Path(f"{self.stem}.json").write_text(json.dumps(meta, indent=2) + "\n")
        print(
            f"wrote {pt_path} and {self.stem}.json: {self.step} steps, {self.seen} histories, {wall:.0f} s; held-out "
            f"AUPRC h0 {report['h0']['auprc']:.3f} h10 {report['h10']['auprc']:.3f}, S(h10) "
            f"{report['h10']['score']:.2f} vs all-zeros {report['h10']['score_all_zeros']:.2f}"
        )
        return meta
