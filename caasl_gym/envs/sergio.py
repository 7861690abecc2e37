"""The SERGIO domain: ``SergioKnockout-*`` environments (config, simulator adapter, env classes, ids)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from caasl_gym.envs.base import CausalDesignEnv
from caasl_gym.envs.config import DesignConfig, check_choice, check_real
from caasl_gym.envs.domain import DomainEntry, pick
from caasl_gym.envs.vector import CausalDesignVectorEnv
from caasl_gym.simulators.sergio import SERGIO_INTERVENTIONS, sample_sergio_params, simulate_sergio
from caasl_gym.simulators.technical_noise import TECHNICAL_NOISE_PRESETS

COUNT_BOUND = 1e9
"""SERGIO counts are clipped to ``[0, COUNT_BOUND]`` (never reached: a cell's counts are Poisson draws
around a log-normal library size, about ``e^6`` for 10x and at most ``e^11`` for smart-seq)."""


@dataclass(frozen=True)
class SergioKnockoutConfig(DesignConfig):
    """Kwargs of ``SergioKnockout-*`` environments."""

    domain: ClassVar[str] = "sergio"

    reward_model: Any = "sergio"
    intervention: str = "knockout"
    """``"knockout"`` (production 0) or ``"knockdown"`` (production halved)"""
    flip_prob: float = 0.0
    """probability that each intended design bit is flipped before simulating (noisy interventions)"""
    technical_noise: str = "10x-chromium-mini"
    """technical-noise preset, a key of ``TECHNICAL_NOISE_PRESETS``"""

    def __post_init__(self) -> None:
        super().__post_init__()
        check_choice("intervention", self.intervention, SERGIO_INTERVENTIONS)
        object.__setattr__(self, "flip_prob", check_real("flip_prob", self.flip_prob, unit=True))
        check_choice("technical noise preset", self.technical_noise, tuple(TECHNICAL_NOISE_PRESETS))

    @property
    def simulator_kwargs(self) -> dict[str, Any]:
        return dict(intervention=self.intervention, flip_prob=self.flip_prob, technical_noise=self.technical_noise)


class SergioDomain:
    """SERGIO gene expression: actions pick knockout/knockdown targets, channel 0 holds counts."""

    config_class: ClassVar[type[DesignConfig]] = SergioKnockoutConfig

    def __init__(self, config: SergioKnockoutConfig) -> None:
        self.config = config
        self.value_low, self.value_high = 0.0, COUNT_BOUND

    def sample_params(self, rngs: Sequence[np.random.Generator]) -> list[Any]:
        c = self.config
        return [sample_sergio_params(g, 1, c.num_nodes, graph=c.graph, edges_per_node=c.edges_per_node) for g in rngs]

    def observe(self, rngs, per_copy, params, design, values, n) -> np.ndarray:
        """``values`` is ignored; the design is the intended one (flips happen inside the simulator). One
        batched simulation in the simulator's per-model generator mode: copy ``b`` draws from
        ``rngs[b]`` only, exactly as a single env (a batch of one) would."""
        return simulate_sergio(list(rngs), params, design, n, **self.config.simulator_kwargs)

    def intervention_values(self, column: np.ndarray) -> np.ndarray:
        return np.zeros_like(column)  # knockouts have no value

    # ------------------------------------------------------------------ reward-model training data
    @staticmethod
    def simulate(
        rng: np.random.Generator,
        config: SergioKnockoutConfig,
        batch: int,
        d: int,
        n_obs: int,
        designs: np.ndarray,
        value_scale: None = None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """As :meth:`caasl_gym.envs.linear.LinearDomain.simulate`; each interventional row is one run."""
        params = sample_sergio_params(rng, batch, d, graph=config.graph, edges_per_node=config.edges_per_node)
        kwargs = config.simulator_kwargs
        blocks = [simulate_sergio(rng, params, np.zeros((batch, d), dtype=bool), n_obs, **kwargs)]
        blocks += [simulate_sergio(rng, params, designs[:, t], 1, **kwargs) for t in range(designs.shape[1])]
        targets = np.concatenate([np.zeros((batch, n_obs, d), dtype=bool), designs], axis=1)
        return np.concatenate(blocks, axis=1), targets, params.adjacency

    @staticmethod
    def sample_training_config(rng: np.random.Generator, size: int) -> tuple[SergioKnockoutConfig, None]:
        """The reward model's broad training prior (covers every registered id); no value scales."""
        config = SergioKnockoutConfig(
            graph=pick(rng, ("erdos_renyi", "scale_free"), (0.5, 0.5)),
            intervention=pick(rng, ("knockout", "knockdown"), (0.6, 0.4)),
            flip_prob=pick(rng, (0.0, 0.1), (0.7, 0.3)),
            technical_noise=pick(rng, ("10x-chromium-mini", "drop-seq"), (0.6, 0.4)),
        )
        return config, None


class SergioKnockoutEnv(CausalDesignEnv):
    """Choose gene knockouts in a hidden gene regulatory network to learn its graph.

    ## Description
    Each episode draws a hidden SERGIO gene regulatory network over ``d = num_nodes`` genes (Erdős–
    Rényi DAG, 5 cell types, Hill kinetics, chemical Langevin dynamics) and ``n0 = n_initial``
    wild-type cells with technical noise (``technical_noise`` preset). At each of ``T = budget``
    steps the agent picks a set of genes to knock out (or knock down); ``k = samples_per_step`` cells
    of one experiment run are appended to the history. With ``flip_prob > 0`` each intended target bit
    is flipped with that probability before simulating; the history records the intended design. All
    randomness comes from ``self.np_random``.

    ## Observation
    ``Box(0, 1e9, (N, d, 3), float32)`` with ``N = n0 + T·k`` rows, filled in time order:
    channel 0 the raw UMI count (an integer; clipped to 1e9, never reached in practice), channel 1
    the intended intervention indicator, channel 2 one for filled rows and zero for padding. Every
    observation is a fresh array.

    ## Action
    ``Box(-1, 1, (d, 2), float32)``: gene ``i`` is a target iff ``a[i, 0] > 0``; column 1 is
    ignored. A wrong shape or NaN/inf raises ``ValueError``; finite entries outside the box are
    clipped.

    ## Reward
    As :class:`~caasl_gym.envs.linear.CausalLinearEnv`: ``r_t = S(h_t) − S(h_{t−1})`` with
    ``S`` the expected number of correct adjacency entries under the ``"sergio"`` reward model (or
    the log-likelihood variant); ``info["score"] = S(h_t)``; ``true_adjacency`` and
    ``edge_probabilities()`` on the unwrapped env.

    ## Episode end
    Terminated (not truncated) after exactly ``budget`` steps.

    ## Arguments
    ``num_nodes=10, n_initial=50, budget=10, samples_per_step=1, graph="erdos_renyi",
    edges_per_node=3.0, intervention="knockout", flip_prob=0.0, technical_noise="10x-chromium-mini",
    reward_model="sergio", reward="expected_correct", render_mode=None``. Unknown kwargs raise
    ``TypeError``; invalid values raise ``ValueError``.

    ## Registered configurations
    See :data:`ENTRY` (``SergioKnockout-v0`` is the training prior; the ``-OOD-`` ids change one part of it).
    """

    domain_class: ClassVar[type] = SergioDomain


class SergioKnockoutVectorEnv(CausalDesignVectorEnv):
    """Native vector version of :class:`SergioKnockoutEnv`."""

    domain_class: ClassVar[type] = SergioDomain


ENTRY = DomainEntry(
    SergioDomain,
    SergioKnockoutEnv,
    SergioKnockoutVectorEnv,
    ids={
        "SergioKnockout-v0": {},  # the training prior
        "SergioKnockout-OOD-Graph-v0": {"graph": "scale_free"},
        "SergioKnockout-OOD-DropSeq-v0": {"technical_noise": "drop-seq"},
        "SergioKnockout-OOD-Knockdown-v0": {"intervention": "knockdown"},
        "SergioKnockout-OOD-NoisyIntervention-v0": {"flip_prob": 0.1},
        "SergioKnockout-OOD-D20-v0": {"num_nodes": 20},
        "SergioKnockout-OOD-D30-v0": {"num_nodes": 30},
    },
)
"""``SergioKnockout`` ids and their kwargs overrides of the training prior."""
