"""Train a reward model on histories simulated on the fly.

Example (the shipped CPU weights are made this way; see ``loading.REGENERATE_COMMANDS``)::

    python -m caasl_gym.reward.train --domain linear --steps 3000 --out runs/reward_linear

On a GPU machine: ``--device cuda --workers 14 --time-limit 7 --batch-size 512 --compile``. Writes
``<out>.ckpt`` (periodic checkpoint, ``--resume`` continues from it), ``<out>.log.csv`` and finally
``<out>.pt`` (state dict) plus ``<out>.json`` (architecture, domain, command, seeds, steps, histories,
hardware, wall time, held-out metrics, sha256 of the ``.pt``).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import platform
import shlex
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from caasl_gym.reward.data import TrainingPrior
from caasl_gym.reward.evaluation import HELDOUT_SEED, TRAIN_KEY, heldout_report
from caasl_gym.reward.inputs import encode_histories
from caasl_gym.reward.loading import RewardModel, save_weights
from caasl_gym.reward.model import DOMAINS, EdgePosteriorNet, ModelConfig, edge_bce
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
        self.prior, self.seed, self.segment = prior, int(seed), int(segment)
        self.scale_channel = scale_channel
        self.teacher = None if teacher is None else Path(teacher)
        self.teacher_shards = int(teacher_shards)
        self.hard_fraction = float(hard_fraction) if self.teacher is not None else 1.0

    def generator(self, worker: int) -> np.random.Generator:
        return np.random.default_rng(np.random.SeedSequence(self.seed, spawn_key=(TRAIN_KEY, self.segment, worker)))

    def _encode(self, values: np.ndarray, intervened: np.ndarray, target: np.ndarray) -> dict[str, torch.Tensor]:
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


def warm_start(net: EdgePosteriorNet, src: RewardModel) -> dict:
    """Copy the weights of a loaded reward model into ``net`` (same trunk); a new scale channel starts at 0.

    Returns:
        the source model's sidecar.
    """
    state = {k: v.clone() for k, v in src.net.state_dict().items()}
    w = state["embed.weight"]  # (dim, C_src)
    if w.shape[1] < net.config.channels:
        state["embed.weight"] = torch.cat([w, w.new_zeros(w.shape[0], net.config.channels - w.shape[1])], dim=1)
    net.load_state_dict(state)
    return src.metadata


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m caasl_gym.reward.train", description=__doc__.split("\n")[0])
    p.add_argument("--domain", choices=DOMAINS, required=True)
    p.add_argument("--out", default=None, help="output stem (default runs/reward_<domain>)")
    p.add_argument(
        "--steps",
        type=int,
        default=None,
        help="optimizer steps (default 20000, or unlimited with --time-limit; the run stops at either)",
    )
    p.add_argument("--time-limit", type=float, default=None, help="minutes of training before stopping cleanly")
    p.add_argument(
        "--batch-size", type=int, default=64, help="histories per batch at d=10, 60 rows (scaled by 600/(n d))"
    )
    p.add_argument("--dim", type=int, default=32)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--heads", type=int, default=2)
    p.add_argument("--ffn-mult", type=int, default=2)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--weight-decay", type=float, default=1e-4)
    p.add_argument("--warmup", type=int, default=200, help="linear learning-rate warm-up steps")
    p.add_argument("--d-min", type=int, default=5)
    p.add_argument("--d-max", type=int, default=30)
    p.add_argument("--n-int-max", type=int, default=None, help="max interventional rows (default 50 linear, 20 sergio)")
    p.add_argument("--groups", type=int, default=None, help="simulator settings per batch (default 4 linear, 1 sergio)")
    p.add_argument("--scale-channel", action="store_true", help="give the network each variable's log-std")
    p.add_argument("--teacher", default=None, help="folder of exact-posterior shards (soft labels, linear only)")
    p.add_argument("--teacher-shards", type=int, default=300, help="teacher shards 0..N-1 (made when missing)")
    p.add_argument("--hard-fraction", type=float, default=0.25, help="share of hard-label batches with --teacher")
    p.add_argument(
        "--init", default=None, help="warm start from this reward model (its architecture overrides --dim etc.)"
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda, cuda:1, ...")
    p.add_argument("--workers", type=int, default=0, help="background data-generation processes")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads in the main process")
    p.add_argument("--compile", action="store_true", help="torch.compile the network")
    p.add_argument("--resume", action="store_true", help="continue from <out>.ckpt")
    p.add_argument("--checkpoint-every", type=float, default=5.0, help="minutes between checkpoints")
    p.add_argument("--eval-every", type=int, default=1000, help="steps between small held-out evaluations (0 = off)")
    p.add_argument("--eval-datasets", type=int, default=64, help="held-out datasets of the periodic evaluation")
    p.add_argument("--final-eval-datasets", type=int, default=256, help="held-out datasets of the final evaluation")
    p.add_argument("--heldout-seed", type=int, default=HELDOUT_SEED)
    p.add_argument("--no-progress", action="store_true", help="disable the progress bar")
    args = p.parse_args(argv)
    args.steps_given = args.steps is not None
    if args.steps is None:
        args.steps = 20000 if args.time_limit is None else 10**9
    if args.out is None:
        args.out = f"runs/reward_{args.domain}"
    if args.groups is None:
        args.groups = 4 if args.domain == "linear" else 1
    if args.teacher is not None and args.domain != "linear":
        p.error("--teacher needs --domain linear (the exact posterior models linear SCMs)")
    if args.teacher is not None and args.teacher_shards < 1:
        p.error(f"--teacher-shards must be >= 1, got {args.teacher_shards}")
    if not 0.0 <= args.hard_fraction <= 1.0:
        p.error(f"--hard-fraction must lie in [0, 1], got {args.hard_fraction}")
    return args


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(name)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda requested but CUDA is not available")
    return dev


def hardware_string(device: torch.device) -> str:
    gpu = torch.cuda.get_device_name(device) if device.type == "cuda" else "none"
    return (
        f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPU cores, GPU: {gpu}, "
        f"torch {torch.__version__}, threads {torch.get_num_threads()}"
    )


def learning_rate(args: argparse.Namespace, step: int, elapsed: float) -> float:
    """Linear warm-up, then cosine decay to 5% of ``--lr``.

    Progress is measured in steps when ``--steps`` is given (``--time-limit`` then only stops the run
    early), so a rerun with the same ``--steps`` follows the same schedule on any machine; with
    ``--time-limit`` alone it is measured in wall time.
    """
    if step < args.warmup:
        return args.lr * (step + 1) / args.warmup
    if args.steps_given or not args.time_limit:
        progress = step / max(args.steps, 1)
    else:
        progress = elapsed / (60.0 * args.time_limit)
    progress = min(progress, 1.0)
    return args.lr * (0.05 + 0.95 * 0.5 * (1.0 + math.cos(math.pi * progress)))


def train_loss(model, x: torch.Tensor, adj: torch.Tensor, device: torch.device, bf16: bool) -> torch.Tensor:
    """BCE of one batch (bf16 autocast on CUDA)."""
    with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=bf16):
        logits = model(x)
    return edge_bce(logits, adj)


def run(argv: list[str] | None = None) -> dict:
    """Train, write ``<out>.pt`` and ``<out>.json``, and return the sidecar dict."""
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    command = "python -m caasl_gym.reward.train " + " ".join(
        shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv)
    )
    device = resolve_device(args.device)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    ckpt_path, log_path = Path(f"{out}.ckpt"), Path(f"{out}.log.csv")

    arch = dict(dim=args.dim, layers=args.layers, heads=args.heads, ffn_mult=args.ffn_mult)
    source = None
    if args.init is not None:
        from caasl_gym.reward.loading import load_reward_model

        source = load_reward_model(args.init)
        if not hasattr(source, "net"):
            raise SystemExit(f"--init {args.init}: not a trained network (use a shipped name such as linear-small)")
        src = source.config
        arch = dict(dim=src.dim, layers=src.layers, heads=src.heads, ffn_mult=src.ffn_mult)
    config = ModelConfig(domain=args.domain, scale_channel=args.scale_channel, **arch)
    torch.manual_seed(args.seed)
    net = EdgePosteriorNet(config)
    init_meta = warm_start(net, source) if (source is not None and not args.resume) else None
    if args.init is not None and init_meta is None:  # resumed: the weights come from the checkpoint
        init_meta = {"name": args.init}
    net = net.to(device)
    optim = torch.optim.AdamW(net.parameters(), lr=args.lr, weight_decay=args.weight_decay, fused=device.type == "cuda")
    step, seen, elapsed_before, segment, segments = 0, 0, 0.0, 0, []
    if args.resume:
        if not ckpt_path.is_file():
            raise SystemExit(f"--resume: no checkpoint at {ckpt_path}")
        ck = torch.load(ckpt_path, map_location=device, weights_only=False)
        if ck["config"] != config.to_dict():
            raise SystemExit(f"--resume: checkpoint architecture {ck['config']} differs from {config.to_dict()}")
        net.load_state_dict(ck["model"])
        optim.load_state_dict(ck["optim"])
        step, seen, elapsed_before = ck["step"], ck["histories_seen"], ck["elapsed_s"]
        segments, segment = ck["segments"], len(ck["segments"])
    segments = [*segments, {"segment": segment, "start_step": step, "command": command}]

    prior = TrainingPrior(
        domain=args.domain,
        batch_size=args.batch_size,
        d_min=args.d_min,
        d_max=args.d_max,
        groups=args.groups,
        n_int_max=args.n_int_max,
    )
    loader = DataLoader(
        HistoryStream(
            prior,
            args.seed,
            segment,
            scale_channel=args.scale_channel,
            teacher=args.teacher,
            teacher_shards=args.teacher_shards,
            hard_fraction=args.hard_fraction,
        ),
        batch_size=None,
        num_workers=args.workers,
        pin_memory=device.type == "cuda",
        prefetch_factor=4 if args.workers else None,
        persistent_workers=args.workers > 0,
    )
    model = torch.compile(net, dynamic=True) if args.compile else net
    use_bf16 = device.type == "cuda"

    def checkpoint() -> None:
        tmp = Path(f"{ckpt_path}.tmp")
        torch.save(
            {
                "config": config.to_dict(),
                "model": net.state_dict(),
                "optim": optim.state_dict(),
                "step": step,
                "histories_seen": seen,
                "elapsed_s": elapsed_before + time.time() - t0,
                "segments": segments,
                "args": vars(args),
            },
            tmp,
        )
        tmp.replace(ckpt_path)

    def small_eval(n: int) -> dict:
        net.eval()
        try:
            return heldout_report(RewardModel(net, device=device), n_datasets=n, seed=args.heldout_seed)
        finally:
            net.train()

    new_log = not (args.resume and log_path.is_file())
    log_file = open(log_path, "w" if new_log else "a", newline="")
    log = csv.writer(log_file)
    if new_log:
        log.writerow(["step", "histories", "elapsed_s", "lr", "loss", "auprc_h0", "auprc_h10", "score_h10"])
    try:
        from tqdm.auto import tqdm
    except ImportError:  # pragma: no cover
        tqdm = None
    bar = (
        None
        if (tqdm is None or args.no_progress)
        else tqdm(total=args.steps if args.steps < 10**9 else None, initial=step, unit="step", dynamic_ncols=True)
    )

    t0 = time.time()
    last_ckpt = t0
    loss_sum, loss_count, ema = torch.zeros((), device=device), 0, None
    net.train()
    it = iter(loader)
    while step < args.steps:
        elapsed = elapsed_before + time.time() - t0
        if args.time_limit is not None and elapsed >= 60.0 * args.time_limit:
            break
        batch = next(it)
        x = batch["x"].to(device, non_blocking=True)
        adj = batch["adj"].to(device, non_blocking=True)
        lr = learning_rate(args, step, elapsed)
        for group in optim.param_groups:
            group["lr"] = lr
        optim.zero_grad(set_to_none=True)
        try:
            loss = train_loss(model, x, adj, device, use_bf16)
            loss.backward()
        except Exception as err:  # torch.compile failure: continue eagerly rather than lose the run
            if model is net:
                raise
            print(f"torch.compile failed ({type(err).__name__}: {err}); continuing without it", file=sys.stderr)
            model = net
            optim.zero_grad(set_to_none=True)
            loss = train_loss(model, x, adj, device, use_bf16)
            loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        optim.step()
        step += 1
        seen += x.shape[0]
        loss_sum += loss.detach()
        loss_count += 1
        if step % 50 == 0 or step == args.steps:
            mean_loss = float(loss_sum) / loss_count
            loss_sum.zero_()
            loss_count = 0
            ema = mean_loss if ema is None else 0.7 * ema + 0.3 * mean_loss
            row = [step, seen, round(elapsed_before + time.time() - t0, 2), f"{lr:.3g}", f"{mean_loss:.5f}", "", "", ""]
            if args.eval_every and step % args.eval_every == 0:
                rep = small_eval(args.eval_datasets)
                row[5:] = [f"{rep['h0']['auprc']:.4f}", f"{rep['h10']['auprc']:.4f}", f"{rep['h10']['score']:.3f}"]
                if bar is not None:
                    bar.write(f"step {step}: held-out AUPRC h0 {row[5]} h10 {row[6]}, S(h10) {row[7]}")
            log.writerow(row)
            log_file.flush()
            if bar is not None:
                bar.set_postfix(loss=f"{ema:.4f}", hist=seen, lr=f"{lr:.2g}")
        if bar is not None:
            bar.update(1)
        if time.time() - last_ckpt >= 60.0 * args.checkpoint_every:
            checkpoint()
            last_ckpt = time.time()
    wall = elapsed_before + time.time() - t0
    if bar is not None:
        bar.close()
    checkpoint()
    log_file.close()
    del it, loader

    pt_path = Path(f"{out}.pt")
    digest = save_weights(net.state_dict(), pt_path)
    report = small_eval(args.final_eval_datasets)
    meta = {
        "format": 1,
        "name": out.name,
        "domain": args.domain,
        "config": config.to_dict(),
        "weights_file": pt_path.name,
        "sha256": digest,
        "parameters": sum(p.numel() for p in net.parameters()),
        "command": command,
        "seed": args.seed,
        "data_seeds": f"SeedSequence({args.seed}, spawn_key=({TRAIN_KEY}, segment, worker))",
        "segments": segments,
        "steps": step,
        "histories_seen": seen,
        "wall_time_s": round(wall, 1),
        "hardware": hardware_string(device),
        "workers": args.workers,
        "training_prior": prior.to_dict(),
        "teacher": None
        if args.teacher is None
        else {
            "shards": args.teacher_shards,
            "hard_fraction": args.hard_fraction,
            "regenerate": f"python -m caasl_gym.reward.teacher --shards {args.teacher_shards} --out <folder>",
        },
        "init": None if init_meta is None else {"name": init_meta.get("name"), "sha256": init_meta.get("sha256")},
        "optimizer": {
            "name": "AdamW",
            "lr": args.lr,
            "weight_decay": args.weight_decay,
            "warmup": args.warmup,
            "schedule": "cosine to 5%",
            "grad_clip": 1.0,
            "bf16_autocast": use_bf16,
        },
        "heldout": report,
    }
    Path(f"{out}.json").write_text(json.dumps(meta, indent=2) + "\n")
    print(
        f"wrote {pt_path} and {out}.json: {step} steps, {seen} histories, {wall:.0f} s; held-out AUPRC "
        f"h0 {report['h0']['auprc']:.3f} h10 {report['h10']['auprc']:.3f}, S(h10) {report['h10']['score']:.2f} "
        f"vs all-zeros {report['h10']['score_all_zeros']:.2f}"
    )
    return meta


def main() -> None:
    run()


if __name__ == "__main__":
    main()
