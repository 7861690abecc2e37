"""Batched linear structural causal models (the prior of ``CausalLinear-v0`` and its OOD variants).

Model ``b`` generates every variable in topological order as::

    y_j = sum_i theta_ij * y_i + scale_j(y_pa) * eps_j          (observational mechanism)
    do(y_j = v):    y_j = v                                      (hard intervention)
    shift(y_j, v):  y_j = sum_i theta_ij * y_i + scale_j(y_pa) * eps_j + v

with ``scale_j = s_j`` (Gaussian or Gumbel noise) or ``s_j * softplus(g_j(y_pa))`` (heteroskedastic, ``g_j``
a random-Fourier-feature function of the parents). Simulation is exact for any DAG: nodes are computed
in each model's own topological order, one position at a time for the whole batch.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from caasl_gym.simulators.graphs import GRAPH_PRIORS, sample_graphs, topological_depth

LINEAR_NOISES = ("gaussian", "gumbel", "heteroskedastic")
"""Exogenous noise families accepted by :func:`sample_linear_params`."""
LINEAR_INTERVENTIONS = ("do", "shift")
"""Intervention types accepted by :func:`simulate_linear`."""

RFF_FEATURES = 100


@dataclass(frozen=True)
class LinearSCMParams:
    """Hidden parameters of ``B`` linear SCMs (arrays share the leading batch axis).

    Attributes:
        adjacency: ``(B, d, d)`` bool, ``adjacency[b, i, j]`` iff edge ``i -> j``.
        weights: ``(B, d, d)`` float64 edge weights ``theta_ij`` (zero where there is no edge).
        noise_scale: ``(B, d)`` float64 noise standard deviations ``s_j``.
        order: ``(B, d)`` int64, a topological order of each graph.
        noise: the noise family, one of :data:`LINEAR_NOISES`.
        rff_freq: ``(B, d, F, d)`` float32 RFF frequencies of ``g_j`` (zero on non-parents), or None.
        rff_phase: ``(B, d, F)`` float32 RFF phases, or None.
        rff_coef: ``(B, d, F)`` float32 RFF output weights (output scale folded in), or None.
    """

    adjacency: np.ndarray
    weights: np.ndarray
    noise_scale: np.ndarray
    order: np.ndarray
    noise: str = "gaussian"
    rff_freq: np.ndarray | None = None
    rff_phase: np.ndarray | None = None
    rff_coef: np.ndarray | None = None

    @property
    def batch(self) -> int:
        """Number of models ``B``."""
        return self.adjacency.shape[0]

    @property
    def num_nodes(self) -> int:
        """Number of variables ``d``."""
        return self.adjacency.shape[-1]

    def take(self, index: np.ndarray | slice | list[int]) -> LinearSCMParams:
        """The sub-batch of models selected by ``index`` (along the leading axis)."""
        kwargs = {}
        for f in fields(self):
            v = getattr(self, f.name)
            kwargs[f.name] = v[index] if isinstance(v, np.ndarray) else v
        return LinearSCMParams(**kwargs)


def _check_choice(name: str, value: str, valid: tuple[str, ...]) -> None:
    if value not in valid:
        raise ValueError(f"unknown {name} {value!r}; valid choices: {', '.join(valid)}")


def sample_linear_params(
    rng: np.random.Generator,
    batch: int,
    d: int,
    *,
    graph: str = "erdos_renyi",
    edges_per_node: float = 3.0,
    weight_mean: float = 0.0,
    noise: str = "gaussian",
    noise_concentration: float = 10.0,
    noise_rate: float = 1.0,
    rff_length_scale: float = 10.0,
    rff_output_scale: float = 2.0,
) -> LinearSCMParams:
    """Sample ``B`` linear SCMs from the prior.

    Noise variances are ``s_j^2 ~ InvGamma(noise_concentration, noise_rate)``. Edge weights are
    ``theta_ij ~ N(weight_mean, sigma_j^2)`` with ``sigma_j^2 = (1 - s_j^2) / sum_{i in pa(j)} v_i``,
    where ``v_i = s_i^2`` for roots and ``1`` otherwise. With ``weight_mean = 0`` this makes the
    expected marginal variance of every non-root variable exactly 1 (roots keep variance ``s_j^2``).

    Args:
        rng: the only source of randomness.
        batch: number of models ``B``.
        d: number of variables.
        graph: graph prior, one of ``GRAPH_PRIORS``.
        edges_per_node: expected edges per node (Erdős–Rényi) or edges per new node (scale-free).
        weight_mean: mean ``mu`` of the edge weights (0 for training, 0.1 for the OOD mechanism shift).
        noise: one of :data:`LINEAR_NOISES`.
        noise_concentration: shape ``alpha > 0`` of the inverse-gamma prior on noise variances.
        noise_rate: rate ``beta > 0`` of that prior.
        rff_length_scale: length scale ``> 0`` of the squared-exponential kernel (heteroskedastic).
        rff_output_scale: output scale ``> 0`` of the RFF function (heteroskedastic).

    Returns:
        The parameters, a :class:`LinearSCMParams` with batch axis ``B``.
    """
    _check_choice("graph prior", graph, GRAPH_PRIORS)
    _check_choice("noise", noise, LINEAR_NOISES)
    for name, value in [
        ("noise_concentration", noise_concentration),
        ("noise_rate", noise_rate),
        ("rff_length_scale", rff_length_scale),
        ("rff_output_scale", rff_output_scale),
    ]:
        if not (np.isfinite(value) and value > 0):
            raise ValueError(f"{name} must be a finite positive number, got {value}")
    if not np.isfinite(weight_mean):
        raise ValueError(f"weight_mean must be finite, got {weight_mean}")

    adj = sample_graphs(rng, batch, d, graph, edges_per_node)  # (B, d, d)
    noise_var = noise_rate / rng.gamma(noise_concentration, 1.0, size=(batch, d))  # InvGamma, (B, d)
    is_root = ~adj.any(axis=1)  # (B, d)
    design_var = np.where(is_root, noise_var, 1.0)  # (B, d)
    parent_var = np.einsum("bij,bi->bj", adj.astype(np.float64), design_var)  # (B, d)
    weight_var = np.maximum(1.0 - noise_var, 0.05) / np.maximum(parent_var, 1e-12)  # (B, d)
    weights = weight_mean + np.sqrt(weight_var)[:, None, :] * rng.standard_normal((batch, d, d))
    weights = np.where(adj, weights, 0.0)
    order = np.argsort(topological_depth(adj), axis=1, kind="stable")

    rff = {}
    if noise == "heteroskedastic":
        freq = rng.standard_normal((batch, d, RFF_FEATURES, d)) / rff_length_scale  # (B, d_child, F, d_parent)
        freq *= np.swapaxes(adj, 1, 2)[:, :, None, :]  # zero on non-parents
        rff = dict(
            rff_freq=freq.astype(np.float32),
            rff_phase=rng.uniform(0, 2 * np.pi, (batch, d, RFF_FEATURES)).astype(np.float32),
            rff_coef=(
                rff_output_scale * np.sqrt(2.0 / RFF_FEATURES) * rng.standard_normal((batch, d, RFF_FEATURES))
            ).astype(np.float32),
        )
    return LinearSCMParams(adj, weights, np.sqrt(noise_var), order, noise, **rff)


def draw_noise(rng: np.random.Generator, params: LinearSCMParams, n: int) -> np.ndarray:
    """Standard exogenous noise ``xi`` (before scaling) for ``n`` rows of every model: ``(B, n, d)``."""
    shape = (params.batch, n, params.num_nodes)
    if params.noise == "gumbel":
        return rng.gumbel(0.0, 1.0, size=shape)
    return rng.standard_normal(shape)


def propagate(
    params: LinearSCMParams,
    xi: np.ndarray,
    targets: np.ndarray,
    values: np.ndarray,
    intervention: str = "do",
) -> np.ndarray:
    """Deterministic core of :func:`simulate_linear`: push fixed noise through the SCMs.

    Args:
        params: ``B`` models.
        xi: ``(B, n, d)`` standard noise from :func:`draw_noise`.
        targets: ``(B, n, d)`` bool, variables intervened on in each row.
        values: ``(B, n, d)`` intervention values (ignored where ``targets`` is False).
        intervention: ``"do"`` or ``"shift"``.

    Returns:
        ``(B, n, d)`` float64 samples.
    """
    _check_choice("intervention", intervention, LINEAR_INTERVENTIONS)
    batch, n, d = xi.shape
    rows = np.arange(batch)
    x = np.zeros((batch, n, d))
    for k in range(d):
        j = params.order[:, k]  # (B,) the k-th node of each model's topological order
        mean = np.einsum("bni,bi->bn", x, params.weights[rows, :, j])  # (B, n)
        scale = params.noise_scale[rows, j][:, None]  # (B, 1)
        if params.noise == "heteroskedastic":
            freq = params.rff_freq[rows, j].transpose(0, 2, 1)  # (B, d, F)
            feats = np.matmul(x.astype(np.float32), freq) + params.rff_phase[rows, j][:, None]  # (B, n, F)
            g = np.matmul(np.cos(feats), params.rff_coef[rows, j][:, :, None])[..., 0]  # (B, n)
            scale = scale * np.logaddexp(0.0, g)  # softplus
        y = mean + scale * xi[rows, :, j]
        hit = targets[rows, :, j]  # (B, n)
        v = values[rows, :, j]
        y = np.where(hit, v, y) if intervention == "do" else y + np.where(hit, v, 0.0)
        x[rows, :, j] = y
    return x


def simulate_linear(
    rng: np.random.Generator,
    params: LinearSCMParams,
    targets: np.ndarray,
    values: np.ndarray,
    *,
    intervention: str = "do",
) -> np.ndarray:
    """Draw one sample per row under per-row, multi-target interventions.

    Args:
        rng: the only source of randomness.
        params: ``B`` models from :func:`sample_linear_params`.
        targets: ``(B, n, d)`` bool, the variables intervened on in each row (all False = observational).
        values: ``(B, n, d)`` float, the intervention value of each targeted variable.
        intervention: one of :data:`LINEAR_INTERVENTIONS`: ``"do"`` clamps a target to its value,
            ``"shift"`` adds the value to its mechanism.

    Returns:
        ``(B, n, d)`` float64 samples.
    """
    _check_choice("intervention", intervention, LINEAR_INTERVENTIONS)
    targets = np.asarray(targets)
    values = np.asarray(values, dtype=np.float64)
    batch, d = params.batch, params.num_nodes
    if targets.ndim != 3 or targets.shape[0] != batch or targets.shape[2] != d:
        raise ValueError(f"targets must have shape (B={batch}, n, d={d}), got {targets.shape}")
    if targets.dtype != bool:
        raise ValueError(f"targets must be a bool array, got dtype {targets.dtype}")
    if values.shape != targets.shape:
        raise ValueError(f"values must have the shape of targets {targets.shape}, got {values.shape}")
    if not np.isfinite(values[targets]).all():
        raise ValueError("intervention values must be finite where a variable is targeted")
    xi = draw_noise(rng, params, targets.shape[1])
    return propagate(params, xi, targets, values, intervention)
