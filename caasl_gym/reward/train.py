"""Train a reward model on histories simulated on the fly.

One flag per field of :class:`~caasl_gym.reward.training.config.TrainConfig` (on a GPU machine, for example,
``--device cuda --workers 14 --time-limit 7 --batch-size 512 --compile``); the files written: ``training.loop``.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from dataclasses import MISSING, fields

from caasl_gym.reward.training.config import TrainConfig
from caasl_gym.reward.training.loop import Trainer


def build_parser() -> argparse.ArgumentParser:
    """One flag per field of :class:`TrainConfig` (``batch_size`` is ``--batch-size``), with its default and help."""
    p = argparse.ArgumentParser(prog="python -m caasl_gym.reward.train", description=__doc__.split("\n")[0])
    for f in fields(TrainConfig):
        kind = f.type.removesuffix(" | None")
        how = {"action": "store_true"} if kind == "bool" else {"type": {"int": int, "float": float, "str": str}[kind]}
        default = None if f.default is MISSING else f.default
        p.add_argument("--" + f.name.replace("_", "-"), default=default, **how, **f.metadata)
    return p


def run(argv: list[str] | None = None) -> dict:
    """Train, write ``<out>.pt`` and ``<out>.json``, and return the sidecar; bad flags end in a one-line error."""
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        trainer = Trainer(TrainConfig(**vars(args)), f"{parser.prog} {shlex.join(argv)}")
    except (ValueError, FileNotFoundError) as err:
        parser.exit(2, f"{parser.prog}: error: {err}\n")
    return trainer.fit()


if __name__ == "__main__":
    run()
