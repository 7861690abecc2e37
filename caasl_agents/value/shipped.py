"""Value networks as files: weights ``<name>.pt`` with a JSON sidecar ``<name>.json``, and the shipped ones.

The sidecar holds the network's options (``net``; ``net.members`` for an ensemble), the designer's
(``n_random``, ``value``, ``forward``, ``full_sets``, ``native_d``), how it was trained (``command``, data,
curve; per member for an ensemble), what it scored on validation and test episodes, and the sha256 of the
weights, which :func:`load_value_net` checks. The shipped designers are package data of
:mod:`caasl_agents.pretrained`: ``<training id>.value.pt`` and ``.value.json``.
Out-of-distribution ids reuse their training prior's network zero-shot (it runs at any ``d``; with
``native_d``, only at that ``d``) with their own reward model.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import torch as th

import caasl_gym
from caasl_agents.pretrained import PACKAGE_DIR
from caasl_agents.value.designer import ValueDesigner
from caasl_agents.value.network import ValueEnsemble, ValueNet, build_value_net
from caasl_gym.envs.scoring import resolve_reward_model
from caasl_gym.registration import config_for, training_id

SUFFIX = ".value"
"""Between a shipped designer's training id and ``.pt`` / ``.json``."""


def save_value_net(net: ValueNet | ValueEnsemble, path: str | os.PathLike, info: dict[str, Any]) -> Path:
    """Write ``net``'s weights to ``path`` (``.pt``) and its sidecar (``path`` with ``.json``): ``info``, the
    network's options (``net``) and the weights' ``sha256``. Returns the sidecar's path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    th.save(net.state_dict(), path)
    sidecar = {**info, "net": net.options, "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}
    path.with_suffix(".json").write_text(json.dumps(sidecar, indent=2, default=lambda x: x.item()) + "\n")
    return path.with_suffix(".json")


def load_value_net(path: str | os.PathLike) -> tuple[ValueNet | ValueEnsemble, dict[str, Any]]:
    """The network (or ensemble, when its options name ``members``) saved at ``path`` (``.pt``) and its sidecar.

    Raises:
        ValueError: a missing or unreadable sidecar, weights that fail its sha256, or weights that do not fit the
            architecture it names (each message says how to regenerate the file).
    """
    path = Path(path)
    sidecar = path.with_suffix(".json")
    if not path.is_file() or not sidecar.is_file():
        missing = path if not path.is_file() else sidecar
        raise ValueError(f"{missing} is missing: a value network is a .pt with its .json sidecar beside it")
    try:
        info = json.loads(sidecar.read_text())
        options = info["net"]
        expected = info["sha256"]
    except (ValueError, KeyError, TypeError) as err:
        raise ValueError(f"{sidecar} is not a value network's sidecar ({type(err).__name__}: {err})") from None
    remake = f"regenerate it with {info['command']}" if info.get("command") else "regenerate it"
    actual = hashlib.sha256(path.read_bytes()).hexdigest()
    if actual != expected:
        raise ValueError(f"{path} does not match its sidecar (sha256 {actual} != {expected}): {remake}")
    try:
        net = build_value_net(options)
        net.load_state_dict(th.load(path, map_location="cpu", weights_only=True))
    except Exception as err:  # options the constructor refuses, or weights of another architecture
        why = f"{type(err).__name__}: {err}"
        raise ValueError(f"{path} does not load as a value network with options {options} ({why}); {remake}") from None
    return net.eval(), info


def reward_model_of(env_id: str, env_kwargs: dict[str, Any] | None = None) -> Any:
    """The reward model ``gym.make(env_id, **env_kwargs)`` scores with: the posterior a value designer reads."""
    config = config_for(env_id, **(env_kwargs or {}))
    return resolve_reward_model(config.reward_model, config=config)


def shipped_value_path(env_id: str, directory: str | os.PathLike | None = None) -> Path:
    """Where the designer shipped for ``env_id``'s training prior lies (it may not exist)."""
    base = training_id(env_id) if env_id in caasl_gym.ALL_IDS else env_id
    return Path(directory or PACKAGE_DIR) / f"{base}{SUFFIX}.pt"


def available_value_designers(directory: str | os.PathLike | None = None) -> list[str]:
    """Training ids with a shipped value designer (weights and sidecar)."""
    folder = Path(directory or PACKAGE_DIR)
    return sorted(p.name.removesuffix(f"{SUFFIX}.pt") for p in folder.glob(f"*{SUFFIX}.pt")
                  if p.with_suffix(".json").is_file())  # fmt: skip


def load_value_designer(
    env_id: str,
    env_kwargs: dict[str, Any] | None = None,
    deterministic: bool = False,
    name: str | None = None,
    seed: int | None = None,
    directory: str | os.PathLike | None = None,
    path: str | os.PathLike | None = None,
    model: Any = None,
) -> ValueDesigner:
    """The value designer shipped for ``env_id``'s training prior (or the network saved at ``path``), reading
    the posterior of ``env_id``'s own reward model (with ``env_kwargs``), or of ``model`` when given, in the
    given mode (:mod:`caasl_agents.value.designer`).

    Raises:
        ValueError: no designer for that prior (the message lists the ids that have one), or a file that does not
            load (:func:`load_value_net`).
    """
    if path is not None:
        path = Path(path)
    elif not (path := shipped_value_path(env_id, directory)).is_file():
        shipped = ", ".join(available_value_designers(directory)) or "none"
        raise ValueError(f"no value designer shipped for {env_id!r} ({path.name}); ids with one: {shipped}")
    net, info = load_value_net(path)
    if not isinstance(info.get("n_random"), int):
        raise ValueError(f"{path.with_suffix('.json')} has no designer options: expected an integer n_random")
    model = reward_model_of(env_id, env_kwargs) if model is None else model
    label = name or ("CAASL-value-deterministic" if deterministic else "CAASL-value")
    return ValueDesigner(net, model, n_random=info["n_random"], full_sets=info.get("full_sets", True),
                         native_d=info.get("native_d"), value=info.get("value", 1.0),
                         forward=info.get("forward", False), deterministic=deterministic, name=label,
                         seed=seed)  # fmt: skip
