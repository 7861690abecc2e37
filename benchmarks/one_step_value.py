"""Can the history tell which multi-target design pays? A learned one-step value, on SERGIO and linear ids.

On SergioKnockout-v0 the privileged probe gains about +1.07 over Random by simulating random gene sets on the
hidden model; restricted to single knockouts it gains +0.78, what Posterior-parents (history only) gains. On
CausalLinear-v0 the greedy exact-posterior designer (history only, 0.1-0.2 s per design) gains about +4.7,
and the shipped policy, a per-variable clone of it, about +2.3 / +3.1. This benchmark asks whether a network
that scores whole candidate designs from the history's posterior finds that gain:

1. **collect** (training seeds ``0..``; chunks of 50 episodes under ``--data-dir``/<id> resume): at every step
   ``C`` candidate designs of the state (observational, each single target, ``--n-random`` random sets of
   2..d variables) are scored, and the episode plays a teacher's design, or a random candidate with
   probability 1/2. SERGIO (:class:`Collector`, PRIVILEGED): the probe's simulator scores each candidate on the
   episode's hidden model with one common noise draw; the teacher is Posterior-parents. Linear ids with
   ``d <= 12`` (:class:`TeacherCollector`, not privileged): the greedy exact-posterior designer's criterion (EIG
   over 32 posterior samples) scores each candidate and the sets it grows from its best single target
   (:func:`forward_path`; ``d - 1`` more candidates), and the teacher is that designer; targets take the value
   +1, as its do. Kept per state: the reward model's edge probabilities ``(d, d)`` of the history, how often
   each variable was targeted ``(d,)``, the candidates' target sets ``(C, d)`` and scores ``(C,)``, and the
   history itself ``(N, d, 3)``.
2. **train**: :class:`~caasl_agents.value.ValueNet` regresses each candidate's score minus the mean over its
   state's candidates (MSE), on 90% of the states; the curve on the other 10% is written with the results.
   ``--no-path-labels`` fits the fixed candidates only (:func:`fixed_candidates`): the forward path's scores are
   maxima of the noisy criterion that grew it, so they are biased upwards.
   ``--save PATH`` writes the network and its sidecar (:func:`~caasl_agents.value.save_value_net`).
3. **evaluate** (validation seeds): :class:`~caasl_agents.value.ValueDesigner` plays the candidate (fresh ones
   each step, from the episode's generator) with the largest predicted value, paired with a reference. SERGIO:
   with every candidate size and without the *null experiment* that knocks out every gene (its rows are all zero, so it
   says nothing about the graph), against Posterior-parents, round-robin and Random. Linear: with and without
   its own forward path, against the greedy designer (the reference), the shipped policy in both modes,
   Random-extreme and Random.

On SERGIO the simulator is used to make training data only, as the reward model's own training data is
simulated; every designer reads the history alone.

    python -m benchmarks.one_step_value --train-episodes 2000 --workers 2 --out one_step_value_sergio
    python -m benchmarks.one_step_value --env CausalLinear-v0 --train-episodes 1200 --offset 2600000 \
        --n-envs 200 --out one_step_value_linear   # --read-history --out one_step_value_linear_history
                                                   # --no-path-labels --out one_step_value_linear_fixed

Outputs ``benchmarks/results/<out>.{csv,md}`` (gains) and ``<out>_training.{csv,md}`` (the curve).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch as th

from benchmarks._common import add_seed_block_args, command_line, print_table, write_results
from caasl_agents import available_pretrained, load_pretrained
from caasl_agents.evaluation import PolicyStrategy
from caasl_agents.value import ValueDesigner, ValueNet, save_value_net
from caasl_agents.value.designer import as_actions, candidate_sets, forward_path, history_posterior64
from caasl_agents.value.network import gene_statistics
from caasl_agents.value.shipped import reward_model_of
from caasl_gym.baselines.greedy import GreedyExactDesigner
from caasl_gym.baselines.posterior_targets import PosteriorTargets
from caasl_gym.evaluation import VALIDATION, RandomStrategy, RoundRobinStrategy, final, summarize
from caasl_gym.evaluation.probe import PrivilegedProbe
from caasl_gym.evaluation.rollout import rollout
from caasl_gym.evaluation.seeds import TRAIN, check_in_family
from caasl_gym.registration import config_for, domain_of

ENV_ID = "SergioKnockout-v0"
CHUNK = 50
"""Episodes per data chunk (one file each, so an interrupted collection resumes)."""
DEFAULT_OFFSET = 2_100_000


class Collector(PrivilegedProbe):
    """The data of step 1 (module docstring): scores every candidate on the hidden model, then plays
    Posterior-parents or, with probability 1/2, a random candidate. PRIVILEGED: for training data only."""

    def __init__(self, model: Any, n_random: int) -> None:
        super().__init__(n_random=n_random, name="one-step value collector")
        self.model, self.teacher, self.records = model, PosteriorTargets(model), []

    def act(self, obs: np.ndarray, rngs: Sequence[np.random.Generator]) -> np.ndarray:
        obs = np.asarray(obs)
        batch, d = obs.shape[0], obs.shape[2]
        sets = np.stack([candidate_sets(rng, d, self.n_random, d) for rng in rngs])  # (B, C, d)
        cands = np.stack([as_actions(s, rng) for s, rng in zip(sets, rngs)])  # (B, C, d, 2)
        seeds = np.array([rng.integers(0, 2**63) for rng in rngs])
        scores = self.candidate_scores(obs, cands, seeds)  # (B, C)
        probs, counts = history_posterior64(self.model, obs)
        self.records.append(dict(probs=probs.astype(np.float32), counts=counts.astype(np.float32), sets=sets,
                                 scores=scores.astype(np.float32), obs=obs.astype(np.float32)))  # fmt: skip
        explore = np.array([rng.random() < 0.5 for rng in rngs])
        picked = np.array([rng.integers(sets.shape[1]) for rng in rngs])
        teacher = self.teacher.design(self.teacher.scores_from(probs, counts), rngs)
        return np.where(explore[:, None, None], cands[np.arange(batch), picked], teacher)


def greedy_choice(values: np.ndarray, path_values: np.ndarray, d: int) -> int:
    """Index into ``concat(base, path)`` of the greedy teacher's design (:mod:`caasl_gym.baselines.greedy`):
    the best base candidate (``values`` ``(C,)``, singles at ``1..d``), unless the forward path ``(R,)`` from the
    best single, followed while each round improves, ends higher."""
    best = int(np.argmax(values))
    current, end = float(values[1 : d + 1].max()), None
    for r, v in enumerate(path_values):
        if v <= current:
            break
        current, end = float(v), len(values) + r
    return end if end is not None and current > values[best] else best


class TeacherCollector:
    """The data of step 1 on the linear domain (module docstring): the greedy exact-posterior designer's criterion
    (EIG by default) of every candidate and of its forward path, then its design or, with probability 1/2, a
    random candidate. Not privileged: the teacher reads the history only. Targets take the value +1, as the
    teacher's."""

    name = "one-step value collector (greedy teacher)"

    def __init__(self, model: Any, config: Any, n_random: int) -> None:
        self.model, self.n_random, self.records = model, n_random, []
        self.teacher = GreedyExactDesigner.for_config(config)

    def state(self, obs: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The candidate sets ``(C, d)``, their criterion ``(C,)`` and the played action ``(d, 2)`` of one history
        ``(N, d, 3)``."""
        d = obs.shape[1]
        base = candidate_sets(rng, d, self.n_random, d)  # (C0, d)
        criterion = self.teacher.criterion_for(obs, rng)
        values = criterion(as_actions(base, rng, 1.0))
        start = base[1 + int(np.argmax(values[1 : d + 1]))]
        path, path_values = forward_path(lambda g: criterion(as_actions(g[0], rng, 1.0))[None], start[None])
        sets, scores = np.concatenate([base, path[0]]), np.concatenate([values, path_values[0]])
        pick = int(rng.integers(len(base))) if rng.random() < 0.5 else greedy_choice(values, path_values[0], d)
        return sets, scores, as_actions(sets[pick], rng, 1.0)

    def act(self, obs: np.ndarray, rngs: Sequence[np.random.Generator]) -> np.ndarray:
        obs = np.asarray(obs)
        sets, scores, played = zip(*(self.state(o, rng) for o, rng in zip(obs, rngs)))
        probs, counts = history_posterior64(self.model, obs)
        self.records.append(dict(probs=probs.astype(np.float32), counts=counts.astype(np.float32),
                                 sets=np.stack(sets), scores=np.stack(scores).astype(np.float32),
                                 obs=obs.astype(np.float32)))  # fmt: skip
        return np.stack(played)


def collector_for(env_id: str, n_random: int, env_kwargs: dict | None = None) -> Collector | TeacherCollector:
    """:class:`TeacherCollector` on the linear domain (``d <= 12``), the privileged :class:`Collector` elsewhere."""
    config = config_for(env_id, **(env_kwargs or {}))
    model = reward_model_of(env_id, env_kwargs)
    if domain_of(env_id) == "linear":
        return TeacherCollector(model, config, n_random)
    return Collector(model, n_random)


def collect_chunk(
    env_id: str, seed: int, n_random: int, path: str, n_episodes: int = CHUNK, env_kwargs: dict | None = None
) -> str:
    """Collect the training episodes ``seed + i``, ``i < n_episodes``, of ``env_id`` into ``path`` (``.npz``,
    one row per state)."""
    th.set_num_threads(1)
    collector = collector_for(env_id, n_random, env_kwargs)
    rollout(env_id, collector, n_episodes, seed, env_kwargs, chunk_size=n_episodes)
    data = {k: np.concatenate([r[k] for r in collector.records]) for k in collector.records[0]}
    tmp = Path(path).with_suffix(".tmp.npz")
    np.savez_compressed(tmp, **data)
    tmp.replace(path)
    return path


def collect(
    env_id: str,
    data_dir: Path,
    n_episodes: int,
    n_random: int,
    workers: int,
    env_kwargs: dict | None = None,
    chunk: int = CHUNK,
) -> dict[str, np.ndarray]:
    """Every ``chunk`` of the first ``n_episodes`` training episodes (missing ones collected in ``workers``
    processes), concatenated: ``probs (S, d, d)``, ``counts (S, d)``, ``sets (S, C, d)``, ``scores (S, C)`` and the
    histories ``obs (S, N, d, 3)`` (absent from SERGIO chunks collected before they were kept).
    Chunk files are named by their first seed and ``n_random`` only: one ``data_dir`` per id and kwargs.

    Raises:
        ValueError: ``n_episodes`` is not a positive multiple of ``chunk``.
    """
    if n_episodes < chunk or n_episodes % chunk:
        raise ValueError(f"the training episodes must be a positive multiple of {chunk}, got {n_episodes}")
    check_in_family(range(n_episodes), TRAIN, "training seeds")
    data_dir.mkdir(parents=True, exist_ok=True)
    paths = [data_dir / f"chunk_{s:07d}_c{n_random}.npz" for s in range(0, n_episodes, chunk)]
    todo = [(env_id, int(p.stem.split("_")[1]), n_random, str(p), chunk, env_kwargs) for p in paths if not p.exists()]
    if todo:
        print(f"collecting {len(todo)} chunks of {chunk} episodes in {workers} processes", flush=True)
        start = time.time()
        with ProcessPoolExecutor(workers) as pool:
            for i, done in enumerate(pool.map(collect_chunk, *zip(*todo)), 1):
                print(f"  {i}/{len(todo)} {Path(done).name} after {time.time() - start:.0f} s", flush=True)
    parts = [np.load(p) for p in paths]
    return {k: np.concatenate([z[k] for z in parts]) for k in parts[0].files}


def fixed_candidates(data: dict[str, np.ndarray], n_random: int) -> dict[str, np.ndarray]:
    """``data`` of :func:`collect` restricted to the candidates drawn before any was scored: the observational
    design, the single targets and the ``n_random`` random sets (``sets (S, 1 + d + n_random, d)``); on the linear
    domain this drops the teacher's forward path, whose scores are maxima of the criterion that chose them."""
    n_fixed = 1 + data["sets"].shape[2] + n_random
    return {**data, "sets": data["sets"][:, :n_fixed], "scores": data["scores"][:, :n_fixed]}


def train(
    data: dict[str, np.ndarray], epochs: int, seed: int, batch: int = 64, history: bool = False
) -> tuple[ValueNet, pd.DataFrame]:
    """Fit a :class:`ValueNet` (step 2 of the module docstring; ``history``: one that reads the raw histories,
    ``data["obs"]``); the curve has, per epoch, the held-out MSE, the held-out share of variance it explains, and
    the centred score of the candidate it picks next to Posterior-parents' pick and the best candidate (the
    scores are noisy, so ``best`` is optimistic).

    Raises:
        ValueError: ``history`` with data that holds no histories.
    """
    if history and "obs" not in data:
        raise ValueError(
            "--read-history needs data collected with the histories: chunks of an older collection "
            "lack them; collect into a fresh --data-dir"
        )
    th.manual_seed(seed)
    rng = np.random.default_rng(seed)
    gene = gene_statistics(data["probs"], data["counts"])  # (S, d, 9), once for every epoch
    probs, counts, sets = (th.as_tensor(data[k]) for k in ("probs", "counts", "sets"))
    obs = th.as_tensor(data["obs"]) if history else None

    def value(net: ValueNet, i: np.ndarray) -> th.Tensor:
        return net(gene[i], probs[i], counts[i], sets[i], None if obs is None else obs[i])

    scores = data["scores"].astype(np.float64)
    target = th.as_tensor(scores - scores.mean(1, keepdims=True), dtype=th.float32)
    order = rng.permutation(len(target))
    held, fit = order[: len(order) // 10], order[len(order) // 10 :]
    net, rows = ValueNet(history=history), []
    opt = th.optim.Adam(net.parameters(), lr=1e-3)
    pp = (data["probs"][held].sum(1) / (1 + data["counts"][held])).argmax(1) + 1  # its single target's index
    for epoch in range(1, epochs + 1):
        start = time.time()
        net.train()
        rng.shuffle(fit)
        for i in np.array_split(fit, max(1, len(fit) // batch)):
            pred = value(net, i)
            loss = ((pred - pred.mean(1, keepdim=True) - target[i]) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
        net.eval()
        with th.no_grad():
            pred = th.cat([value(net, i) for i in np.array_split(held, 20)])
        y, mse = target[held], ((pred - pred.mean(1, keepdim=True) - target[held]) ** 2).mean().item()
        rows.append(dict(epoch=epoch, heldout_mse=mse, explained=1 - mse / (y**2).mean().item(),
                         picked=y.gather(1, pred.argmax(1, keepdim=True)).mean().item(),
                         posterior_parents=y[np.arange(len(held)), pp].mean().item(),
                         best=y.max(1).values.mean().item(), seconds=time.time() - start))  # fmt: skip
        print({k: round(v, 4) for k, v in rows[-1].items()}, flush=True)
    return net, pd.DataFrame(rows)


def gains_table(episodes: pd.DataFrame, actions: dict[str, np.ndarray], reference: str) -> pd.DataFrame:
    """Per strategy but Random: the final score's paired gain over Random and over ``reference`` (95% CIs;
    :func:`~caasl_gym.evaluation.summarize`, NaN for ``reference`` against itself), the mean number of targets
    per design and the share of designs that target every variable (on SERGIO, the null experiment)."""
    over_random = final(summarize(episodes, reference="Random")).set_index("strategy")
    over_ref = final(summarize(episodes, reference=reference)).set_index("strategy")
    key = "vs_" + reference.lower().replace("-", "_")
    rows = []
    for name in over_random.index.drop("Random"):
        targets = actions[name][..., 0] > 0  # (n, T, d)
        r, ref = over_random.loc[name], over_ref.loc[name]
        rows.append({"strategy": name, "gain_vs_random": r.gain, "ci95": r.gain_ci95, key: ref.gain,
                     f"{key}_ci95": ref.gain_ci95, "targets_per_design": targets.sum(-1).mean(),
                     "null_share": targets.all(-1).mean()})  # fmt: skip
    return pd.DataFrame(rows)


def strategies_for(env_id: str, net: ValueNet, n_random: int) -> tuple[list[Any], str]:
    """The designers to compare on ``env_id`` and the one to pair them with (module docstring, step 3)."""
    model, config = reward_model_of(env_id), config_for(env_id)
    if domain_of(env_id) != "linear":
        return [
            ValueDesigner(net, model, n_random, value=None, name="one-step value"),
            ValueDesigner(net, model, n_random, full_sets=False, value=None, name="one-step value, no null experiment"),
            PosteriorTargets(model),
            RoundRobinStrategy(),
            RandomStrategy(),
        ], "Posterior-parents"
    strategies = [
        ValueDesigner(net, model, n_random, forward=True, name="one-step value"),
        ValueDesigner(net, model, n_random, name="one-step value, no forward path"),
        GreedyExactDesigner.for_config(config, name="Greedy"),
    ]
    if env_id in available_pretrained():
        policy = load_pretrained(env_id)
        strategies += [PolicyStrategy(policy, False, "CAASL"), PolicyStrategy(policy, True, "CAASL-deterministic")]
    return [*strategies, RandomStrategy(extreme_values=True), RandomStrategy()], "Greedy"


def main(argv: list[str] | None = None) -> pd.DataFrame:
    """Collect, train, optionally save; then the validation table, or with ``--n-envs 0`` the training curve."""
    p = argparse.ArgumentParser(prog="python -m benchmarks.one_step_value", description=__doc__.split("\n")[0])
    p.add_argument("--env", default=ENV_ID, help="a registered id (any domain)")
    p.add_argument("--train-episodes", type=int, default=2000, help="training episodes 0..n-1 (multiples of 50)")
    p.add_argument("--n-random", type=int, default=29, help="random gene sets per state, collected and designed")
    p.add_argument("--workers", type=int, default=2, help="collecting processes")
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--threads", type=int, default=1, help="torch threads of the training and evaluation")
    p.add_argument("--seed", type=int, default=0, help="the network's initialisation and data split")
    p.add_argument(
        "--n-envs",
        type=int,
        default=200,
        help="validation episodes; 0 trains (and saves) only, as for an ensemble's extra members",
    )
    p.add_argument("--data-dir", default="runs/one_step_value", help="data chunks (resumed when present)")
    p.add_argument("--read-history", action="store_true", help="the network also reads the raw history")
    p.add_argument(
        "--no-path-labels",
        action="store_true",
        help="linear ids: fit the fixed candidates only, not the forward path's sets, whose scores are maxima of "
        "the same noisy criterion that grew them (biased upwards)",
    )
    p.add_argument(
        "--save",
        metavar="PATH",
        help="also write the trained network's weights to PATH (.pt) and a JSON sidecar beside it (.json: its "
        "options, the command, the data, the last epoch of the curve, the sha256 of PATH)",
    )
    add_seed_block_args(p, DEFAULT_OFFSET, "one_step_value_sergio")
    args = p.parse_args(argv)
    if args.n_envs < 0:
        p.error(f"--n-envs must be 0 (no validation) or a positive number of episodes, got {args.n_envs}")
    th.set_num_threads(args.threads)
    command = command_line("benchmarks.one_step_value", argv)
    try:
        data = collect(args.env, Path(args.data_dir) / args.env, args.train_episodes, args.n_random, args.workers)
    except ValueError as err:
        p.error(str(err))
    if args.no_path_labels:
        data = fixed_candidates(data, args.n_random)
    try:
        net, curve = train(data, args.epochs, args.seed, history=args.read_history)
    except ValueError as err:
        p.error(str(err))
    if args.save:
        linear = domain_of(args.env) == "linear"
        sidecar = save_value_net(net, args.save, dict(
            env_id=args.env, command=command, n_random=args.n_random, value=1.0 if linear else None, forward=False,
            full_sets=linear, train_episodes=args.train_episodes,
            states=len(data["scores"]), candidates=int(data["sets"].shape[1]), path_labels=not args.no_path_labels,
            seed=args.seed, epochs=args.epochs, curve=curve.iloc[-1].to_dict()))  # fmt: skip
        print(f"saved {args.save} and {sidecar}", flush=True)
    write_results(
        f"{args.out}_training",
        curve,
        title=f"Learned one-step value on {args.env}: training curve",
        notes=f"{len(data['scores'])} states of {args.train_episodes} training episodes, "
        f"{data['sets'].shape[1]} candidates each{' (the forward path dropped)' if args.no_path_labels else ''}; "
        "10% held out. Columns on the held-out states: MSE of the "
        "centred scores, the share of their variance explained, and the mean centred score of the candidate the "
        "network picks, of Posterior-parents' pick (one target) and of the best candidate (the scores are noisy: "
        "one draw on SERGIO, 32 posterior samples on linear ids; so `best` is optimistic).",
        command=command,
    )
    if args.n_envs == 0:
        return curve
    strategies, reference = strategies_for(args.env, net, args.n_random)
    seed_base = VALIDATION.start + args.offset
    check_in_family(range(seed_base, seed_base + args.n_envs), VALIDATION, "validation seeds")
    runs = [rollout(args.env, s, args.n_envs, seed_base, record_actions=True) for s in strategies]
    episodes = pd.concat([r.frame(args.env) for r in runs], ignore_index=True)
    table = gains_table(episodes, {r.strategy: r.actions for r in runs}, reference)
    print_table(table)
    net_kind = "reads the raw history and the posterior" if args.read_history else "reads the posterior statistics"
    if domain_of(args.env) == "linear":
        designers = (
            f"The network {net_kind}. The one-step value designers pick among the observational design, the single "
            f"targets and {args.n_random} random sets of 2..d targets, with or without the sets the network grows "
            "from its best single target (forward path); every target takes the value +1, as the greedy "
            "designer's (Greedy: the greedy exact-posterior designer, EIG over 32 posterior samples, the "
            "teacher); CAASL: the shipped policy; targets_per_design: mean targets; null_share: share of designs "
            "that target every variable."
        )
    else:
        designers = (
            "targets_per_design: mean genes knocked out; null_share: share of designs that knock out every gene "
            "(the null experiment). The one-step value designers pick among the observational design, the single "
            f"knockouts and {args.n_random} random gene sets (sizes 2..d, or 2..d-1 without the null experiment)."
        )
    key = "vs_" + reference.lower().replace("-", "_")
    write_results(
        args.out,
        table,
        title=f"Learned one-step value on {args.env}: gains on validation episodes",
        notes=f"{args.n_envs} validation episodes {seed_base}+i, final step. gain_vs_random / {key}: paired mean "
        f"differences of the final score with 95% CIs. {designers}",
        command=command,
    )
    return table


if __name__ == "__main__":
    main()
