"""Clone a likelihood-based designer into a CAASL policy: ``python -m caasl_agents.imitate --env CausalLinear-v0``.

1. Demonstrations: the expert runs on ``--demo-episodes`` training episodes; shards in ``--demo-dir`` resume
   after an interruption. ``--expert greedy`` (default, linear ids with d <= 12) is the greedy exact-posterior
   designer (:mod:`caasl_gym.baselines.greedy`), a method that sees the history only. ``--expert probe`` is
   the privileged one-step probe (:mod:`caasl_gym.evaluation.probe`) as a *training-time teacher* on any id:
   it scores its candidates on the episode's hidden model with the env's reward model, which the cloned
   policy never sees; the policy learns the designs the teacher makes from the histories alone, and is
   evaluated like every policy, on held-out episodes from observations only. ``--expert posterior-parents``
   (any id) is :class:`~caasl_gym.baselines.posterior_targets.PosteriorTargets`: one target per step, the
   variable with the most expected parents under the env's own reward model, discounted by coverage; a cheap
   method that sees the history only.
   With ``--dagger-policy ZIP --dagger-seeds S ...`` (DAgger), that policy (an earlier clone, its sampled
   designs) also plays the ranges of ``--dagger-seeds`` while the expert labels every state it visits, so the
   clone also learns what the expert does where its own designs lead; the zip's sha256 is kept with every
   such shard, and the clone trains on both kinds.
2. Behaviour cloning of the policy's actor (:func:`caasl_agents.imitation.behaviour_clone`).
3. Every ``--eval-every`` epochs the actor is checkpointed and scored on validation episodes (paired gain
   over Random, sampled designs and ``deterministic=True``); ``model.zip`` is the checkpoint with the best
   sampled gain (``--select-on deterministic``: the best deterministic one; ``both``: the best mean of the
   two), and ``selection.csv`` holds every score. ``python -m caasl_agents.pretrained.export RUN``
   ships it like a REDQ run (``config.json`` holds the architecture; ``imitation.json`` the command).

The architecture flags are the training CLI's (``python -m caasl_agents.train --help``); the REDQ-only
flags are stored with the policy but unused here.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch as th

from caasl_agents.common.cli import format_command, parse_config
from caasl_agents.common.vec_env import make_vec_env
from caasl_agents.evaluation import PolicyStrategy, policy_record
from caasl_agents.imitation import (
    behaviour_clone,
    calibrate_decisions,
    check_target_loss,
    collect_demonstrations,
    load_demonstrations,
)
from caasl_agents.redq import REDQ
from caasl_agents.train import TrainConfig, _new_run_dir
from caasl_gym.evaluation.seeds import TRAIN, VALIDATION, check_in_family
from caasl_gym.registration import config_for, domain_of
from caasl_gym.reward.loading import sha256_file

PROG = "python -m caasl_agents.imitate"
EXPERTS = ("greedy", "probe", "posterior-parents")
"""Valid ``--expert`` values (see the module docstring)."""
SELECT_ON = ("sampled", "deterministic", "both")
"""Valid ``--select-on`` values: the validation gain that picks ``model.zip`` (``both``: the mean of the modes')."""


@dataclass
class ImitateConfig(TrainConfig):
    """Clone the greedy exact-posterior designer into a CAASL policy (see the module docstring)."""

    demo_dir: str = ""
    """folder of demonstration shards (default <run-root>/demos/<env>); reused and extended when it exists"""
    demo_episodes: int = 800
    """training episodes demonstrated per start seed (seeds s + i for each s of --demo-seeds)"""
    demo_seeds: list[int] = field(default_factory=lambda: [0])
    """start seeds of the demonstrated episode ranges (train seeds 0..999999; several ranges let
    collections made in parallel be reused)"""
    dagger_policy: str = ""
    """a policy zip (an earlier clone) that plays the --dagger-seeds episodes, its designs sampled, while the
    expert labels every state it visits (DAgger)"""
    dagger_seeds: list[int] = field(default_factory=list)
    """start seeds of the episode ranges (of --demo-episodes each, train seeds, apart from --demo-seeds) that
    --dagger-policy plays"""
    expert: str = "greedy"
    """the designer to clone: greedy (the greedy exact-posterior designer, linear ids, d <= 12), probe (the
    privileged one-step probe as a training-time teacher, any id) or posterior-parents (one target per step by
    the env's own posterior, any id)"""
    expert_samples: int = 32
    """posterior SCM samples M of the greedy designer; noise repetitions per candidate of the probe"""
    expert_candidates: int = 24
    """candidate designs per step of the greedy designer; uniform candidates per step of the probe (besides
    the observational design and every single target)"""
    epochs: int = 30
    """passes over the demonstrations"""
    bc_batch_size: int = 64
    """demonstrations per gradient step"""
    bc_learning_rate: float = 3e-4
    """Adam step size of the cloning"""
    decision_weight: float = 1.0
    """weight of the class-balanced term that makes the deterministic design target as many variables as the
    expert (0: likelihood only; see caasl_agents.imitation.clone_loss)"""
    target_loss: str = "gaussian"
    """likelihood of the expert's targets: gaussian (of the +-1 action entries before the tanh) or bernoulli (of
    the expert's design under the policy's sampled designs; see caasl_agents.imitation.clone_loss)"""
    calibrate: bool = True
    """shift the target means so the deterministic design targets the expert's share of variables on the
    held-out demonstrations (caasl_agents.imitation.calibrate_decisions), before each validation"""
    eval_every: int = 10
    """epochs between validation checkpoints"""
    select_on: str = "sampled"
    """the validation gain that picks model.zip among the checkpoints: sampled, deterministic, or both (the
    mean of the two modes' gains)"""

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ["demo_episodes", "expert_samples", "expert_candidates", "epochs", "bc_batch_size", "eval_every"]:
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.expert not in EXPERTS:
            raise ValueError(f"unknown expert {self.expert!r}; valid choices: {', '.join(EXPERTS)}")
        check_target_loss(self.target_loss)
        if self.select_on not in SELECT_ON:
            raise ValueError(f"unknown select_on {self.select_on!r}; valid choices: {', '.join(SELECT_ON)}")
        starts = sorted(self.demo_seeds + self.dagger_seeds)
        if not self.demo_seeds or any(b < a + self.demo_episodes for a, b in itertools.pairwise(starts)):
            raise ValueError(
                f"--demo-seeds {self.demo_seeds} and --dagger-seeds {self.dagger_seeds} must be ranges of "
                "--demo-episodes that do not overlap, with at least one --demo-seeds"
            )
        if bool(self.dagger_policy) != bool(self.dagger_seeds):
            raise ValueError("--dagger-policy and --dagger-seeds go together: the policy plays those ranges")
        if self.dagger_policy and not Path(self.dagger_policy).is_file():
            raise ValueError(f"--dagger-policy {self.dagger_policy}: no such file (a policy .zip)")
        if not self.bc_learning_rate > 0:
            raise ValueError(f"bc_learning_rate must be > 0, got {self.bc_learning_rate}")


def expert_for(cfg: ImitateConfig):
    """The designer of ``cfg.expert``: the greedy exact-posterior designer for the env's prior, the probe, or
    the posterior-parents heuristic on the env's reward model."""
    from caasl_gym.baselines.greedy import GreedyExactDesigner
    from caasl_gym.baselines.posterior_targets import PosteriorTargets
    from caasl_gym.evaluation.probe import PrivilegedProbe

    if cfg.expert == "probe":
        return PrivilegedProbe(n_random=cfg.expert_candidates, n_noise=cfg.expert_samples)
    if cfg.expert == "posterior-parents":
        return PosteriorTargets.for_config(config_for(cfg.env, **cfg.env_kwargs), criterion="parents")
    if domain_of(cfg.env) != "linear":
        raise ValueError(f"the greedy exact-posterior expert needs a linear id (d <= 12); {cfg.env} is not one")
    config = config_for(cfg.env, **cfg.env_kwargs)
    return GreedyExactDesigner.for_config(config, n_samples=cfg.expert_samples, n_candidates=cfg.expert_candidates)


def demo_ranges(cfg: ImitateConfig, dagger: bool = False) -> list[range]:
    """The episode ranges that the expert plays (or, with ``dagger``, that ``--dagger-policy`` plays), one per
    start seed."""
    return [range(s, s + cfg.demo_episodes) for s in (cfg.dagger_seeds if dagger else cfg.demo_seeds)]


def _demonstrate(cfg: ImitateConfig, folder: Path, dagger_sha256: str) -> None:
    expert = expert_for(cfg)
    meta = {"env": cfg.env, "env_kwargs": cfg.env_kwargs, "expert": expert.name,
            "expert_samples": cfg.expert_samples, "expert_candidates": cfg.expert_candidates}  # fmt: skip
    folder.mkdir(parents=True, exist_ok=True)
    meta_path = folder / "expert.json"
    if meta_path.is_file() and json.loads(meta_path.read_text()) != meta:
        raise ValueError(f"{folder} holds demonstrations of another expert or env ({meta_path}); pass --demo-dir")
    meta_path.write_text(json.dumps(meta, indent=2))
    for episodes in demo_ranges(cfg) + demo_ranges(cfg, dagger=True):
        check_in_family(episodes, TRAIN, "demonstration episodes (--demo-seeds, --dagger-seeds, --demo-episodes)")
    # observations do not depend on the env's reward model: on linear ids the cheap network stands in for the
    # exact one, except for the probe, which scores its candidates with it (the posterior expert has its own)
    cheap = domain_of(cfg.env) == "linear" and cfg.expert != "probe"
    kwargs = {**cfg.env_kwargs, "reward_model": "linear"} if cheap else dict(cfg.env_kwargs)
    for episodes in demo_ranges(cfg):
        collect_demonstrations(cfg.env, expert, episodes, folder, env_kwargs=kwargs, progress=cfg.progress_bar)
    if cfg.dagger_policy:
        behaviour = PolicyStrategy(REDQ.load(cfg.dagger_policy, device="cpu"), name="DAgger behaviour")
        behaviour_id = f"sha256:{dagger_sha256}"
        for episodes in demo_ranges(cfg, dagger=True):
            collect_demonstrations(cfg.env, expert, episodes, folder, env_kwargs=kwargs, progress=cfg.progress_bar,
                                   behaviour=behaviour, behaviour_id=behaviour_id)  # fmt: skip


def imitate(cfg: ImitateConfig) -> Path:
    """Demonstrate, clone and select as configured; returns the run folder."""
    if cfg.torch_threads:
        th.set_num_threads(cfg.torch_threads)
    check_in_family(range(cfg.eval_seed, cfg.eval_seed + cfg.eval_episodes), VALIDATION, "--eval-seed")
    folder = Path(cfg.demo_dir or Path(cfg.run_root) / "demos" / cfg.env)
    dagger_sha256 = sha256_file(cfg.dagger_policy) if cfg.dagger_policy else ""
    _demonstrate(cfg, folder, dagger_sha256)
    parts = [load_demonstrations(folder, episodes) for episodes in demo_ranges(cfg) + demo_ranges(cfg, dagger=True)]
    obs, actions = np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
    run_dir = _new_run_dir(cfg)
    train_fields = {f.name for f in dataclasses.fields(TrainConfig)}
    train_cfg = TrainConfig(**{k: v for k, v in dataclasses.asdict(cfg).items() if k in train_fields})
    (run_dir / "config.json").write_text(json.dumps(dataclasses.asdict(train_cfg), indent=2))
    command = format_command(cfg, PROG, frozenset({"run_root", "progress_bar", "verbose", "demo_dir"}), ("env",))
    record = {"command": command, **dataclasses.asdict(cfg)}
    if cfg.dagger_policy:
        record["dagger_policy_sha256"] = dagger_sha256
    (run_dir / "imitation.json").write_text(json.dumps(record, indent=2))
    venv = make_vec_env(cfg.env, 1, seed=cfg.seed, env_kwargs=cfg.env_kwargs)
    model = REDQ("TransformerPolicy", venv, **train_cfg.model_kwargs())
    venv.close()
    print(f"run folder: {run_dir}; {len(obs)} demonstrations from {folder}")
    records, ckpt_dir, start = [], run_dir / "checkpoints", time.perf_counter()
    ckpt_dir.mkdir()

    def select(epoch: int, record: dict) -> None:
        print(f"epoch {epoch}: train nll {record['train_nll']:.3f}, validation nll {record['val_nll']:.3f}")
        if epoch % cfg.eval_every and epoch != cfg.epochs:
            return
        if cfg.calibrate:  # on a copy: training goes on from the uncalibrated actor
            shifted = REDQ.load(_save(model, ckpt_dir / "uncalibrated.zip"), device="cpu")
            record["calibration"] = calibrate_decisions(shifted.policy, obs[split:], actions[split:])
        else:
            shifted = model
        shifted.save(ckpt_dir / f"epoch_{epoch}.zip")
        for deterministic in (False, True):
            rec = policy_record(shifted, cfg.env, cfg.eval_episodes, cfg.eval_seed, cfg.env_kwargs, deterministic)
            records.append({**record, "deterministic": deterministic, "wall_s": time.perf_counter() - start, **rec})
            print(
                f"  {'deterministic' if deterministic else 'sampled'}: gain {rec['gain']:+.3f} ± {rec['gain_ci95']:.3f}"
            )
        pd.DataFrame(records).to_csv(run_dir / "selection.csv", index=False)

    split = len(obs) - round(0.1 * len(obs))  # behaviour_clone's held-out tail
    rng = np.random.default_rng([cfg.seed, 7])
    behaviour_clone(model.policy, obs, actions, epochs=cfg.epochs, batch_size=cfg.bc_batch_size,
                    learning_rate=cfg.bc_learning_rate, rng=rng,
                    decision_weight=cfg.decision_weight, target_loss=cfg.target_loss, callback=select)  # fmt: skip
    best = selected_epoch(pd.DataFrame(records), cfg.select_on)
    model = REDQ.load(ckpt_dir / f"epoch_{best}.zip", device="cpu")
    model.save(run_dir / "model.zip")
    gain = "mean gain of both modes" if cfg.select_on == "both" else f"{cfg.select_on} gain"
    print(f"selected epoch {best} (largest {gain} on validation episodes {cfg.eval_seed}+i): {run_dir}/model.zip")
    return run_dir


def selected_epoch(table: pd.DataFrame, select_on: str = "sampled") -> int:
    """The epoch of ``selection.csv``'s ``table`` with the largest validation gain of ``select_on``
    (:data:`SELECT_ON`; ``both``: the mean of the two modes' gains); ties go to the earlier epoch."""
    gains = table.pivot_table(index="epoch", columns="deterministic", values="gain")  # (epochs, modes)
    score = gains.mean(axis=1) if select_on == "both" else gains[select_on == "deterministic"]
    return int(score.idxmax())


def _save(model: REDQ, path: Path) -> Path:
    model.save(path)
    return path


def main(argv: list[str] | None = None) -> Path:
    cfg, _ = parse_config(ImitateConfig, argv, prog=PROG)
    try:
        return imitate(cfg)
    except (ValueError, FileNotFoundError) as err:
        raise SystemExit(f"imitate: {err}") from None


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main(sys.argv[1:])
