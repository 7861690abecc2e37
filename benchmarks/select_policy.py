"""A second look before shipping: candidate policies on fresh validation episodes, paired with the incumbent.

Picking the best of many checkpoints on the same 100 validation episodes favours the luckiest one (the
winner's curse): its validation gain overstates what it does elsewhere. This benchmark re-scores a short list
of candidates on a **fresh** block of validation seeds (``VALIDATION.start + offset + i``, disjoint from the
block the list was drawn on when ``offset`` is at least that block's size, and never the test seeds), in both
design modes, all on the same episodes as Random and as the **incumbent** (the first candidate, by default the
shipped policy), so each candidate's difference to the incumbent comes with its own paired CI.

    python -m benchmarks.select_policy --env SergioKnockout-v0 shipped \\
        pooled-20k=runs/sergio_pool/RUN/checkpoints/model_20000_steps.zip --baselines RoundRobin

Candidates are ``shipped`` (the shipped policy of the id's prior) or ``LABEL=PATH`` to a ``model.zip``, or to
a value network's ``.pt`` (:func:`~caasl_agents.value.load_value_designer`, with the id's own reward model);
``--baselines`` adds rows by ``benchmarks.evaluate`` strategy name (no incumbent difference in the other mode).
Outputs: ``benchmarks/results/<out>.{csv,md}`` (default ``select_policy``).
"""

from __future__ import annotations

import argparse

import pandas as pd
import torch

from benchmarks._common import add_seed_block_args, command_line, print_table, write_results
from benchmarks.evaluate import make_strategies
from caasl_agents import REDQ, load_pretrained
from caasl_agents.evaluation import PolicyStrategy
from caasl_agents.pretrained import pretrained_info
from caasl_agents.value import load_value_designer
from caasl_gym.evaluation import VALIDATION, RandomStrategy, evaluate, final, summarize
from caasl_gym.evaluation.seeds import check_in_family
from caasl_gym.registration import training_id

MODES = ("sampled", "deterministic")
DEFAULT_OFFSET = 100_000
"""Fresh seeds by default: the benchmarks select on ``VALIDATION.start + i`` for i < 100 000."""


def parse_candidate(text: str) -> tuple[str, str | None]:
    """``"shipped"`` -> ``("shipped", None)``; ``"LABEL=PATH"`` -> ``(LABEL, PATH)``."""
    if text == "shipped":
        return "shipped", None
    label, sep, path = text.partition("=")
    if not sep or not label or not path or "/" in label:
        raise ValueError(f"a candidate is 'shipped' or LABEL=PATH (a label without '/'), got {text!r}")
    return label, path


def selection_table(
    env_id: str,
    candidates: list[tuple[str, str | None]],
    n_envs: int,
    seed_base: int,
    baselines: tuple[str, ...] = (),
) -> pd.DataFrame:
    """One row per (candidate, design mode), then one per baseline: final score, paired gain over Random
    and, for candidates, the paired difference to the first candidate in the same mode."""
    check_in_family(range(seed_base, seed_base + n_envs), VALIDATION, "selection seeds")
    labels = [label for label, _ in candidates]
    if len(set(labels)) != len(labels):
        raise ValueError(f"candidate labels must be distinct, got {labels}")
    strategies = []
    for label, path in candidates:
        if path is not None and path.endswith(".pt"):
            strategies += [load_value_designer(env_id, deterministic=mode == "deterministic", name=f"{label}/{mode}",
                                               path=path) for mode in MODES]  # fmt: skip
            continue
        model = load_pretrained(training_id(env_id)) if path is None else REDQ.load(path, device="cpu")
        strategies += [PolicyStrategy(model, mode == "deterministic", f"{label}/{mode}") for mode in MODES]
    strategies += [*make_strategies(baselines, env_id), RandomStrategy()]
    episodes = evaluate(env_id, strategies, n_envs, seed_base)
    rows = final(summarize(episodes)).set_index("strategy")
    vs_incumbent = {  # the paired differences to the incumbent, one summary per mode
        mode: final(summarize(episodes, reference=f"{labels[0]}/{mode}")).set_index("strategy") for mode in MODES
    }
    nan = float("nan")
    out = []
    for name in rows.index.drop("Random"):
        label, _, mode = name.rpartition("/")
        row = dict(candidate=label or name, designs=mode if label else "-", score=rows.score[name])
        row.update(gain_vs_random=rows.gain[name], gain_ci95=rows.gain_ci95[name], diff_vs_incumbent=nan, diff_ci95=nan)
        if label in labels:
            vs = vs_incumbent[mode].loc[name]
            row.update(diff_vs_incumbent=vs.gain, diff_ci95=vs.gain_ci95)
        out.append(row)
    table = pd.DataFrame(out)
    table.insert(0, "env_id", env_id)
    return table


def main(argv: list[str] | None = None) -> pd.DataFrame:
    p = argparse.ArgumentParser(prog="python -m benchmarks.select_policy", description=__doc__.split("\n")[0])
    p.add_argument(
        "candidates", nargs="+", help="'shipped' or LABEL=PATH to a model.zip or value .pt; the first is the incumbent"
    )
    p.add_argument("--env", default="SergioKnockout-v0")
    p.add_argument("--n-envs", type=int, default=300)
    add_seed_block_args(p, DEFAULT_OFFSET, "select_policy")
    p.add_argument("--baselines", nargs="*", default=[], help="benchmarks.evaluate strategy names to add as rows")
    args = p.parse_args(argv)
    seed_base = VALIDATION.start + args.offset
    torch.set_num_threads(1)
    try:
        candidates = [parse_candidate(c) for c in args.candidates]
        table = selection_table(args.env, candidates, args.n_envs, seed_base, tuple(args.baselines))
    except ValueError as err:
        p.error(str(err))
    print_table(table)
    shipped = f"the shipped policy (sha256 {pretrained_info(training_id(args.env))['sha256'][:12]})"
    paths = "; ".join(f"`{label}` = {path or shipped}" for label, path in candidates)
    write_results(
        args.out,
        table,
        title=f"Policy candidates on fresh validation episodes: {args.env}",
        notes=f"{args.n_envs} validation environments (seeds {seed_base}+i, fresh: checkpoints were picked on "
        f"{VALIDATION.start}+i, i < 100), the id's default reward model, sampled and deterministic designs. "
        f"gain_vs_random: S(h_T) - S_Random(h_T); diff_vs_incumbent: S(h_T) minus the first candidate's in the "
        f"same mode; both paired on the same episodes, 95% CIs. Candidates: {paths}.",
        command=command_line("benchmarks.select_policy", argv),
    )
    return table


if __name__ == "__main__":
    main()
