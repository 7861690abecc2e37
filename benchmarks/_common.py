"""Shared helpers for benchmarks: a machine/version header, result writing, and the shipped policy's variants
scored against Random on validation seeds.

Every benchmark is run as ``python -m benchmarks.<name>`` and writes
``benchmarks/results/<name>.csv`` plus ``benchmarks/results/<name>.md`` (the table with the command,
date, machine and library versions on top), so a committed result always says how to reproduce it.
"""

from __future__ import annotations

import argparse
import copy
import datetime as _dt
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def add_seed_block_args(parser: argparse.ArgumentParser, offset: int, out: str) -> None:
    """Add ``--offset`` (the validation seed block ``VALIDATION.start + offset + i``) and ``--out`` (the results
    name under ``benchmarks/results/``) with these defaults: the options of every validation benchmark."""
    parser.add_argument("--offset", type=int, default=offset, help="seeds VALIDATION.start + offset + i")
    parser.add_argument("--out", default=out, help="results name under benchmarks/results/")


def command_line(module: str, argv: list[str] | None = None) -> str:
    """``python -m <module> <args>``: how a benchmark's ``main(argv)`` was run (``sys.argv[1:]`` when ``argv`` is
    None, as from the command line)."""
    return " ".join(["python -m", module, *(argv if argv is not None else sys.argv[1:])])


def print_table(table: pd.DataFrame) -> None:
    """A result table on stdout, floats to 3 decimals."""
    print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))


def environment_header(command: str | None = None) -> str:
    """Markdown lines describing how, when and where a benchmark ran."""
    import torch

    if command is None:
        command = command_line("benchmarks." + Path(sys.argv[0]).stem)
    try:
        import gymnasium

        gym_version = gymnasium.__version__
    except ImportError:  # pragma: no cover
        gym_version = "n/a"
    cpu = platform.processor() or platform.machine()
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    lines = [
        f"- command: `{command}`",
        f"- date: {_dt.datetime.now(_dt.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}",
        f"- machine: {platform.system()} {cpu}, {os.cpu_count()} CPU cores, GPU: {gpu}, "
        f"torch threads: {torch.get_num_threads()}",
        f"- versions: python {platform.python_version()}, numpy {np.__version__}, torch {torch.__version__}, "
        f"gymnasium {gym_version}, pandas {pd.__version__}",
    ]
    return "\n".join(lines)


def write_results(name: str, table: pd.DataFrame, *, title: str, notes: str = "", command: str | None = None) -> Path:
    """Write ``results/<name>.csv`` and ``results/<name>.md`` and return the markdown path."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    table.to_csv(RESULTS_DIR / f"{name}.csv", index=False)
    md = [f"# {title}", "", environment_header(command), ""]
    if notes:
        md += [notes.strip(), ""]
    md += [markdown_table(table), ""]
    path = RESULTS_DIR / f"{name}.md"
    path.write_text("\n".join(md))
    return path


def markdown_table(table: pd.DataFrame) -> str:
    """A markdown table (floats to 4 significant digits) without the optional ``tabulate`` dependency."""

    def fmt(v: object) -> str:
        if isinstance(v, float | np.floating):
            return f"{v:.4g}"
        return str(v)

    head = "| " + " | ".join(map(str, table.columns)) + " |"
    sep = "| " + " | ".join("---" for _ in table.columns) + " |"
    rows = ["| " + " | ".join(fmt(v) for v in row) + " |" for row in table.itertuples(index=False)]
    return "\n".join([head, sep, *rows])


def median_seconds(fn: Callable[[], object], repeats: int) -> tuple[float, float]:
    """Median and minimum wall seconds of ``repeats`` calls of ``fn`` after one warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times)), float(np.min(times))


def policy_variant(model: Any, **settings: Any) -> Any:
    """A copy of a loaded policy ``model`` with its policy attributes ``settings`` set (e.g.
    ``deterministic_design="top-k"``, ``zero_shot_rate=None``); ``model`` itself is left as it is."""
    variant = copy.deepcopy(model)
    for name, value in settings.items():
        setattr(variant.policy, name, value)
    return variant


def validation_gains(env_id: str, strategies: list[Any], n_envs: int, env_kwargs: dict | None = None) -> pd.DataFrame:
    """Final score and paired gain over Random of each of ``strategies`` on ``n_envs`` validation episodes
    (seeds ``VALIDATION.start + i``; Random is added and left out of the result): one row per strategy, in
    order, with ``strategy``, ``score``, ``gain_vs_random`` and ``gain_ci95``."""
    from caasl_gym.evaluation import VALIDATION, RandomStrategy, evaluate, final, summarize

    episodes = evaluate(env_id, [*strategies, RandomStrategy()], n_envs, VALIDATION.start, env_kwargs)
    rows = final(summarize(episodes))
    rows = rows[rows.strategy != "Random"]
    return pd.DataFrame(
        {
            "strategy": rows.strategy.to_numpy(),
            "score": rows.score.to_numpy(),
            "gain_vs_random": rows.gain.to_numpy(),
            "gain_ci95": rows.gain_ci95.to_numpy(),
        }
    )
