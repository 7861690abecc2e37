"""Pretrained CAASL policies shipped as package data: ``<env_id>.zip`` plus a ``<env_id>.json`` sidecar.

The sidecar records how the policy was trained and checked, for example::

    {"env_id": "CausalLinear-v0",
     "command": "python -m caasl_agents.train --env CausalLinear-v0 --seed 0 ...",
     "num_timesteps": 200000,
     "eval": {"score": ..., "random_score": ..., "gain": ..., "gain_ci95": ...},  # before the engine: "diff_vs_random"
     "sha256": "<sha256 of the .zip>"}

:func:`load_pretrained` verifies ``sha256`` (when present) before loading. Out-of-distribution ids
(e.g. ``CausalLinear-OOD-D20-v0``) reuse their training prior's policy zero-shot: load it with the
base id and run it with :func:`~caasl_agents.redq.predict.predict_any_d`.
"""

from __future__ import annotations

import hashlib
import json
import os
from importlib import resources
from pathlib import Path
from typing import Any

import torch as th

import caasl_gym
from caasl_agents.redq import REDQ
from caasl_gym.registration import training_id

PACKAGE_DIR = Path(str(resources.files(__name__)))
"""The package-data folder holding the shipped policies."""


def _directory(directory: str | os.PathLike | None) -> Path:
    return PACKAGE_DIR if directory is None else Path(directory)


def available_pretrained(directory: str | os.PathLike | None = None) -> list[str]:
    """Environment ids with a shipped policy (a ``.zip`` and its ``.json`` sidecar).

    :param directory: folder to look in (default: the package data of :mod:`caasl_agents.pretrained`)
    """
    folder = _directory(directory)
    return sorted(p.stem for p in folder.glob("*.zip") if p.with_suffix(".json").is_file())


def pretrained_info(env_id: str, directory: str | os.PathLike | None = None) -> dict[str, Any]:
    """The JSON sidecar of the policy shipped for ``env_id``."""
    return json.loads((_paths(env_id, directory)[1]).read_text())


def _paths(env_id: str, directory: str | os.PathLike | None) -> tuple[Path, Path]:
    folder = _directory(directory)
    model, sidecar = folder / f"{env_id}.zip", folder / f"{env_id}.json"
    if model.is_file() != sidecar.is_file():
        present, missing = (model, sidecar) if model.is_file() else (sidecar, model)
        raise ValueError(
            f"{present} has no {missing.name} beside it; a pretrained policy is a .zip with its .json sidecar "
            "(python -m caasl_agents.pretrained.export RUN --out DIR writes both)"
        )
    if not (model.is_file() and sidecar.is_file()):
        shipped = available_pretrained(folder)
        listed = ", ".join(shipped) if shipped else "none yet"
        msg = f"no pretrained policy for {env_id!r}; ids with one: {listed}"
        base = training_id(env_id) if env_id in caasl_gym.ALL_IDS else env_id
        if base != env_id:
            msg += f". Out-of-distribution ids reuse their training prior's policy: load_pretrained({base!r})"
        raise ValueError(msg)
    return model, sidecar


def load_pretrained(env_id: str, device: th.device | str = "cpu", directory: str | os.PathLike | None = None) -> REDQ:
    """Load the REDQ model shipped for ``env_id``.

    :param env_id: a training prior with a shipped policy (see :func:`available_pretrained`)
    :param device: torch device for the networks ("auto" picks CUDA when present)
    :param directory: folder to load from (default: the package data)
    :return: the model, without an environment (use ``model.predict`` on observations of the
        training shape, or :func:`~caasl_agents.redq.predict.predict_any_d` on any ``d``)
    :raises ValueError: no policy for ``env_id`` (the message lists the ids that have one), or the
        file does not match the sha256 in its sidecar
    """
    model_path, sidecar = _paths(env_id, directory)
    try:
        info = json.loads(sidecar.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(
            f"{sidecar} is not valid JSON ({err}); expected the sidecar that "
            "python -m caasl_agents.pretrained.export RUN --out DIR writes beside the zip"
        ) from None
    export = f"python -m caasl_agents.pretrained.export RUN --out {model_path.parent}"
    remake = f"retrain it with {info['command']}, then {export}" if info.get("command") else f"ship a run with {export}"
    expected = info.get("sha256")
    if expected:
        actual = hashlib.sha256(model_path.read_bytes()).hexdigest()
        if actual != expected:
            raise ValueError(
                f"{model_path} does not match its sidecar {sidecar.name} (sha256 {actual} != {expected}); "
                f"expected the file exported with it: {remake}"
            )
    try:
        return REDQ.load(model_path, device=device)
    except Exception as err:  # a state dict of another architecture, a file that is not an SB3 archive, ...
        raise ValueError(
            f"{model_path} does not load as a caasl REDQ policy ({type(err).__name__}: {str(err)[:400]}); {remake}"
        ) from None


def load_policy(spec: str, device: th.device | str = "cpu") -> REDQ:
    """A policy named on a command line: ``pretrained:<env id>`` (:func:`load_pretrained`) or the path of a REDQ
    ``.zip`` (a training run's ``model.zip`` or checkpoint, a behaviour clone).

    :raises FileNotFoundError: ``spec`` names neither (the message says what it may be)
    """
    if spec.startswith("pretrained:"):
        return load_pretrained(spec.removeprefix("pretrained:"), device=device)
    if not Path(spec).is_file():
        raise FileNotFoundError(f"{spec}: no such file (a policy is a REDQ .zip or pretrained:<env id>)")
    return REDQ.load(spec, device=device)
