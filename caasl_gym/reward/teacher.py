"""Soft training labels from the exact posterior: histories of the linear prior with their exact edge marginals.

``python -m caasl_gym.reward.teacher --out runs/teacher --shards 2000 --workers 2`` writes
``<out>/shard_<seed>_<index>.npz`` files, each one batch of one ``d`` and one row count (values ``(B, n, d)``
float32, intervened ``(B, n, d)`` bool, adjacency ``(B, d, d)`` bool, probs ``(B, d, d)`` float32 exact
``P(i -> j | h)``). Shard ``i`` is drawn from ``SeedSequence(seed, spawn_key=(TEACHER_KEY, i))`` alone, so
the set is reproducible shard by shard, an interrupted run resumes by skipping the shards already on disk,
and several processes can split the indices between them.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from caasl_gym.envs.linear import CausalLinearConfig
from caasl_gym.reward.data import Histories, simulate_histories
from caasl_gym.reward.exact import MAX_EXACT_NODES, ExactLinearPosterior, LinearPrior

TEACHER_KEY = 3
"""First spawn-key entry of the teacher's data streams (training uses 1, held-out sets 2)."""
TEACHER_SEED = 0
"""Entropy of the shards the reward-model training reads."""


@dataclass(frozen=True)
class TeacherPrior:
    """Distribution of teacher batches over the linear priors the exact posterior models exactly.

    Args:
        d_choices: numbers of variables, drawn with probabilities ``d_weights``.
        d_weights: their probabilities (normalised).
        n_obs_range: inclusive range of observational rows.
        n_int_max: interventional rows are ``U{1..n_int_max}``, or 0 with probability ``p_obs_only``.
        p_obs_only: probability of an observational-only batch.
        p_weight_shift: probability that a batch uses ``weight_mean = 0.1`` (also exact) instead of 0.
        tokens: histories per batch are ``round(tokens / (n d))`` (about 64 at ``d = 10``, 60 rows).
    """

    d_choices: tuple[int, ...] = (5, 6, 7, 8, 9, 10, 11, 12)
    d_weights: tuple[float, ...] = (0.04, 0.05, 0.07, 0.1, 0.12, 0.4, 0.12, 0.1)
    n_obs_range: tuple[int, int] = (20, 100)
    n_int_max: int = 30
    p_obs_only: float = 0.15
    p_weight_shift: float = 0.2
    tokens: int = 38400

    def __post_init__(self) -> None:
        if len(self.d_choices) != len(self.d_weights) or not self.d_choices:
            raise ValueError("d_choices and d_weights must be non-empty and of equal length")
        if not all(2 <= d <= MAX_EXACT_NODES for d in self.d_choices):
            raise ValueError(f"every d must lie in [2, {MAX_EXACT_NODES}], got {self.d_choices}")

    def sample(self, rng: np.random.Generator) -> tuple[CausalLinearConfig, Histories]:
        """One batch: its setting and histories (no padding)."""
        w = np.asarray(self.d_weights, dtype=np.float64)
        d = int(self.d_choices[rng.choice(len(w), p=w / w.sum())])
        n_obs = int(rng.integers(self.n_obs_range[0], self.n_obs_range[1] + 1))
        n_int = 0 if rng.random() < self.p_obs_only else int(rng.integers(1, self.n_int_max + 1))
        setting = CausalLinearConfig(weight_mean=0.1 if rng.random() < self.p_weight_shift else 0.0)
        batch = max(1, round(self.tokens / ((n_obs + n_int) * d)))
        scale = np.where(rng.random(batch) < 0.25, rng.uniform(1.0, 4.0, batch), 1.0)
        h = simulate_histories(rng, setting, batch, d, n_obs, n_int, design_kind="mixed", value_scale=scale)
        return setting, h


def shard_rng(seed: int, index: int) -> np.random.Generator:
    """The generator of shard ``index``."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(TEACHER_KEY, index)))


def shard_path(out: Path, seed: int, index: int) -> Path:
    return out / f"shard_{seed}_{index:06d}.npz"


def make_shard(prior: TeacherPrior, seed: int, index: int) -> dict[str, np.ndarray]:
    """The arrays of shard ``index`` (see the module docstring)."""
    setting, h = prior.sample(shard_rng(seed, index))
    teacher = ExactLinearPosterior(LinearPrior(edges_per_node=setting.edges_per_node, weight_mean=setting.weight_mean))
    probs = teacher.edge_probabilities(h.values, h.intervened)
    return {
        "values": h.values.astype(np.float32),
        "intervened": h.intervened,
        "adjacency": h.adjacency,
        "probs": probs.astype(np.float32),
    }


def write_shards(out: Path, seed: int, indices: range, prior: TeacherPrior, progress: bool = True) -> int:
    """Write the missing shards among ``indices`` (atomically); returns how many were written."""
    out.mkdir(parents=True, exist_ok=True)
    todo = [i for i in indices if not shard_path(out, seed, i).is_file()]
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(todo), unit="shard", dynamic_ncols=True)
    for i in todo:
        arrays = make_shard(prior, seed, i)
        tmp = out / f".tmp_{os.getpid()}_{i}.npz"
        np.savez(tmp, **arrays)
        tmp.replace(shard_path(out, seed, i))
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    return len(todo)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m caasl_gym.reward.teacher", description=__doc__.split("\n")[0])
    p.add_argument("--out", default="runs/teacher", help="folder of the shards (git ignores runs/)")
    p.add_argument("--shards", type=int, default=2000, help="shard indices 0..N-1 (about 64 histories each)")
    p.add_argument("--seed", type=int, default=TEACHER_SEED)
    p.add_argument("--workers", type=int, default=1, help="processes, each with one torch thread")
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)
    if args.shards < 1 or args.workers < 1:
        p.error("--shards and --workers must be >= 1")
    prior = TeacherPrior()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "prior.txt").write_text(f"{asdict(prior)}\nseed {args.seed}\n")
    start = time.time()
    if args.workers == 1:
        _one_thread()
        n = write_shards(out, args.seed, range(args.shards), prior, progress=not args.no_progress)
    else:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(args.workers, initializer=_one_thread) as pool:
            parts = [range(w, args.shards, args.workers) for w in range(args.workers)]
            flags = [not args.no_progress and w == 0 for w in range(args.workers)]
            n = sum(
                pool.map(
                    write_shards, [out] * args.workers, [args.seed] * args.workers, parts, [prior] * args.workers, flags
                )
            )
    print(f"wrote {n} shards to {out} in {time.time() - start:.0f} s", file=sys.stderr)


def _one_thread() -> None:
    import torch

    torch.set_num_threads(1)


if __name__ == "__main__":
    main()
