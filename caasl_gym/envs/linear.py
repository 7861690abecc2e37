"""The linear-SCM domain: ``CausalLinear-*`` environments (config, simulator adapter, env classes, ids)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from caasl_gym.envs.base import CausalDesignEnv
from caasl_gym.envs.config import DesignConfig, check_choice, check_real
from caasl_gym.envs.domain import DomainEntry, pick
from caasl_gym.envs.vector import CausalDesignVectorEnv
from caasl_gym.simulators.linear import (
    LINEAR_INTERVENTIONS,
    LINEAR_NOISES,
    draw_noise,
    propagate,
    sample_linear_params,
    simulate_linear,
)

MAX_WEIGHT_MEAN = 1.0
"""Largest ``|weight_mean|``: beyond it values grow like ``(weight_mean * parents)^depth`` past any bound."""
MAX_VALUE_SCALE = 1e3
"""Largest ``value_scale`` (intervention values beyond it overflow the observation bounds)."""
LINEAR_VALUE_BOUND = 1e6
"""Linear values are clipped to ``±LINEAR_VALUE_BOUND * max(1, value_scale)`` (never reached by the
registered priors: measured values stay below about 1e2 in magnitude)."""


@dataclass(frozen=True)
class CausalLinearConfig(DesignConfig):
    """Kwargs of ``CausalLinear-*`` environments."""

    domain: ClassVar[str] = "linear"

    reward_model: Any = "auto"
    """reward model; ``"auto"`` (default) = ``"exact"`` where the exact posterior is exact (Erdős–Rényi graphs,
    Gaussian noise, do-interventions, ``num_nodes <= 12``), else the trained ``"linear"`` network"""

    weight_mean: float = 0.0
    """mean of the edge weights (0.1 in the mechanism-shift OOD ids)"""
    noise: str = "gaussian"
    """exogenous noise, one of ``LINEAR_NOISES``"""
    intervention: str = "do"
    """``"do"`` clamps a target to its value, ``"shift"`` adds the value to its mechanism"""
    value_scale: float = 1.0
    """intervention value of target ``i`` is ``value_scale * action[i, 1]`` (> 0)"""

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "weight_mean", check_real("weight_mean", self.weight_mean, bound=MAX_WEIGHT_MEAN))
        check_choice("noise", self.noise, LINEAR_NOISES)
        check_choice("intervention", self.intervention, LINEAR_INTERVENTIONS)
        value_scale = check_real("value_scale", self.value_scale, positive=True, bound=MAX_VALUE_SCALE)
        object.__setattr__(self, "value_scale", value_scale)
        if isinstance(self.reward_model, str) and self.reward_model == "auto":
            object.__setattr__(self, "reward_model", "exact" if self.exact_posterior_is_exact else "linear")

    @property
    def exact_posterior_is_exact(self) -> bool:
        """Whether the exact posterior (``reward_model="exact"``) models this prior exactly and is tractable."""
        from caasl_gym.reward.exact import MAX_EXACT_NODES, approximation_reasons

        return self.num_nodes <= MAX_EXACT_NODES and not approximation_reasons(self)


class LinearDomain:
    """Linear SCMs: actions pick targets and values, channel 0 holds real values."""

    config_class: ClassVar[type[DesignConfig]] = CausalLinearConfig

    def __init__(self, config: CausalLinearConfig) -> None:
        self.config = config
        bound = LINEAR_VALUE_BOUND * max(1.0, config.value_scale)
        self.value_low, self.value_high = -bound, bound

    def sample_params(self, rngs: Sequence[np.random.Generator]) -> list[Any]:
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

    def observe(self, rngs, per_copy, params, design, values, n) -> np.ndarray:
        batch, d = design.shape
        xi = np.concatenate([draw_noise(g, p, n) for g, p in zip(rngs, per_copy)])  # (B, n, d)
        targets = np.broadcast_to(design[:, None, :], (batch, n, d))
        vals = np.broadcast_to(values[:, None, :].astype(np.float64), (batch, n, d))
        return propagate(params, xi, targets, vals, self.config.intervention)

    def intervention_values(self, column: np.ndarray) -> np.ndarray:
        return self.config.value_scale * column

    # ------------------------------------------------------------------ reward-model training data
    @staticmethod
    def simulate(
        rng: np.random.Generator,
        config: CausalLinearConfig,
        batch: int,
        d: int,
        n_obs: int,
        designs: np.ndarray,
        value_scale: np.ndarray | float | None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``B`` new models and one history each, every row under its own design, from one generator.

        Args:
            designs: ``(B, n_int, d)`` bool targets of the interventional rows.
            value_scale: ``(B,)`` or scalar scale of the ``U(-1, 1)`` values; None = ``config.value_scale``.

        Returns:
            values ``(B, n, d)``, targets ``(B, n, d)`` bool and adjacency ``(B, d, d)`` bool.
        """
        c = config
        params = sample_linear_params(
            rng, batch, d, graph=c.graph, edges_per_node=c.edges_per_node, weight_mean=c.weight_mean, noise=c.noise
        )
        targets = np.zeros((batch, n_obs + designs.shape[1], d), dtype=bool)
        targets[:, n_obs:] = designs
        scale = c.value_scale if value_scale is None else value_scale
        scale = np.broadcast_to(np.asarray(scale, dtype=np.float64), (batch,))
        values = rng.uniform(-1.0, 1.0, size=targets.shape) * scale[:, None, None]
        return simulate_linear(rng, params, targets, values, intervention=c.intervention), targets, params.adjacency

    @staticmethod
    def sample_training_config(rng: np.random.Generator, size: int) -> tuple[CausalLinearConfig, np.ndarray]:
        """The reward model's broad training prior (covers every registered id): a config for ``size``
        histories and their value scales ``(size,)`` (a quarter of them larger, ``U(1, 4)``)."""
        config = CausalLinearConfig(
            graph=pick(rng, ("erdos_renyi", "scale_free"), (0.5, 0.5)),
            weight_mean=pick(rng, (0.0, 0.1), (0.6, 0.4)),
            noise=pick(rng, ("gaussian", "gumbel", "heteroskedastic"), (0.5, 0.25, 0.25)),
            intervention=pick(rng, ("do", "shift"), (0.6, 0.4)),
        )
        return config, np.where(rng.random(size) < 0.25, rng.uniform(1.0, 4.0, size), 1.0)


class CausalLinearEnv(CausalDesignEnv):
    """Choose interventions on a hidden linear SCM to learn its causal graph.

    ## Description
    Each episode draws a hidden linear-Gaussian SCM over ``d = num_nodes`` variables from the prior
    (Erdős–Rényi DAG with ``edges_per_node`` expected edges per node, weights ``N(weight_mean, σ_j²)``
    that keep marginal variances near 1, inverse-gamma noise variances) and ``n0 = n_initial``
    observational samples. At each of ``T = budget`` steps the agent designs one experiment, a set of
    targets and their values; ``k = samples_per_step`` samples are drawn under it and appended to the
    history. All randomness comes from ``self.np_random``.

    ## Observation
    ``Box(-b, b, (N, d, 3), float32)`` with ``N = n0 + T·k`` rows, filled in time order:
    channel 0 the sampled value (raw; clipped to ``±b``, ``b = 1e6 · max(1, value_scale)``, never
    reached in practice), channel 1 the intended intervention indicator, channel 2 one for filled rows
    and zero for padding. Every observation is a fresh array.

    ## Action
    ``Box(-1, 1, (d, 2), float32)``: variable ``i`` is a target iff ``a[i, 0] > 0``, with value
    ``value_scale · a[i, 1]``; ``intervention="do"`` clamps it, ``"shift"`` adds the value to its
    mechanism. A wrong shape or NaN/inf raises ``ValueError``; finite entries outside the box are
    clipped.

    ## Reward
    ``r_t = S(h_t) − S(h_{t−1})`` where ``S`` is the expected number of correct adjacency entries
    under the reward model's posterior ``q(A | h)`` (``reward="expected_correct"``, all ``d²``
    entries) or ``Σ_{i≠j} log q(A_ij)`` (``reward="log_likelihood"``). ``info["score"]`` holds
    ``S(h_t)`` at reset and after every step, so ``info["score"]`` at reset plus the return equals the
    final score. ``env.unwrapped.true_adjacency`` and ``env.unwrapped.edge_probabilities()`` expose the
    hidden graph and the current posterior for evaluation.

    ## Episode end
    Terminated (not truncated) after exactly ``budget`` steps.

    ## Arguments
    ``num_nodes=10, n_initial=50, budget=10, samples_per_step=1, graph="erdos_renyi",
    edges_per_node=3.0, weight_mean=0.0, noise="gaussian", intervention="do", value_scale=1.0,
    reward_model="auto", reward="expected_correct", render_mode=None`` (``"ansi"`` or
    ``"rgb_array"``). Unknown kwargs raise ``TypeError``; invalid values raise ``ValueError``.

    ## Registered configurations
    See :data:`ENTRY` (``CausalLinear-v0`` is the training prior; the ``-OOD-`` ids change one part of it).
    """

    domain_class: ClassVar[type] = LinearDomain


class CausalLinearVectorEnv(CausalDesignVectorEnv):
    """Native vector version of :class:`CausalLinearEnv`."""

    domain_class: ClassVar[type] = LinearDomain


ENTRY = DomainEntry(
    LinearDomain,
    CausalLinearEnv,
    CausalLinearVectorEnv,
    ids={
        "CausalLinear-v0": {},  # the training prior
        "CausalLinear-OOD-Graph-v0": {"graph": "scale_free"},
        "CausalLinear-OOD-GraphMech-v0": {"graph": "scale_free", "weight_mean": 0.1},
        "CausalLinear-OOD-GraphMechNoise-v0": {"graph": "scale_free", "weight_mean": 0.1, "noise": "gumbel"},
        "CausalLinear-OOD-Hetero-v0": {"noise": "heteroskedastic"},
        "CausalLinear-OOD-Shift-v0": {"intervention": "shift"},
        "CausalLinear-OOD-D20-v0": {"num_nodes": 20},
        "CausalLinear-OOD-D30-v0": {"num_nodes": 30},
    },
)
"""``CausalLinear`` ids and their kwargs overrides of the training prior."""
