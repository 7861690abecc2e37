"""Search spaces of a sweep over :class:`~caasl_agents.train_config.TrainConfig` fields: named, or a JSON / YAML file.

A space maps field names to a **distribution** or a **constant**::

    {"learning_rate": {"loguniform": [1e-4, 3e-3]},   # log-uniform on [low, high]
     "gamma": {"uniform": [0.8, 0.99]},               # uniform on [low, high]
     "n_layers": {"randint": [1, 3]},                 # integer in [low, high) (high excluded)
     "n_critics": {"choice": [5, 10]},                # one of the values
     "embed_dim": 16}                                 # a constant (any field value, e.g. a list)

The update-to-data ratio (UTD) is ``G = gradient_steps / (train_freq * n_envs)``: a space varies it through
``gradient_steps``. Nothing here imports Ray: :func:`to_ray` converts a parsed space to ``ray.tune`` domains
when a sweep starts, and :func:`sample` draws from it with an explicit generator (to check a space's draws
make valid configurations before any trial starts).
"""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from caasl_agents.train_config import TrainConfig, _value_fits, read_options_file

KINDS = ("uniform", "loguniform", "randint", "choice")
"""The distributions a space may use."""
FIXED_BY_SWEEP = frozenset(
    {"env", "env_kwargs", "resume", "run_root", "device", "torch_threads", "progress_bar", "total_timesteps",
     "checkpoint_freq", "eval_episodes", "eval_seed", "preset"}
)  # fmt: skip
"""Fields the sweep sets for every trial (its own options), which a space may not vary."""

SPACES: dict[str, dict[str, Any]] = {
    "paper": {
        "learning_rate": {"loguniform": [1e-4, 3e-3]},
        "critic_learning_rate": {"loguniform": [3e-5, 1e-3]},
        "n_critics": {"choice": [5, 10]},
        "critic_subset_size": {"choice": [1, 2, 3]},
        "gradient_steps": {"choice": [4, 8, 16]},
        "batch_size": {"choice": [128, 256, 512]},
        "gamma": {"choice": [0.8, 0.9, 0.95, 0.99]},
        "embed_dim": {"choice": [16, 32, 64]},
    },
    "small": {
        "learning_rate": {"loguniform": [3e-4, 3e-3]},
        "critic_learning_rate": {"loguniform": [3e-4, 3e-3]},
        "n_critics": {"choice": [2, 5]},
        "critic_subset_size": {"choice": [1, 2]},
        "gradient_steps": {"choice": [1, 2, 4]},
        "batch_size": {"choice": [32, 64]},
        "gamma": {"uniform": [0.8, 0.95]},
        "embed_dim": {"choice": [8, 16]},
    },
}
"""Named spaces. ``paper``: the paper-sized ranges (with ``--preset gpu``, on GPUs) of the learning rates, N
(``n_critics``) and M (``critic_subset_size``), the UTD (``gradient_steps`` at 16 copies: G = 0.25 .. 1),
batch size, gamma and embedding width. ``small``: the same knobs at CPU sizes (with ``--preset cpu``)."""


@dataclass(frozen=True)
class Param:
    """One entry of a space: a distribution ``kind`` (one of :data:`KINDS`) with its ``args``, or a constant.

    ``kind`` is ``"constant"`` for a fixed value (``args == (value,)``).
    """

    kind: str
    args: tuple[Any, ...]

    def sample(self, rng: np.random.Generator) -> Any:
        """One draw, from ``rng`` only."""
        if self.kind == "constant":
            return self.args[0]
        if self.kind == "choice":
            return self.args[int(rng.integers(len(self.args)))]
        low, high = self.args
        if self.kind == "uniform":
            return float(rng.uniform(low, high))
        if self.kind == "loguniform":
            return float(math.exp(rng.uniform(math.log(low), math.log(high))))
        return int(rng.integers(low, high))  # randint: [low, high)

    @property
    def log_scale(self) -> bool:
        """Whether plots show this parameter on a log axis."""
        return self.kind == "loguniform"


def _parse_param(name: str, entry: Any, hint: Any) -> Param:
    if not (isinstance(entry, dict) and len(entry) == 1 and next(iter(entry)) in KINDS) or hint is dict:
        if isinstance(entry, dict) and hint is not dict:
            raise ValueError(f"search space: {name}: {entry!r} is no distribution; use one key of {', '.join(KINDS)}"
                             " (e.g. {\"choice\": [1, 2]}) or a constant")  # fmt: skip
        if not _value_fits(hint, entry):
            raise ValueError(f"search space: {name} must be of type {hint}, got {entry!r}")
        return Param("constant", (entry,))
    kind, args = next(iter(entry.items()))
    if kind == "choice":
        if not isinstance(args, list) or not args:
            raise ValueError(f"search space: {name}: choice needs a non-empty list of values, got {args!r}")
        bad = [v for v in args if not _value_fits(hint, v)]
        if bad:
            raise ValueError(f"search space: {name}: choice values must be of type {hint}, got {bad!r}")
        return Param(kind, tuple(args))
    if not (isinstance(args, list) and len(args) == 2 and all(_value_fits(float, v) for v in args)):
        raise ValueError(f"search space: {name}: {kind} needs [low, high] numbers, got {args!r}")
    low, high = args
    if not low < high:
        raise ValueError(f"search space: {name}: {kind} needs low < high, got [{low}, {high}]")
    if kind == "loguniform" and low <= 0:
        raise ValueError(f"search space: {name}: loguniform needs low > 0, got {low}")
    if kind == "randint" and (hint is not int or not all(isinstance(v, int) for v in args)):
        raise ValueError(f"search space: {name}: randint needs an int field and int bounds, got {args!r}")
    if kind in ("uniform", "loguniform") and hint is not float:
        raise ValueError(f"search space: {name} is of type {hint}; {kind} draws floats (use choice or randint)")
    return Param(kind, (low, high))


def parse_space(spec: dict[str, Any]) -> dict[str, Param]:
    """A space from its JSON form (see the module docstring).

    :raises ValueError: a key that is no variable :class:`TrainConfig` field (the message lists the valid
        ones), an unknown distribution or bad bounds
    """
    import typing

    if not isinstance(spec, dict) or not spec:
        raise ValueError(f"search space: expected a non-empty object of {{field: distribution}}, got {spec!r}")
    hints = typing.get_type_hints(TrainConfig)
    valid = [f.name for f in dataclasses.fields(TrainConfig) if f.name not in FIXED_BY_SWEEP]
    unknown = sorted(set(spec) - set(valid))
    if unknown:
        fixed = sorted(set(unknown) & FIXED_BY_SWEEP)
        note = f" ({', '.join(fixed)}: set by the sweep's own options)" if fixed else ""
        raise ValueError(f"search space: unknown field(s) {', '.join(unknown)}{note}; valid: {', '.join(valid)}")
    return {name: _parse_param(name, entry, hints[name]) for name, entry in spec.items()}


def load_space(name_or_path: str | os.PathLike) -> tuple[dict[str, Param], dict[str, Any]]:
    """A named space of :data:`SPACES` or one read from a ``.json`` (or, with PyYAML, ``.yaml``) file.

    :return: the parsed space and its JSON form (recorded in the sweep's folder)
    :raises ValueError: neither a named space nor a file, or an invalid space
    :raises ImportError: a YAML file without PyYAML
    """
    text = str(name_or_path)
    if text in SPACES:
        spec = SPACES[text]
    elif Path(text).is_file():
        spec = read_options_file(text, "--space")
    else:
        raise ValueError(f"--space {text}: neither a named space ({', '.join(SPACES)}) nor a file")
    return parse_space(spec), spec


def sample(space: dict[str, Param], rng: np.random.Generator) -> dict[str, Any]:
    """One configuration ``{field: value}`` drawn from ``space`` with ``rng`` (in the space's key order)."""
    return {name: param.sample(rng) for name, param in space.items()}


def to_ray(space: dict[str, Param]) -> dict[str, Any]:
    """The space as a Ray Tune ``param_space`` (``tune.loguniform`` etc.; constants stay values)."""
    from ray import tune

    make = {"uniform": tune.uniform, "loguniform": tune.loguniform, "randint": tune.randint}
    out: dict[str, Any] = {}
    for name, param in space.items():
        if param.kind == "constant":
            out[name] = param.args[0]
        elif param.kind == "choice":
            out[name] = tune.choice(list(param.args))
        else:
            out[name] = make[param.kind](*param.args)
    return out
