"""Combine saved value networks of one id into one ensemble file, which every loader reads as one network.

    python -m caasl_agents.value.ensemble runs/value_nets/CausalLinear-v0_4800.pt \\
        runs/value_nets/CausalLinear-v0_4800_seed1.pt runs/value_nets/CausalLinear-v0_4800_seed2.pt \\
        --save runs/value_nets/CausalLinear-v0_4800_ens3.pt

The members (each written by ``benchmarks.one_step_value --save``, typically the same command with another
``--seed``) must name the same ``env_id`` and architecture. The ensemble (:class:`~caasl_agents.value.network.
ValueEnsemble`) is saved as ``--save`` (``.pt``) with a sidecar: the first member's designer options and data
fields, every member's source, command, seed, sha256 and last epoch of its curve (``members``), and this
command. ``python -m caasl_agents.value.export`` ships it as it ships a single network.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

from caasl_agents.value.network import ValueEnsemble, ValueNet
from caasl_agents.value.shipped import load_value_net, save_value_net

KEPT = ("env_id", "n_random", "value", "forward", "full_sets", "native_d", "train_episodes", "states", "candidates",
        "path_labels", "epochs")  # fmt: skip
"""Sidecar fields of the first member that the ensemble's sidecar keeps."""


def combine(sources: Sequence[str | os.PathLike], save: str | os.PathLike, command: str = "") -> Path:
    """Save the ensemble of the networks at ``sources`` to ``save`` (module docstring); returns its sidecar.

    Raises:
        ValueError: fewer than two sources, a source that does not load
            (:func:`~caasl_agents.value.load_value_net`), an ensemble among them, or members of different ids or
            architectures.
    """
    if len(sources) < 2:
        raise ValueError(f"an ensemble combines at least two networks, got {len(sources)}")
    loaded = [load_value_net(source) for source in sources]
    nets: list[ValueNet] = []
    for source, (net, _) in zip(sources, loaded):
        if isinstance(net, ValueEnsemble):
            raise ValueError(f"{source} is an ensemble already: combine its members' files instead")
        nets.append(net)
    ids = {info.get("env_id") for _, info in loaded}
    if len(ids) != 1:
        raise ValueError(f"the members were trained on different ids: {sorted(map(str, ids))}")
    first = loaded[0][1]
    info = {key: first[key] for key in KEPT if key in first}
    info["command"] = command
    info["members"] = [
        {"source": str(source), "command": member.get("command"), "seed": member.get("seed"),
         "sha256": member["sha256"], "curve": member.get("curve")}
        for source, (_, member) in zip(sources, loaded)
    ]  # fmt: skip
    return save_value_net(ValueEnsemble(nets), save, info)


def main(argv: list[str] | None = None) -> Path:
    p = argparse.ArgumentParser(prog="python -m caasl_agents.value.ensemble", description=__doc__.split("\n")[0])
    p.add_argument("sources", nargs="+", help="value networks' .pt files, each with its .json sidecar beside it")
    p.add_argument("--save", required=True, help="the ensemble's .pt (its .json sidecar is written beside it)")
    args = p.parse_args(argv)
    command = shlex.join(["python", "-m", "caasl_agents.value.ensemble", *(sys.argv[1:] if argv is None else argv)])
    try:
        sidecar = combine(args.sources, args.save, command)
    except (ValueError, OSError) as err:
        p.error(str(err))
    print(f"wrote {args.save} and {sidecar}")
    return sidecar


if __name__ == "__main__":
    main()
