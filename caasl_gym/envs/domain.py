"""What a data domain provides, and its row in the registration table.

A domain binds a simulator to the environments' per-copy random-number scheme. Every env copy ``b``
owns one generator ``rngs[b]`` and all of its randomness (the hidden model, its initial data, every
experiment) comes from that generator alone, in the same order whatever the number of copies. The heavy
computation is still batched over all copies: parameters are sampled per copy (once per episode,
cheap) and concatenated with :func:`concat_params`, and each experiment is one batched simulation fed
with per-copy random draws. Hence copy ``b`` of a vector env seeded ``s`` reproduces a single env
seeded ``s + b`` exactly.

A domain lives in one module (config, :class:`Domain` implementation, env classes and a
:class:`DomainEntry`), see :mod:`caasl_gym.envs.linear` and CONTRIBUTING ("Adding a domain").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any, ClassVar, Protocol

import numpy as np

from caasl_gym.envs.config import DesignConfig


class Domain(Protocol):
    """The simulator side of a design environment, built once per env from its validated config.

    Params objects are frozen dataclasses with a leading batch axis on every array field and an
    ``adjacency`` ``(B, d, d)`` bool field (the hidden graphs).
    """

    config_class: ClassVar[type[DesignConfig]]
    """The env's kwargs; ``config_class.domain`` is the domain's name (e.g. ``"linear"``)."""
    value_low: float
    value_high: float
    """Bounds of observation channel 0 (measured values are clipped to them, with a warning)."""

    def __init__(self, config: DesignConfig) -> None: ...

    def sample_params(self, rngs: Sequence[np.random.Generator]) -> list[Any]:
        """One hidden model per copy, each a batch of one drawn from ``rngs[b]``."""
        ...

    def observe(
        self,
        rngs: Sequence[np.random.Generator],
        per_copy: list[Any],
        params: Any,
        design: np.ndarray,
        values: np.ndarray,
        n: int,
    ) -> np.ndarray:
        """``(B, n, d)`` rows per copy under one experiment per copy.

        Args:
            rngs: ``B`` generators; copy ``b`` draws from ``rngs[b]`` only.
            per_copy: the ``B`` single-model params (for per-copy draws).
            params: the same models concatenated (for the batched simulation).
            design: ``(B, d)`` bool targets (all False = observational).
            values: ``(B, d)`` intervention values from :meth:`intervention_values`.
            n: rows per copy.
        """
        ...

    def intervention_values(self, column: np.ndarray) -> np.ndarray:
        """``(B, d)`` intervention values from action column 1 ``(B, d)`` in ``[-1, 1]``."""
        ...


@dataclass(frozen=True)
class DomainEntry:
    """A domain's row in :mod:`caasl_gym.registration`.

    Attributes:
        domain: the :class:`Domain` class.
        env: its single-env class (a :class:`~caasl_gym.envs.base.CausalDesignEnv` subclass).
        vector_env: its native vector env (a :class:`~caasl_gym.envs.vector.CausalDesignVectorEnv` subclass).
        ids: every registered id and its kwargs overrides; the first id is the training prior.
    """

    domain: type[Domain]
    env: type
    vector_env: type
    ids: Mapping[str, Mapping[str, Any]]

    @property
    def name(self) -> str:
        return self.domain.config_class.domain

    @property
    def training_id(self) -> str:
        """The in-distribution id; the others are evaluated zero-shot with its policies and reward model."""
        return next(iter(self.ids))


def concat_params(parts: Sequence[Any]) -> Any:
    """Concatenate frozen parameter dataclasses along their leading batch axis.

    Args:
        parts: dataclasses of one type; array fields are concatenated, other fields must agree.

    Returns:
        One dataclass with batch ``sum(B_i)`` (``parts[0]`` itself when there is one part).
    """
    if len(parts) == 1:
        return parts[0]
    merged = {}
    for f in fields(parts[0]):
        values = [getattr(p, f.name) for p in parts]
        if isinstance(values[0], np.ndarray):
            merged[f.name] = np.concatenate(values)
        else:
            if any(v != values[0] for v in values[1:]):
                raise ValueError(f"cannot concatenate parameters that differ in {f.name!r}")
            merged[f.name] = values[0]
    return type(parts[0])(**merged)


def pick(rng: np.random.Generator, options: tuple, probs: tuple[float, ...]) -> Any:
    """One of ``options`` with probabilities ``probs`` (for the domains' training priors)."""
    return options[int(rng.choice(len(options), p=probs))]
