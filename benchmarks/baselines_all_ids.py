"""SS-Finite and DiffCBED with explicit designer settings on any ids, written by ``benchmarks.evaluate``'s writer.

``python -m benchmarks.evaluate`` builds the likelihood-based designers with their defaults (every bootstrap
resample refitted at every step). At ``d = 20, 30`` one GIES run takes seconds, so this runs the same
evaluation (same test episodes, the same ``Random`` / ``Observational`` / ``CAASL`` strategies, the same
outputs) with ``--n-boot`` and ``--refit`` passed to both designers
(:class:`~caasl_gym.baselines.gies.CarriedBootstrap`: ``refit`` resamples refitted per step, the rest carried
over from the previous step of the episode).

Run: ``python -m benchmarks.baselines_all_ids --ids CausalLinear-OOD-D20-v0 --n-envs 10 --refit 2 --out <folder>``
"""

from __future__ import annotations

import argparse

import pandas as pd
import torch

from benchmarks._common import RESULTS_DIR, command_line, markdown_table
from benchmarks.evaluate import make_strategies, write_outputs
from caasl_gym.baselines.diffcbed import DiffCBEDDesigner
from caasl_gym.baselines.ss_finite import SSFiniteDesigner
from caasl_gym.evaluation import TEST, evaluate
from caasl_gym.registration import config_for


def main(argv: list[str] | None = None) -> pd.DataFrame:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ids", nargs="+", required=True, help="registered env ids, one output subfolder each")
    parser.add_argument("--n-envs", type=int, default=10, help="held-out test environments per id")
    parser.add_argument("--n-boot", type=int, default=10, help="bootstrap resamples of both designers")
    parser.add_argument("--refit", type=int, default=None, help="resamples refitted per step (default: all)")
    parser.add_argument("--others", nargs="*", default=["CAASL", "Random", "Observational"])
    parser.add_argument("--out", required=True, help="folder under benchmarks/results/ (one subfolder per id)")
    parser.add_argument("--threads", "--torch-threads", dest="threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    command = command_line("benchmarks.baselines_all_ids", argv)
    tables = []
    for env_id in args.ids:
        config = config_for(env_id)
        kwargs = dict(n_boot=args.n_boot, refit=args.refit)
        designers = [SSFiniteDesigner.for_config(config, **kwargs), DiffCBEDDesigner.for_config(config, **kwargs)]
        strategies = [*make_strategies(args.others, env_id), *designers]
        print(f"{env_id}: {', '.join(s.name for s in strategies)} on {args.n_envs} test episodes", flush=True)
        episodes = evaluate(env_id, strategies, args.n_envs, TEST.start, None, metrics=True)
        tables.append(write_outputs(episodes, RESULTS_DIR / args.out / env_id, command))
        print(markdown_table(tables[-1]), flush=True)
    return pd.concat(tables, ignore_index=True)


if __name__ == "__main__":
    main()
