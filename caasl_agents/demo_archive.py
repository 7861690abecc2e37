"""Demonstrations kept small enough to commit: the expert's actions, replayed into observations.

A folder of demonstration shards (:func:`caasl_agents.imitation.collect_demonstrations`) is large, about
7 KB of observations per design at ``d = 10``, and costly to make: the 5,200 designs of the greedy
exact-posterior designer behind the shipped linear clone took 85 minutes on the loaded 2-core machine
(about 2 CPU-s per design; on 2026-12-07, 20,800 more took at most 0.17 CPU-s each). ``runs/`` is
git-ignored and lost between sessions. Yet the observations are a deterministic function of the environment,
its kwargs, the episode seeds and the actions. An archive therefore keeps the
actions only (80 bytes per design at ``d = 10``), the shard layout and a sha256 of every shard's
observations; unpacking replays the actions through the same vector envs, rebuilds the shards and checks
every checksum, so a replay that differs from the collection (another simulator version, say) fails loudly
instead of training on other data. DAgger shards (played by a policy, labelled by the expert) keep both: the
played designs replay the observations, the expert's are the labels.

    python -m caasl_agents.demo_archive pack runs/demos/CausalLinear-v0 data/demonstrations/CausalLinear-v0-greedy.npz
    python -m caasl_agents.demo_archive unpack data/demonstrations/CausalLinear-v0-greedy.npz runs/demos/CausalLinear-v0
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from caasl_agents.imitation import play_shard, shard_behaviour, shard_path
from caasl_gym.registration import config_for, domain_of

FORMAT = 2
"""Version of the archive layout written by :func:`pack_demonstrations` (2 added the played designs and
each shard's behaviour; format 1 archives, whose expert played every shard, still unpack)."""
READABLE = (1, 2)
"""Archive formats :func:`unpack_demonstrations` reads."""


def obs_digest(obs: np.ndarray) -> str:
    """sha256 of a shard's observations ``(S, N, d, 3)`` as float32 bytes (shape included)."""
    obs = np.ascontiguousarray(obs, dtype=np.float32)
    return hashlib.sha256(repr(obs.shape).encode() + obs.tobytes()).hexdigest()


class _Recorded:
    """A strategy that plays recorded actions ``(S, d, k)``, ``size`` copies per step, in order."""

    name = "recorded"

    def __init__(self, actions: np.ndarray, size: int) -> None:
        self.actions, self.size, self.step = actions, size, 0

    def act(self, obs: np.ndarray, rngs: Any) -> np.ndarray:
        if self.step * self.size >= len(self.actions):
            raise ValueError(f"the episodes did not end after the {self.step} recorded steps")
        self.step += 1
        return self.actions[(self.step - 1) * self.size : self.step * self.size]


def replay_shard(env_id: str, env_kwargs: dict[str, Any], start: int, actions: np.ndarray) -> np.ndarray:
    """The observations ``(S, N, d, 3)`` that the actions ``(S, d, k)`` of the shard of episodes ``start ...``
    met when they were collected: :func:`~caasl_agents.imitation.play_shard`, the collection's own loop, with
    the recorded actions as the expert.

    Raises:
        ValueError: the actions do not fill whole episodes of the env's budget, or do not fit its action space.
    """
    budget = int(config_for(env_id, **env_kwargs).budget)
    if actions.ndim != 3 or actions.shape[0] % budget:
        raise ValueError(f"shard {start}: actions {actions.shape} are not whole episodes of budget {budget} (S, d, k)")
    size = actions.shape[0] // budget
    env = gym.make(env_id, **env_kwargs)
    shape = env.action_space.shape
    env.close()
    if actions.shape[1:] != shape:
        raise ValueError(f"shard {start}: actions {actions.shape[1:]} per design, the env takes {shape}")
    recorded = _Recorded(actions, size)
    obs, _, _ = play_shard(env_id, recorded, start, size, env_kwargs)
    if recorded.step != budget:
        raise ValueError(f"shard {start}: the episodes ended after {recorded.step} of {budget} recorded steps")
    return obs


def pack_demonstrations(folder: str | os.PathLike, out: str | os.PathLike, env_kwargs: dict[str, Any]) -> dict:
    """Write the archive ``out`` (``.npz``) of every shard in ``folder``; returns its metadata.

    Args:
        folder: a demonstrations folder: ``demos_<start>.npz`` shards and the ``expert.json`` that ``imitate``
            writes (env id, env kwargs, expert).
        out: the archive to write.
        env_kwargs: the kwargs to replay the shards with (:func:`replay_kwargs`: the collection's, any reward
            model; the checksums confirm that the replay reproduces every shard).

    Raises:
        FileNotFoundError: no ``expert.json`` or no shards.
        ValueError: a shard that its replay does not reproduce (its observations are not those of its actions).
    """
    folder = Path(folder)
    meta_path = folder / "expert.json"
    if not meta_path.is_file():
        raise FileNotFoundError(f"{folder}: no expert.json (not a demonstrations folder of caasl_agents.imitate)")
    meta = json.loads(meta_path.read_text())
    paths = sorted(folder.glob("demos_*.npz"))
    if not paths:
        raise FileNotFoundError(f"{folder}: no demos_*.npz shards")
    starts, actions, played, behaviours, digests = [], [], [], [], []
    for path in paths:
        start = int(path.stem.split("_")[1])
        with np.load(path) as shard:
            obs, act = shard["obs"], shard["actions"].astype(np.float32)
            play = shard["played"].astype(np.float32) if "played" in shard.files else act
            behaviour = shard_behaviour(shard)
        digest = obs_digest(obs)
        if obs_digest(replay_shard(meta["env"], env_kwargs, start, play)) != digest:
            raise ValueError(f"{path}: replaying its played designs does not reproduce its observations; not packed")
        starts.append(start)
        actions.append(act)
        played.append(play)
        behaviours.append(behaviour)
        digests.append(digest)
    lengths = [len(a) for a in actions]
    info = {"format": FORMAT, "env": meta["env"], "expert": meta.get("expert"), "expert_json": meta,
            "replay_env_kwargs": env_kwargs, "shards": len(paths), "designs": int(sum(lengths))}  # fmt: skip
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out, meta=np.array(json.dumps(info)), starts=np.array(starts, dtype=np.int64),
                        lengths=np.array(lengths, dtype=np.int64), actions=np.concatenate(actions),
                        played=np.concatenate(played), behaviours=np.array(behaviours),
                        obs_sha256=np.array(digests))  # fmt: skip
    return info


def unpack_demonstrations(archive: str | os.PathLike, folder: str | os.PathLike) -> int:
    """Rebuild the shards of ``archive`` in ``folder`` by replay; returns the number of shards written.

    Shards already in ``folder`` are kept when their observations match the archive's checksum (an
    interrupted unpack resumes) and refused otherwise, as is an ``expert.json`` of another expert or env.

    Raises:
        ValueError: a corrupt or unknown archive, a replay that does not reproduce a checksum, or a folder that
            holds other demonstrations.
    """
    archive, folder = Path(archive), Path(folder)
    try:
        with np.load(archive) as data:
            info = json.loads(str(data["meta"]))
            starts, lengths = data["starts"], data["lengths"]
            actions, digests = data["actions"], [str(d) for d in data["obs_sha256"]]
            played = data["played"] if "played" in data.files else actions
            behaviours = [str(b) for b in data["behaviours"]] if "behaviours" in data.files else [""] * len(starts)
    except (OSError, KeyError, ValueError) as err:
        raise ValueError(f"{archive}: not a demonstrations archive of caasl_agents.demo_archive ({err})") from None
    if info.get("format") not in READABLE:
        raise ValueError(f"{archive}: archive format {info.get('format')!r}, this version reads {READABLE}")
    missing = {"expert_json", "env", "replay_env_kwargs"} - set(info)
    if missing:
        raise ValueError(f"{archive}: its metadata lacks {', '.join(sorted(missing))} (corrupt archive)")
    if (len(starts) != len(lengths) or len(starts) != len(digests) or len(starts) != len(behaviours)
            or not int(lengths.sum()) == len(actions) == len(played)):  # fmt: skip
        raise ValueError(f"{archive}: its shard table disagrees with its {len(actions)} actions (corrupt archive)")
    meta = info["expert_json"]
    folder.mkdir(parents=True, exist_ok=True)
    meta_path = folder / "expert.json"
    if meta_path.is_file() and json.loads(meta_path.read_text()) != meta:
        raise ValueError(f"{folder} holds demonstrations of another expert or env ({meta_path})")
    meta_path.write_text(json.dumps(meta, indent=2))
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    written = 0
    for start, lo, hi, digest, behaviour in zip(starts.tolist(), offsets[:-1], offsets[1:], digests, behaviours,
                                                strict=True):  # fmt: skip
        path = shard_path(folder, start)
        if path.is_file():
            with np.load(path) as shard:
                if obs_digest(shard["obs"]) != digest:
                    raise ValueError(f"{path} exists and differs from the archive's shard {start}")
            continue
        act, play = actions[lo:hi], played[lo:hi]
        obs = replay_shard(info["env"], info["replay_env_kwargs"], start, play)
        if obs_digest(obs) != digest:
            raise ValueError(f"{archive}: replaying shard {start} does not reproduce its observations "
                             "(a changed simulator or a corrupt archive); nothing written for it")  # fmt: skip
        tmp = folder / f".tmp_{os.getpid()}_{start}.npz"
        extra = {"played": play, "behaviour": np.array(behaviour)} if behaviour else {}
        np.savez(tmp, obs=obs, actions=act, **extra)
        tmp.replace(path)
        written += 1
    return written


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m caasl_agents.demo_archive", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("pack", help="write the archive of a demonstrations folder")
    p.add_argument("folder")
    p.add_argument("out")
    p.add_argument("--env-kwargs", default=None, help="JSON env kwargs to replay the shards with (default: "
                   "expert.json's, with reward_model='linear' on linear ids)")  # fmt: skip
    u = sub.add_parser("unpack", help="rebuild the shards of an archive by replay")
    u.add_argument("archive")
    u.add_argument("folder")
    args = parser.parse_args(argv)
    try:
        if args.command == "pack":
            if args.env_kwargs is not None:
                kwargs = json.loads(args.env_kwargs)
            else:
                meta = json.loads((Path(args.folder) / "expert.json").read_text())
                kwargs = replay_kwargs(meta["env"], meta["env_kwargs"])
            info = pack_demonstrations(args.folder, args.out, kwargs)
            print(
                f"{args.out}: {info['shards']} shards, {info['designs']} designs of {info['expert']} on {info['env']}"
            )
        else:
            n = unpack_demonstrations(args.archive, args.folder)
            print(f"{args.folder}: {n} shards rebuilt")
    except (ValueError, FileNotFoundError) as err:
        raise SystemExit(f"demo_archive: {err}") from None


def replay_kwargs(env_id: str, env_kwargs: dict[str, Any]) -> dict[str, Any]:
    """Env kwargs to replay demonstrations of ``env_id`` with: the collection's ``env_kwargs``, with the cheap
    ``linear`` network as the reward model on linear ids (the observations do not depend on the reward model,
    and the exact posterior would make the replay slow; the checksums confirm every shard)."""
    return {**env_kwargs, "reward_model": "linear"} if domain_of(env_id) == "linear" else dict(env_kwargs)


if __name__ == "__main__":
    main(sys.argv[1:])
