"""Domains bind a simulator to the environments' per-copy random-number scheme.

Every env copy ``b`` owns one generator ``rngs[b]`` and all of its randomness (the hidden model, its
initial data, every experiment) comes from that generator alone, in the same order whatever the
number of copies. The heavy computation is still batched over all copies: parameters are sampled per
copy (once per episode, cheap) and concatenated, and each experiment is one batched simulation fed
with per-copy random draws. Hence copy ``b`` of a vector env seeded ``s`` reproduces a single env
seeded ``s + b`` exactly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import fields
from typing import Any

import numpy as np

from caasl_gym.envs.config import CausalLinearConfig, SergioKnockoutConfig
from caasl_gym.simulators.linear import draw_noise, propagate, sample_linear_params
from caasl_gym.simulators.sergio import sample_sergio_params, simulate_sergio

LINEAR_VALUE_BOUND = 1e6
"""Linear values are clipped to ``±LINEAR_VALUE_BOUND * max(1, value_scale)`` (never reached by the
registered priors: measured values stay below about 1e2 in magnitude)."""
COUNT_BOUND = 1e9
"""SERGIO counts are clipped to ``[0, COUNT_BOUND]`` (never reached: a cell's counts are Poisson draws
around a log-normal library size, about ``e^6`` for 10x and at most ``e^11`` for smart-seq)."""


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


class LinearDomain:
    """Linear SCMs: actions pick targets and values, channel 0 holds real values."""

    uses_values = True

    def __init__(self, config: CausalLinearConfig) -> None:
        self.config = config
        bound = LINEAR_VALUE_BOUND * max(1.0, config.value_scale)
        self.value_low, self.value_high = -bound, bound

    def sample_params(self, rngs: Sequence[np.random.Generator]) -> list[Any]:
        """One model per copy (each drawn as a batch of one). Returns a list of ``B`` params."""
        c = self.config
        return [
            sample_linear_params(
                g,
                1,
                c.num_nodes,
                graph=c.graph,
                edges_per_node=c.edges_per_node,
                weight_mean=c.weight_mean,
                noise=c.noise,
            )
            for g in rngs
        ]

    def observe(
        self,
        rngs: Sequence[np.random.Generator],
        per_copy: list[Any],
        params: Any,
        design: np.ndarray,
        values: np.ndarray,
        n: int,
    ) -> np.ndarray:
        """``n`` rows per copy under one intervention per copy.

        Args:
            rngs: ``B`` generators.
            per_copy: the ``B`` single-model params (for the per-copy draws).
            params: the same models concatenated (for the batched propagation).
            design: ``(B, d)`` bool targets (all False = observational).
            values: ``(B, d)`` intervention values.
            n: rows per copy.

        Returns:
            ``(B, n, d)`` float64.
        """
        batch, d = design.shape
        xi = np.concatenate([draw_noise(g, p, n) for g, p in zip(rngs, per_copy)])  # (B, n, d)
        targets = np.broadcast_to(design[:, None, :], (batch, n, d))
        vals = np.broadcast_to(values[:, None, :].astype(np.float64), (batch, n, d))
        return propagate(params, xi, targets, vals, self.config.intervention)


class SergioDomain:
    """SERGIO gene expression: actions pick knockout/knockdown targets, channel 0 holds counts."""

    uses_values = False

    def __init__(self, config: SergioKnockoutConfig) -> None:
        self.config = config
        self.value_low, self.value_high = 0.0, COUNT_BOUND

    def sample_params(self, rngs: Sequence[np.random.Generator]) -> list[Any]:
        """One model per copy (each drawn as a batch of one). Returns a list of ``B`` params."""
        c = self.config
        return [sample_sergio_params(g, 1, c.num_nodes, graph=c.graph, edges_per_node=c.edges_per_node) for g in rngs]

    def observe(
        self,
        rngs: Sequence[np.random.Generator],
        per_copy: list[Any],
        params: Any,
        design: np.ndarray,
        values: np.ndarray,
        n: int,
    ) -> np.ndarray:
        """``n`` cells per copy from one experiment per copy (see :meth:`LinearDomain.observe`).

        ``values`` is ignored; the design is the intended one (flips happen inside the simulator). One
        batched simulation in the simulator's per-model generator mode: copy ``b`` draws from
        ``rngs[b]`` only, exactly as a single env (a batch of one) would.
        """
        c = self.config
        kwargs = dict(intervention=c.intervention, flip_prob=c.flip_prob, technical_noise=c.technical_noise)
        return simulate_sergio(list(rngs), params, design, n, **kwargs)
