"""``CausalLinear-*``: experimental design on linear structural causal models."""

from __future__ import annotations

from typing import ClassVar

from caasl_gym.envs.base import CausalDesignEnv
from caasl_gym.envs.config import CausalLinearConfig, DesignConfig
from caasl_gym.envs.domains import LinearDomain


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
    reward_model="linear", reward="expected_correct", render_mode=None`` (``"ansi"`` or
    ``"rgb_array"``). Unknown kwargs raise ``TypeError``; invalid values raise ``ValueError``.

    ## Registered configurations
    - ``CausalLinear-v0``: the training prior.
    - ``CausalLinear-OOD-Graph-v0``: scale-free graphs.
    - ``CausalLinear-OOD-GraphMech-v0``: scale-free graphs, weight mean 0.1.
    - ``CausalLinear-OOD-GraphMechNoise-v0``: as above with Gumbel noise.
    - ``CausalLinear-OOD-Hetero-v0``: heteroskedastic noise.
    - ``CausalLinear-OOD-Shift-v0``: shift interventions instead of do.
    - ``CausalLinear-OOD-D20-v0``, ``CausalLinear-OOD-D30-v0``: 20 and 30 variables.
    """

    config_class: ClassVar[type[DesignConfig]] = CausalLinearConfig
    domain_class: ClassVar[type] = LinearDomain
