"""Speed of the CAASL agents on CPU: batched critic ensemble vs a loop, and design latency.

Measures, with ``--threads`` torch threads (default 1: the most stable on a shared machine):

1. REDQ gradient steps per second with N = 10 critics (M = 2), the critic ensemble computed as one
   batched computation vs a Python loop over the same critics (identical parameters and numbers),
   for one encoder per critic ("separate", the paper's) and one shared critic encoder ("shared");
   also the critic forward+backward alone, where the loop/batch difference is concentrated;
2. design latency: one deterministic policy forward (batch 1) at d = 10, 20, 30 (N = 60 rows);
3. with ``--returns``: what sharing the critic encoder costs in returns, training both variants with
   a few seeds on the toy design task and on a small ``CausalLinear-v0`` (d = 4, n0 = 10, T = 4).

Run: ``python -m benchmarks.agents_speed [--threads 1] [--returns]``; writes
``benchmarks/results/agents_speed.{csv,md}``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

import gymnasium as gym
import numpy as np
import pandas as pd
import torch as th

from benchmarks._common import markdown_table, write_results
from caasl_agents import REDQ, make_vec_env, predict_any_d
from caasl_agents.common.envs import TOY_ENV_ID
from caasl_agents.redq.policies import EnsembleCritic

TOY_SMALL = dict(num_nodes=3, n_initial=2, budget=3)  # history N = 5 rows of d = 3 variables
TOY_PAPER = dict(num_nodes=10, n_initial=50, budget=10)  # N = 60 rows of d = 10 (CausalLinear-v0's shape)
SMALL_NET = dict(features_dim=16, n_layers=1)
PAPER_NET = dict(features_dim=32, n_layers=2)  # the default architecture
SPEED_SETTINGS = [
    # name, toy-env kwargs, encoder kwargs, batch size, timed repeats
    ("d=3, N=5, dim 16, 1 layer", TOY_SMALL, SMALL_NET, 8, 30),
    ("d=3, N=5, dim 16, 1 layer", TOY_SMALL, SMALL_NET, 64, 15),
    ("d=10, N=60, dim 32, 2 layers", TOY_PAPER, PAPER_NET, 32, 3),
]
VARIANTS = ("batched", "loop")


def use_loop(critic: EnsembleCritic) -> None:
    """Make ``critic`` evaluate its members one at a time (same parameters, same numbers)."""
    critic.encode = critic.encode_looped  # type: ignore[method-assign]
    critic.q_values = critic.q_values_looped  # type: ignore[method-assign]


def make_model(
    env_kwargs: dict, encoder_kwargs: dict, critic_encoder: str, batch_size: int, device: str = "cpu"
) -> REDQ:
    env = make_vec_env(TOY_ENV_ID, 4, seed=0, env_kwargs=env_kwargs)
    policy_kwargs = dict(
        n_critics=10,
        critic_encoder=critic_encoder,
        features_extractor_kwargs=dict(n_heads=4, **encoder_kwargs),
    )
    return REDQ(
        "TransformerPolicy", env, buffer_size=2_000, learning_starts=10**9, batch_size=batch_size, seed=0,
        device=device, policy_kwargs=policy_kwargs,
    )  # fmt: skip


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        th.cuda.synchronize()


def interleaved_medians(fns: dict[str, Any], repeats: int, device: str) -> dict[str, float]:
    """Median seconds per call of each function, timed in alternation (robust to load drift)."""
    for fn in fns.values():  # warm-up
        fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            _sync(device)
            start = time.perf_counter()
            fn()
            _sync(device)
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def gradient_step_speed(device: str) -> pd.DataFrame:
    rows = []
    for name, env_kwargs, encoder_kwargs, batch, repeats in SPEED_SETTINGS:
        for critic_encoder in ("separate", "shared"):
            fns = {}
            for variant in VARIANTS:  # identical seeds: identical parameters and replay data
                model = make_model(env_kwargs, encoder_kwargs, critic_encoder, batch, device)
                model.learn(4 * batch)  # fill the buffer with random-action transitions
                if variant == "loop":
                    use_loop(model.critic)
                    use_loop(model.critic_target)
                data = model.replay_buffer.sample(batch)

                def critic_update(critic: EnsembleCritic = model.critic, data=data) -> None:
                    q = critic.q_values(critic.encode(data.observations), data.actions)
                    critic.optimizer.zero_grad()
                    q.square().mean().backward()

                fns[f"{variant} step"] = lambda m=model, b=batch: m.train(1, b)
                fns[f"{variant} critic"] = critic_update
            med = interleaved_medians(fns, repeats, device)
            result: dict[str, Any] = {"setting": name, "critic_encoder": critic_encoder, "batch": batch}
            for variant in VARIANTS:
                result[f"{variant} steps/s"] = 1.0 / med[f"{variant} step"]
            result["speedup (step)"] = med["loop step"] / med["batched step"]
            for variant in VARIANTS:
                result[f"{variant} critic fwd+bwd ms"] = 1e3 * med[f"{variant} critic"]
            result["speedup (critic)"] = med["loop critic"] / med["batched critic"]
            print(result, flush=True)
            rows.append(result)
    return pd.DataFrame(rows)


def design_latency(device: str) -> pd.DataFrame:
    model = make_model(TOY_PAPER, PAPER_NET, "shared", 32, device)
    rows = []
    for d in (10, 20, 30):
        venv = gym.make_vec(TOY_ENV_ID, num_envs=1, num_nodes=d, n_initial=50, budget=10)
        obs, _ = venv.reset(seed=0)
        obs_t = th.as_tensor(obs, device=model.device)

        def actor_forward(actor=model.actor, obs_t=obs_t) -> None:
            with th.no_grad():
                actor(obs_t, deterministic=True)

        def design(obs=obs[0]) -> None:
            predict_any_d(model, obs)

        calls = {"actor": actor_forward, "predict_any_d": design}
        times: dict[str, list[float]] = {k: [] for k in calls}
        for _ in range(200):
            for k, fn in calls.items():
                _sync(device)
                start = time.perf_counter()
                fn()
                _sync(device)
                times[k].append(time.perf_counter() - start)
        rows.append(
            {
                "d": d,
                "rows N": obs.shape[1],
                "actor forward ms (median)": 1e3 * statistics.median(times["actor"]),
                "actor forward ms (min)": 1e3 * min(times["actor"]),
                "predict_any_d ms (median)": 1e3 * statistics.median(times["predict_any_d"]),
            }
        )
    return pd.DataFrame(rows)


def held_out_return(env_id: str, env_kwargs: dict, policy_fn, seed: int) -> float:
    """Mean return of ``policy_fn`` on 100 held-out episodes (reset seed ``10**6 + seed``)."""
    venv = gym.make_vec(env_id, num_envs=100, **env_kwargs)
    obs, _ = venv.reset(seed=10**6 + seed)
    total, done = np.zeros(100), np.zeros(100, bool)
    while not done.all():
        obs, rewards, terminated, truncated, _ = venv.step(policy_fn(obs))
        total += np.where(done, 0.0, rewards)
        done |= terminated | truncated
    return float(total.mean())


def train_and_evaluate(env_id: str, env_kwargs: dict, critic_encoder: str, seed: int, steps: int) -> float:
    env = make_vec_env(env_id, 8, seed=seed, env_kwargs=env_kwargs)
    policy_kwargs = dict(critic_encoder=critic_encoder, features_extractor_kwargs=dict(features_dim=16, n_layers=1))
    model = REDQ(
        "TransformerPolicy", env, buffer_size=20_000, learning_starts=200, batch_size=64, gamma=0.9,
        gradient_steps=4, learning_rate=1e-3, critic_learning_rate=3e-4, ent_coef="auto_0.05", seed=seed,
        device="cpu", policy_kwargs=policy_kwargs,
    )  # fmt: skip
    model.learn(steps)
    return held_out_return(env_id, env_kwargs, lambda obs: predict_any_d(model, obs), seed)


def shared_vs_separate_returns(seeds: tuple[int, ...] = (0, 1)) -> pd.DataFrame:
    import caasl_gym  # noqa: F401  (registers CausalLinear-v0)

    tasks = [
        ("toy design task (d=3, T=3)", TOY_ENV_ID, {}, 1_200),
        (
            "CausalLinear-v0 (d=4, n0=10, T=4)",
            "CausalLinear-v0",
            dict(num_nodes=4, n_initial=10, budget=4),
            3_200,
        ),
    ]
    rows = []
    for name, env_id, env_kwargs, steps in tasks:
        row: dict[str, Any] = {"task": name, "env steps": steps, "seeds": len(seeds)}
        rng = np.random.default_rng(0)

        def random_design(obs: np.ndarray, rng: np.random.Generator = rng) -> np.ndarray:
            return rng.uniform(-1.0, 1.0, (obs.shape[0], obs.shape[2], 2)).astype(np.float32)

        random_returns = [held_out_return(env_id, env_kwargs, random_design, s) for s in seeds]
        row["random return"] = float(np.mean(random_returns))
        for critic_encoder in ("separate", "shared"):
            start = time.perf_counter()
            returns = [train_and_evaluate(env_id, env_kwargs, critic_encoder, s, steps) for s in seeds]
            row[f"{critic_encoder} return"] = float(np.mean(returns))
            row[f"{critic_encoder} per-seed"] = " / ".join(f"{r:.2f}" for r in returns)
            row[f"{critic_encoder} train s/seed"] = (time.perf_counter() - start) / len(seeds)
        print(row, flush=True)
        rows.append(row)
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default: 1)")
    parser.add_argument("--returns", action="store_true", help="also train shared vs separate (minutes)")
    parser.add_argument("--device", default="cpu", help="torch device (results: agents_speed_<device>)")
    args = parser.parse_args(argv)
    th.set_num_threads(args.threads)

    speed = gradient_step_speed(args.device)
    latency = design_latency(args.device)
    print(latency, flush=True)
    notes = [
        "**Design latency**: one deterministic policy forward, batch 1, default architecture "
        "(dim 32, 2 attention pairs, 4 heads); 200 calls.",
        "",
        markdown_table(latency),
    ]
    if args.returns:
        returns = shared_vs_separate_returns()
        notes += [
            "",
            "**Shared vs separate critic encoders: returns**: mean over seeds of the mean return of the "
            "deterministic policy on 100 held-out episodes (Random on the same episodes); 8 envs, "
            "batch 64, UTD 0.5, dim 16, 1 attention pair, N = 10, M = 2. These budgets are far too short "
            "to beat Random on CausalLinear; they compare the two critic variants at equal training.",
            "",
            markdown_table(returns),
        ]
    notes += [
        "",
        "**Gradient steps** (table below): REDQ gradient steps per second (N = 10 critics, M = 2, one "
        "`train(1)` call: actor, critics, entropy coefficient, Polyak update) with the critic ensemble "
        "batched vs looped over critics (`EnsembleCritic.encode_looped`/`q_values_looped`: the same "
        "parameters and numbers), timed in alternation, medians. 'critic fwd+bwd' is the critic "
        "ensemble's forward and backward alone. Per-variable heads 128-128, 4 attention heads; "
        "histories from the toy design env (caasl_gym's layout).",
    ]
    name = "agents_speed" if args.device == "cpu" else f"agents_speed_{args.device.replace(':', '')}"
    path = write_results(name, speed, title=f"caasl_agents speed ({args.device})", notes="\n".join(notes))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
