"""``SergioKnockout-*``: gene knockout design on simulated single-cell RNA-seq (SERGIO)."""

from __future__ import annotations

from typing import ClassVar

from caasl_gym.envs.base import CausalDesignEnv
from caasl_gym.envs.config import DesignConfig, SergioKnockoutConfig
from caasl_gym.envs.domains import SergioDomain


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
    As :class:`~caasl_gym.envs.causal_linear.CausalLinearEnv`: ``r_t = S(h_t) − S(h_{t−1})`` with
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
    - ``SergioKnockout-v0``: the training prior.
    - ``SergioKnockout-OOD-Graph-v0``: scale-free graphs.
    - ``SergioKnockout-OOD-DropSeq-v0``: drop-seq technical noise.
    - ``SergioKnockout-OOD-Knockdown-v0``: knockdown (production halved) instead of knockout.
    - ``SergioKnockout-OOD-NoisyIntervention-v0``: each design bit flipped with probability 0.1.
    - ``SergioKnockout-OOD-D20-v0``, ``SergioKnockout-OOD-D30-v0``: 20 and 30 genes.
    """

    config_class: ClassVar[type[DesignConfig]] = SergioKnockoutConfig
    domain_class: ClassVar[type] = SergioDomain
