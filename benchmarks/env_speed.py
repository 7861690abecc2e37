"""Environment throughput: single-env loop vs ``SyncVectorEnv`` vs the native vector env.

Run ``python -m benchmarks.env_speed``. For each base id (default kwargs: d=10, n0=50, T=10, k=1) and
each number of copies it runs whole episodes (reset + T steps) with random actions until at least
``--min-seconds`` have passed, and reports env-steps/s (transitions; reset cost included). The time
spent inside the simulators and inside the reward model is read from the envs' benchmark-only
``DesignCore.timings`` counters, which gives the throughput without the reward model
(``steps / (wall - reward time)``) and where the time goes.

Torch runs single-threaded by default (``--threads 1``): the per-step reward calls are small, and on a
loaded 2-core machine a second intra-op thread only spins (measured: 1-3 env-steps/s instead of ~200).
"""

from __future__ import annotations

import argparse
import time

import gymnasium as gym
import pandas as pd
import torch

from benchmarks._common import write_results
from caasl_gym.registration import BASE_IDS, domain_of


def _cores(env, mode: str) -> list:
    if mode == "sync":
        return [e.unwrapped._core for e in env.envs]
    if mode == "single":
        return [e.unwrapped._core for e in env]
    return [env.unwrapped._core]


def _run(env_id: str, copies: int, mode: str, reward_model: str, min_seconds: float, seed: int) -> dict:
    """Time whole episodes of one configuration; returns one result row."""
    kwargs = dict(reward_model=reward_model)
    if mode == "single":
        env = [gym.make(env_id, **kwargs) for _ in range(copies)]
        budget = env[0].unwrapped.config.budget
        action_space = env[0].action_space
    else:
        vec_mode = "sync" if mode == "sync" else "vector_entry_point"
        env = gym.make_vec(env_id, num_envs=copies, vectorization_mode=vec_mode, **kwargs)
        budget = env.unwrapped.config.budget if mode == "native" else env.envs[0].unwrapped.config.budget
        action_space = env.action_space
    action_space.seed(seed)

    def episode(first: bool) -> None:
        if mode == "single":
            for i, e in enumerate(env):
                e.reset(seed=seed + i if first else None)
                for _ in range(budget):
                    e.step(action_space.sample())
        else:
            if first:
                env.reset(seed=seed)
            else:
                env.step(action_space.sample())  # NEXT_STEP autoreset: this call starts the next episode
            for _ in range(budget):
                env.step(action_space.sample())

    episode(first=True)  # warm-up (model caches, first-call overheads)
    for core in _cores(env, mode):
        core.timings.update(simulate=0.0, reward=0.0)
    episodes, start = 0, time.perf_counter()
    while episodes == 0 or time.perf_counter() - start < min_seconds:
        episode(first=False)
        episodes += 1
    wall = time.perf_counter() - start
    sim = sum(c.timings["simulate"] for c in _cores(env, mode))
    rew = sum(c.timings["reward"] for c in _cores(env, mode))
    steps = episodes * budget * copies
    if mode != "single":
        env.close()
    return {
        "env_id": env_id,
        "copies": copies,
        "mode": mode,
        "env_steps_per_s": steps / wall,
        "env_steps_per_s_no_reward": steps / max(wall - rew, 1e-9),
        "simulate_%": 100 * sim / wall,
        "reward_%": 100 * rew / wall,
        "other_%": 100 * max(wall - sim - rew, 0.0) / wall,
        "seconds": wall,
    }


def main(argv: list[str] | None = None) -> pd.DataFrame:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, nargs="+", default=[1, 16, 64])
    parser.add_argument("--modes", nargs="+", default=["single", "sync", "native"])
    parser.add_argument("--env-ids", nargs="+", default=list(BASE_IDS))
    parser.add_argument("--min-seconds", type=float, default=3.0)
    parser.add_argument(
        "--threads", type=int, default=1, help="torch threads (0 = torch's default; see the module docstring)"
    )
    parser.add_argument("--linear-model", default="linear", help="reward model of CausalLinear-v0")
    parser.add_argument("--sergio-model", default="sergio", help="reward model of SergioKnockout-v0")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-write", action="store_true", help="print only; do not write results/")
    args = parser.parse_args(argv)
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    models = {"linear": args.linear_model, "sergio": args.sergio_model}

    rows = []
    for env_id in args.env_ids:
        for copies in args.copies:
            for mode in args.modes:
                row = _run(env_id, copies, mode, models[domain_of(env_id)], args.min_seconds, args.seed)
                rows.append(row)
                print(
                    f"{env_id:20s} copies={copies:3d} {mode:7s} {row['env_steps_per_s']:9.1f} steps/s "
                    f"({row['env_steps_per_s_no_reward']:9.1f} without reward; sim {row['simulate_%']:4.1f}% "
                    f"reward {row['reward_%']:4.1f}%)",
                    flush=True,
                )
    table = pd.DataFrame(rows)
    summary = []
    for env_id in args.env_ids:
        for copies in args.copies:
            sel = table[(table.env_id == env_id) & (table.copies == copies)].set_index("mode")
            if {"sync", "native"} <= set(sel.index):
                ratio = sel.loc["native", "env_steps_per_s"] / sel.loc["sync", "env_steps_per_s"]
                ratio_nr = sel.loc["native", "env_steps_per_s_no_reward"] / sel.loc["sync", "env_steps_per_s_no_reward"]
                summary.append(
                    f"- {env_id}, {copies} copies: native / sync = {ratio:.1f}x with the reward model, "
                    f"{ratio_nr:.1f}x without it"
                )
    print("\n".join(summary))
    if not args.no_write:
        notes = (
            "Whole episodes with random actions at default kwargs (d=10, n0=50, T=10, k=1); env-steps are "
            "transitions, reset cost included. `*_no_reward` subtracts the time measured inside the reward "
            "model; `simulate_%`/`reward_%`/`other_%` split the wall time (other = history bookkeeping, "
            "action checks, Gymnasium wrappers, Python loops). single = a Python loop over `gym.make` envs, "
            "sync = `SyncVectorEnv`, native = `vector_entry_point` (one batched simulation and one reward "
            f"call per step). Reward models: {models}.\n\n" + "\n".join(summary)
        )
        write_results("env_speed", table, title="Environment throughput (env-steps/s)", notes=notes)
    return table


if __name__ == "__main__":
    main()
