"""Ship a trained value network as the value designer of its training id, with its designer options and scores.

    python -m caasl_agents.value.export runs/value_nets/SergioKnockout-v0_4000.pt --n-random 29 \\
        --full-sets false --label value --selection benchmarks/results/value_designer_sergio/select.csv
    python -m caasl_agents.value.export PATH ... --test benchmarks/results/evaluation_sergio_value

Copies the network's ``.pt`` (written by ``benchmarks.one_step_value --save``) to
``<out>/<env_id>.value.pt`` and writes its sidecar: the source sidecar (the training command, data and
curve), the designer's options given here, ``--note KEY=TEXT`` fields (the compute, the selection rule), the
validation rows of ``LABEL`` in the ``benchmarks.select_policy`` CSVs (``--selection``; an entry
``OTHER=CSV`` reads the candidate ``OTHER`` instead), the final-step rows
of ``CAASL-value`` and ``CAASL-value-deterministic`` per ``benchmarks.evaluate`` folder (``--test``; run
after shipping, so the export runs again with them), the export command and the weights' sha256. The weights
are copied byte for byte, so a re-export keeps the sha256.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shlex
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from caasl_agents.pretrained import PACKAGE_DIR
from caasl_agents.value.shipped import SUFFIX, load_value_net

MODES = {"CAASL-value": "sampled", "CAASL-value-deterministic": "deterministic"}
"""``benchmarks.evaluate``'s strategy names of the shipped designer, and its action mode."""


def selection_rows(csv: str | Path, label: str) -> dict[str, dict[str, dict[str, float]]]:
    """``{env_id: {mode: {gain_vs_random, gain_ci95, diff_vs_incumbent, diff_ci95}}}`` of candidate ``label`` in a
    ``benchmarks.select_policy`` CSV.

    Raises:
        ValueError: the CSV has no row of ``label`` (the message lists its candidates).
    """
    table = pd.read_csv(csv)
    rows = table[table["candidate"] == label]
    if rows.empty:
        raise ValueError(f"{csv} has no candidate {label!r}; its candidates: {sorted(table['candidate'].unique())}")
    keys = ["gain_vs_random", "gain_ci95", "diff_vs_incumbent", "diff_ci95"]
    out: dict[str, dict[str, dict[str, float]]] = {}
    for row in rows.itertuples():
        out.setdefault(row.env_id, {})[row.designs] = {k: round(float(getattr(row, k)), 4) for k in keys}
    return out


def test_rows(folder: str | Path) -> dict[str, dict[str, dict[str, float]]]:
    """``{env_id: {mode: {score, gain_vs_random, gain_ci95, auprc, episodes}}}`` at the final step of the shipped
    designer's rows in a ``benchmarks.evaluate`` folder (``summary.csv``).

    Raises:
        ValueError: no ``summary.csv``, or no ``CAASL-value`` rows in it.
    """
    path = Path(folder) / "summary.csv"
    if not path.is_file():
        raise ValueError(f"{path} does not exist: --test takes folders written by benchmarks.evaluate")
    table = pd.read_csv(path)
    table = table[table["strategy"].isin(list(MODES))]
    if table.empty:
        raise ValueError(f"{path} has no {' or '.join(MODES)} rows")
    out: dict[str, dict[str, dict[str, float]]] = {}
    for (env_id, strategy), rows in table.groupby(["env_id", "strategy"]):
        last = rows.loc[rows["t"].idxmax()]
        out.setdefault(env_id, {})[MODES[strategy]] = {
            "score": round(float(last["score"]), 3),
            "gain_vs_random": round(float(last["gain"]), 3),
            "gain_ci95": round(float(last["gain_ci95"]), 3),
            "auprc": round(float(last["auprc"]), 4),
            "episodes": int(last["n"]),
        }
    return out


def export(
    source: str | Path,
    out: str | Path | None = None,
    designer: dict[str, Any] | None = None,
    notes: dict[str, str] | None = None,
    label: str | None = None,
    selection: Sequence[str] = (),
    test: Sequence[str] = (),
    command: str = "",
) -> Path:
    """Copy the network at ``source`` to ``<out>/<env_id>.value.pt`` with its sidecar (module docstring); returns
    the sidecar's path.

    Raises:
        ValueError: ``source`` does not load (:func:`~caasl_agents.value.load_value_net`), its sidecar names no
            ``env_id``, or a ``selection`` entry without a label (no ``label`` and no ``LABEL=``).
    """
    if any("=" not in str(csv) for csv in selection) and not label:
        raise ValueError("--selection needs --label (or LABEL=CSV entries): the candidate's label in the CSVs")
    net, info = load_value_net(source)
    if not isinstance(info.get("env_id"), str):
        raise ValueError(f"{Path(source).with_suffix('.json')} names no env_id: which id's designer is this?")
    info.pop("sha256")
    info.update(designer or {})
    info.update(notes or {})
    if selection:
        validation: dict[str, Any] = {}
        for entry in selection:  # a later CSV's rows of an id replace an earlier CSV's
            own, sep, csv = str(entry).rpartition("=")
            validation.update(selection_rows(csv, own if sep else label))
        info["validation"] = {**validation, "results": [str(p) for p in selection]}
    if test:
        info["test"] = {str(folder): test_rows(folder) for folder in test}
    info["exported_from"] = str(source)
    if command:
        info["export_command"] = command
    target = Path(out or PACKAGE_DIR) / f"{info['env_id']}{SUFFIX}.pt"
    target.parent.mkdir(parents=True, exist_ok=True)
    if Path(source).resolve() != target.resolve():
        shutil.copyfile(source, target)  # byte for byte: the sha256 stays the source's
    info["sha256"] = hashlib.sha256(target.read_bytes()).hexdigest()
    sidecar = target.with_suffix(".json")
    sidecar.write_text(json.dumps({**info, "net": net.options}, indent=2) + "\n")
    return sidecar


def parse_bool(text: str) -> bool:
    if text.lower() in ("true", "1", "yes"):
        return True
    if text.lower() in ("false", "0", "no"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def parse_value(text: str) -> float | None:
    if text.lower() == "none":
        return None
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number or none, got {text!r}") from None


def parse_note(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"a note is KEY=TEXT, got {text!r}")
    return key, value


def main(argv: list[str] | None = None) -> Path:
    p = argparse.ArgumentParser(prog="python -m caasl_agents.value.export", description=__doc__.split("\n")[0])
    p.add_argument("source", help="a value network's .pt with its .json sidecar beside it")
    p.add_argument("--out", default=None, help=f"folder of the shipped designers (default: {PACKAGE_DIR})")
    p.add_argument("--n-random", type=int, default=None, help="random candidate sets per step (default: the source's)")
    p.add_argument("--full-sets", type=parse_bool, default=None, help="true / false: may a set target every variable")
    p.add_argument("--value", type=parse_value, default=argparse.SUPPRESS,
                   help="every target's value, or none for U(-1, 1) draws (default: the source's)")  # fmt: skip
    p.add_argument("--native-d", type=int, default=None, help="the training d: uniform random targets at other d")
    p.add_argument("--forward", type=parse_bool, default=None, help="true / false: also play the forward path")
    p.add_argument("--note", type=parse_note, action="append", default=[], metavar="KEY=TEXT")
    p.add_argument("--label", default=None, help="the network's candidate label in the --selection CSVs")
    p.add_argument("--selection", nargs="*", default=[],
                   help="benchmarks.select_policy CSVs (validation), each CSV or LABEL=CSV")  # fmt: skip
    p.add_argument("--test", nargs="*", default=[], help="benchmarks.evaluate folders (test, after shipping)")
    args = p.parse_args(argv)
    designer = {k: v for k, v in (("n_random", args.n_random), ("full_sets", args.full_sets),
                                  ("forward", args.forward), ("native_d", args.native_d)) if v is not None}  # fmt: skip
    if "value" in args:
        designer["value"] = args.value
    command = shlex.join(["python", "-m", "caasl_agents.value.export", *(sys.argv[1:] if argv is None else argv)])
    try:
        sidecar = export(args.source, args.out, designer, dict(args.note), args.label, args.selection, args.test,
                         command)  # fmt: skip
    except (ValueError, OSError) as err:
        p.error(str(err))
    print(f"wrote {sidecar.with_suffix('.pt')} and {sidecar}")
    return sidecar


if __name__ == "__main__":
    main()
