"""Validated, flat configurations of the design environments (one field per public kwarg).

``gym.make(id, **kwargs)`` passes its kwargs through :func:`build_config`, so a typo raises a
``TypeError`` listing the valid names and an invalid value raises a ``ValueError`` at construction,
never in the middle of an episode.
"""

from __future__ import annotations

import math
import numbers
import os
from dataclasses import dataclass, fields
from typing import Any, ClassVar

from caasl_gym.simulators.graphs import GRAPH_PRIORS

REWARDS = ("expected_correct", "log_likelihood")
"""Score functions ``S(h)`` accepted by the ``reward`` kwarg (see :mod:`caasl_gym.envs.scoring`)."""


def check_integer(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if int(value) < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def check_real(
    name: str, value: Any, *, positive: bool = False, unit: bool = False, bound: float | None = None
) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    if positive and not value > 0:
        raise ValueError(f"{name} must be > 0, got {value}")
    if unit and not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must lie in [0, 1], got {value}")
    if bound is not None and abs(value) > bound:
        lo = "0 <" if positive else f"-{bound:g} <="
        raise ValueError(f"{name} must satisfy {lo} {name} <= {bound:g}, got {value}")
    return float(value)


def check_choice(name: str, value: Any, valid: tuple[str, ...]) -> str:
    if value not in valid:
        raise ValueError(f"unknown {name} {value!r}; valid choices: {', '.join(valid)}")
    return value


@dataclass(frozen=True)
class DesignConfig:
    """Kwargs shared by every design environment; each domain subclasses it with its own kwargs."""

    domain: ClassVar[str] = ""
    """the data domain's name (``"linear"``, ``"sergio"``); reward models are checked against it"""

    num_nodes: int = 10
    """number of variables ``d`` (>= 2)"""
    n_initial: int = 50
    """observational rows ``n0`` in the history at reset (>= 1)"""
    budget: int = 10
    """experiments ``T`` per episode (>= 1); the episode terminates after exactly ``T`` steps"""
    samples_per_step: int = 1
    """rows ``k`` drawn per experiment (>= 1)"""
    graph: str = "erdos_renyi"
    """graph prior, one of ``GRAPH_PRIORS``"""
    edges_per_node: float = 3.0
    """expected edges per node (Erdős–Rényi) or edges per new node (scale-free, rounded)"""
    reward_model: Any = "linear"
    """reward model: a shipped name, ``"exact"`` (linear, d <= 12), a path, or an object with ``edge_probabilities``"""
    reward: str = "expected_correct"
    """score ``S(h)``, one of ``REWARDS``"""

    def __post_init__(self) -> None:
        for name, minimum in [("num_nodes", 2), ("n_initial", 1), ("budget", 1), ("samples_per_step", 1)]:
            object.__setattr__(self, name, check_integer(name, getattr(self, name), minimum))
        check_choice("graph prior", self.graph, GRAPH_PRIORS)
        epn = check_real("edges_per_node", self.edges_per_node, positive=True)
        if self.graph == "scale_free" and round(epn) < 1:
            raise ValueError(f"edges_per_node must round to >= 1 for scale-free graphs, got {epn}")
        object.__setattr__(self, "edges_per_node", epn)
        check_choice("reward", self.reward, REWARDS)
        model = self.reward_model
        if not (isinstance(model, str | os.PathLike) or callable(getattr(model, "edge_probabilities", None))):
            raise ValueError(
                "reward_model must be a shipped model name, a path, or an object with an "
                f"edge_probabilities(values, intervened, mask) method; got {model!r}"
            )

    @property
    def num_rows(self) -> int:
        """History length ``N = n0 + T * k``."""
        return self.n_initial + self.budget * self.samples_per_step


def config_kwargs(config_class: type[DesignConfig]) -> tuple[str, ...]:
    """The public kwarg names of a config class, in declaration order."""
    return tuple(f.name for f in fields(config_class))


def build_config(
    config_class: type[DesignConfig], kwargs: dict[str, Any], owner: str, extra: tuple[str, ...] = ("render_mode",)
) -> DesignConfig:
    """Build ``config_class(**kwargs)`` with a helpful error for unknown names.

    Args:
        config_class: the dataclass to build.
        kwargs: user kwargs (JSON-serialisable values, except possibly ``reward_model``).
        owner: name used in error messages (the env class).
        extra: further kwargs the caller accepts itself (listed in the error message).

    Raises:
        TypeError: an unknown kwarg; the message lists the valid ones.
        ValueError: an invalid value.
    """
    valid = config_kwargs(config_class)
    unknown = sorted(set(kwargs) - set(valid))
    if unknown:
        raise TypeError(
            f"{owner} got unknown keyword argument(s) {', '.join(map(repr, unknown))}; "
            f"valid keyword arguments: {', '.join(valid + extra)}"
        )
    return config_class(**kwargs)
