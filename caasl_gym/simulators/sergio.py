"""Batched SERGIO-style single-cell gene-expression simulator.

Our own implementation of the dynamics described by Dibaeinia & Sinha (2020, Cell Systems) with the
settings CAASL trains on (facts in ``reference/avici_sergio.md`` §3). A batch holds ``B`` independent
gene regulatory networks over ``d`` genes and ``C`` cell types.

Model (per model ``b``, cell type ``c``, gene ``i``; ``K[j, i]`` is the signed strength of ``j -> i``):

* production ``P_i = f_i * (b_ic + sum_j |K_ji| H_ji(x_j))``, where ``b_ic ~ U(1, 3)`` for master
  regulators (no parents) and 0 otherwise, ``H_ji = x^n / (h_j^n + x^n)`` for an activating edge and
  ``1 - that`` for a repressing one, and ``f_i`` is 1, 0 (knockout) or 0.5 (knockdown);
* chemical Langevin equation with separate production and decay noise ('dpd'), Euler–Maruyama:
  ``x <- max(0, x + dt (P - λx) + √dt q (√P ξ1 + √(λx) ξ2))``, ``dt = 0.01``, all genes updated
  simultaneously from the state of the previous step;
* half-responses ``h_j`` are part of the model: the mean over cell types of the regulator's
  **deterministic** wild-type steady state ``x̄ = P(x̄) / λ`` (solved exactly in topological order).
  SERGIO uses the mean of simulated expression instead; the deterministic mean is cheap and avoids a
  pilot simulation. They stay fixed under interventions, so the mechanisms are invariant and a
  knockdown really lowers its children's production;
* each call is one experiment run per model: every cell type starts at the deterministic steady state
  of the (possibly intervened) system, runs ``SAFETY_STEPS * max_depth`` burn-in steps and then
  ``SAMPLING_STATE * nSC`` steps from which ``nSC = ceil(n_cells / C)`` cells are snapshots taken at
  uniformly drawn time steps (with replacement; one set of time indices per run, shared by cell types,
  as SERGIO shares them across genes and cell types). Technical noise is applied to the run's
  ``C * nSC`` cells and ``n_cells`` of them are kept at random.

Randomness (:func:`simulate_sergio`'s ``rng``) comes in one of two modes:

* **one generator** for the whole batch (training data): ``max_depth`` is the longest directed path over
  the whole batch, one set of snapshot times is shared by all models and every draw is laid out across
  the batch. The models are independent in distribution up to that shared burn-in length, but a
  model's output depends on the batch it was simulated in;
* **one generator per model** (a sequence of ``B``): model ``b`` uses its own graph's ``max_depth`` and
  makes every draw from ``rng[b]``, in the order of a batch of one, so its output is bit-identical to
  ``simulate_sergio(rng[b], params.take(b), design[b:b+1], ...)`` whatever the rest of the batch (the
  native vector envs rely on this). The dynamics stay one vectorised loop: all models run to the
  longest model's length and each one's snapshots are taken inside its own window.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from caasl_gym.simulators.graphs import GRAPH_PRIORS, sample_graphs, topological_depth
from caasl_gym.simulators.technical_noise import (
    RandomSource,
    TechnicalNoise,
    apply_technical_noise,
    check_random_source,
    draw,
    get_preset,
)

SERGIO_INTERVENTIONS = ("knockout", "knockdown")
"""Intervention types accepted by :func:`simulate_sergio`."""

INTERVENTION_FACTORS = {"knockout": 0.0, "knockdown": 0.5}
"""Multiplier of a target gene's production rate (and initial state) per intervention type."""

DT = 0.01
"""Euler–Maruyama step size."""
SAMPLING_STATE = 15
"""Steps of the sampling window per cell per cell type (SERGIO's ``sampling_state``)."""
SAFETY_STEPS = 2
"""Burn-in steps per level of the longest path (CAASL's ``safety_steps``)."""

_MIN_HN = 1e-12  # lower bound of h^n, so that H(0) = 0 without 0/0
_MAX_X = 1e8  # clip of the state before the Hill power, so x^n cannot overflow
_NOISE_CHUNK = 1_000_000  # standard normals drawn per chunk of time steps (all models together)


@dataclass(frozen=True, eq=False)
class SergioParams:
    """Hidden parameters of ``B`` SERGIO models (arrays with a leading batch axis).

    Attributes:
        adjacency: ``(B, d, d)`` bool, ``adjacency[b, i, j]`` iff gene ``i`` regulates gene ``j``.
        interactions: ``(B, d, d)`` float64 signed strengths ``K[b, i, j]`` of ``i -> j`` (positive =
            activating, negative = repressing, 0 off the graph).
        basal: ``(B, d, C)`` float64 basal production per gene and cell type; non-zero only for master
            regulators (genes without parents), which are the only genes that use it.
        hill: ``(B,)`` float64 Hill coefficient ``n`` (shared by all edges of a model).
        decay: ``(B,)`` float64 decay rate ``λ`` (shared by all genes of a model).
        noise_amplitude: ``(B,)`` float64 system-noise amplitude ``q``.
        half_response: ``(B, d)`` float64 half-response ``h_j`` of regulator ``j`` (see module docstring).
    """

    adjacency: np.ndarray
    interactions: np.ndarray
    basal: np.ndarray
    hill: np.ndarray
    decay: np.ndarray
    noise_amplitude: np.ndarray
    half_response: np.ndarray

    def __post_init__(self) -> None:
        batch, d, _ = self.adjacency.shape
        expected = {
            "interactions": (batch, d, d),
            "hill": (batch,),
            "decay": (batch,),
            "noise_amplitude": (batch,),
            "half_response": (batch, d),
        }
        for name, shape in expected.items():
            if getattr(self, name).shape != shape:
                raise ValueError(f"{name} must have shape {shape}, got {getattr(self, name).shape}")
        if self.basal.shape[:2] != (batch, d):
            raise ValueError(f"basal must have shape ({batch}, {d}, C), got {self.basal.shape}")

    @property
    def batch(self) -> int:
        """Number of models ``B``."""
        return self.adjacency.shape[0]

    @property
    def d(self) -> int:
        """Number of genes."""
        return self.adjacency.shape[1]

    @property
    def n_cell_types(self) -> int:
        """Number of cell types ``C``."""
        return self.basal.shape[2]

    def take(self, index: int | slice | np.ndarray | list[int]) -> SergioParams:
        """The sub-batch ``index`` (an int keeps a batch axis of size 1)."""
        if isinstance(index, int | np.integer):
            index = [int(index)]
        return SergioParams(
            adjacency=self.adjacency[index],
            interactions=self.interactions[index],
            basal=self.basal[index],
            hill=self.hill[index],
            decay=self.decay[index],
            noise_amplitude=self.noise_amplitude[index],
            half_response=self.half_response[index],
        )


def _per_model(value: float | np.ndarray, batch: int, name: str, *, strictly_positive: bool) -> np.ndarray:
    """Broadcast a scalar or ``(B,)`` value to ``(B,)`` float64 and check its sign."""
    arr = np.broadcast_to(np.asarray(value, dtype=np.float64), (batch,)).copy()
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite, got {value}")
    if strictly_positive and np.any(arr <= 0):
        raise ValueError(f"{name} must be > 0, got {value}")
    if np.any(arr < 0):
        raise ValueError(f"{name} must be >= 0, got {value}")
    return arr


def _max_depth(adjacency: np.ndarray) -> int:
    """Length of the longest directed path over the whole batch."""
    return int(topological_depth(adjacency).max())


def _hill_activation(x: np.ndarray, hill: np.ndarray, hn: np.ndarray) -> np.ndarray:
    """Activating Hill function ``x^n / (h^n + x^n)`` of every regulator.

    Args:
        x: ``(B, C, d)`` non-negative regulator expression.
        hill: ``(B,)`` Hill coefficients.
        hn: ``(B, 1, d)`` ``h^n`` per regulator (bounded below by a tiny constant).

    Returns:
        ``(B, C, d)`` in ``[0, 1]``; the repressing Hill function is ``1 - that``.
    """
    if np.all(hill == 1.0):
        xn = x
    else:
        xn = np.power(np.minimum(x, _MAX_X), hill[:, None, None])
    return xn / (hn + xn)


@dataclass(frozen=True)
class _Rates:
    """Pre-combined production terms of a batch under one design (internal).

    ``P = max(0, base + act @ k)`` with ``act`` the activating Hill values; ``k`` is the signed
    interaction matrix and ``base`` the basal rates plus the constant ``sum |K|`` of repressing edges,
    both already multiplied by the intervention factors of the target genes.
    """

    base: np.ndarray  # (B, C, d)
    k: np.ndarray  # (B, d, d)
    hill: np.ndarray  # (B,)
    hn: np.ndarray  # (B, 1, d)

    def production(self, x: np.ndarray) -> np.ndarray:
        """``(B, C, d)`` production rates at state ``x`` ``(B, C, d)``."""
        prod = self.base + np.matmul(_hill_activation(x, self.hill, self.hn), self.k)
        return np.maximum(prod, 0.0, out=prod)


def _rates(params: SergioParams, factor: np.ndarray, half_response: np.ndarray | None = None) -> _Rates:
    """Combine parameters and per-gene production factors ``(B, d)`` into :class:`_Rates`."""
    k = params.interactions
    h = params.half_response if half_response is None else half_response
    repress_const = np.maximum(-k, 0.0).sum(axis=1)  # (B, d): sum of |K_ji| over repressing parents j
    base = np.swapaxes(params.basal, 1, 2) + repress_const[:, None, :]  # (B, C, d)
    hn = np.maximum(np.power(h, params.hill[:, None]), _MIN_HN)[:, None, :]
    return _Rates(base=base * factor[:, None, :], k=k * factor[:, None, :], hill=params.hill, hn=hn)


def _intervention_factor(design: np.ndarray | None, batch: int, d: int, intervention: str) -> np.ndarray:
    """``(B, d)`` production multipliers: 1 for non-targets, the intervention's factor for targets."""
    if intervention not in SERGIO_INTERVENTIONS:
        raise ValueError(f"unknown intervention {intervention!r}; valid choices: {', '.join(SERGIO_INTERVENTIONS)}")
    if design is None:
        return np.ones((batch, d))
    design = np.asarray(design)
    if design.shape != (batch, d):
        raise ValueError(f"design must have shape (B, d) = ({batch}, {d}), got {design.shape}")
    return np.where(design.astype(bool), INTERVENTION_FACTORS[intervention], 1.0)


def _fixed_point(rates: _Rates, decay: np.ndarray, n_iter: int) -> np.ndarray:
    """Deterministic steady state ``x = P(x) / λ`` of a DAG by ``n_iter`` sweeps (exact once
    ``n_iter > max depth``). Returns ``(B, C, d)``."""
    x = np.zeros_like(rates.base)
    lam = decay[:, None, None]
    for _ in range(n_iter):
        x = rates.production(x) / lam
    return x


def sergio_production(
    params: SergioParams, x: np.ndarray, design: np.ndarray | None = None, intervention: str = "knockout"
) -> np.ndarray:
    """Production rates ``P`` of every gene given the current expression.

    Args:
        params: ``B`` models.
        x: ``(B, C, d)`` non-negative expression (regulators are read from it).
        design: ``(B, d)`` bool targets, or None for wild type.
        intervention: one of :data:`SERGIO_INTERVENTIONS`.

    Returns:
        ``(B, C, d)`` float64 production rates (0 for knocked-out genes, halved for knocked-down ones).
    """
    factor = _intervention_factor(design, params.batch, params.d, intervention)
    return _rates(params, factor).production(np.asarray(x, dtype=np.float64))


def sergio_steady_state(
    params: SergioParams, design: np.ndarray | None = None, intervention: str = "knockout"
) -> np.ndarray:
    """Deterministic steady state ``x̄ = P(x̄) / λ`` under a design (the simulator's initial state).

    Args:
        params: ``B`` models.
        design: ``(B, d)`` bool targets, or None for wild type.
        intervention: one of :data:`SERGIO_INTERVENTIONS`.

    Returns:
        ``(B, C, d)`` float64; targets of a knockout are exactly 0.
    """
    factor = _intervention_factor(design, params.batch, params.d, intervention)
    return _fixed_point(_rates(params, factor), params.decay, _max_depth(params.adjacency) + 1)


def _half_response(
    adjacency: np.ndarray,
    interactions: np.ndarray,
    basal: np.ndarray,
    hill: np.ndarray,
    decay: np.ndarray,
) -> np.ndarray:
    """``(B, d)`` mean over cell types of the deterministic wild-type steady state.

    Solved sweep by sweep in topological order: after sweep ``k`` every gene of depth ``< k`` has its
    final steady state, and the half-responses of its regulators (depth ``< k - 1``) are final too.
    """
    batch, d, _ = adjacency.shape
    h = np.zeros((batch, d))
    params = SergioParams(adjacency, interactions, basal, hill, decay, np.zeros(batch), h)
    factor = np.ones((batch, d))
    lam = decay[:, None, None]
    x = np.zeros((batch, basal.shape[2], d))
    for _ in range(_max_depth(adjacency) + 1):
        x = _rates(params, factor, half_response=h).production(x) / lam
        h = x.mean(axis=1)
    return h


def build_sergio_params(
    adjacency: np.ndarray,
    interactions: np.ndarray,
    basal: np.ndarray,
    *,
    hill: float | np.ndarray = 1.0,
    decay: float | np.ndarray = 0.8,
    noise_amplitude: float | np.ndarray = 1.0,
) -> SergioParams:
    """Assemble :class:`SergioParams` from given mechanisms, computing the half-responses.

    Args:
        adjacency: ``(B, d, d)`` bool DAGs.
        interactions: ``(B, d, d)`` signed strengths (values off the graph are ignored, set to 0).
        basal: ``(B, d, C)`` non-negative basal rates (values of genes with parents are set to 0).
        hill: Hill coefficient (> 0), a scalar or ``(B,)``.
        decay: decay rate (> 0), a scalar or ``(B,)``.
        noise_amplitude: system-noise amplitude (>= 0), a scalar or ``(B,)``.

    Returns:
        :class:`SergioParams`.
    """
    adj = np.asarray(adjacency, dtype=bool)
    if adj.ndim != 3 or adj.shape[1] != adj.shape[2]:
        raise ValueError(f"adjacency must have shape (B, d, d), got {adj.shape}")
    batch, d, _ = adj.shape
    basal = np.asarray(basal, dtype=np.float64)
    if basal.ndim != 3 or basal.shape[:2] != (batch, d) or np.any(basal < 0):
        raise ValueError(f"basal must be non-negative with shape ({batch}, {d}, C), got {basal.shape}")
    interactions = np.where(adj, np.asarray(interactions, dtype=np.float64), 0.0)
    hill_b = _per_model(hill, batch, "hill", strictly_positive=True)
    decay_b = _per_model(decay, batch, "decay", strictly_positive=True)
    noise_b = _per_model(noise_amplitude, batch, "noise_amplitude", strictly_positive=False)
    basal = basal * (~adj.any(axis=1))[:, :, None]  # only master regulators have basal production
    half = _half_response(adj, interactions, basal, hill_b, decay_b)
    return SergioParams(adj, interactions, basal, hill_b, decay_b, noise_b, half)


def sample_sergio_params(
    rng: np.random.Generator,
    batch: int,
    d: int,
    *,
    graph: str = "erdos_renyi",
    edges_per_node: float = 3.0,
    n_cell_types: int = 5,
    hill: float | np.ndarray = 1.0,
    decay: float | np.ndarray = 0.8,
    noise_amplitude: float | np.ndarray = 1.0,
) -> SergioParams:
    """Sample ``B`` SERGIO models from the CAASL training prior.

    Graph from :func:`~caasl_gym.simulators.graphs.sample_graphs`; ``|K| ~ U(1, 5)``; each regulator
    draws ``p ~ Beta(0.5, 0.5)`` and each of its outgoing edges activates with probability ``p``;
    master regulators get basal rates ``U(1, 3)`` per cell type.

    Args:
        rng: the only source of randomness.
        batch: number of models ``B >= 1``.
        d: number of genes ``>= 2``.
        graph: a graph prior, one of ``GRAPH_PRIORS``.
        edges_per_node: expected edges per node.
        n_cell_types: number of cell types ``C >= 1``.
        hill: Hill coefficient (> 0), a scalar or ``(B,)``.
        decay: decay rate (> 0), a scalar or ``(B,)``.
        noise_amplitude: system-noise amplitude (>= 0), a scalar or ``(B,)``.

    Returns:
        :class:`SergioParams` with leading axis ``B``.

    Raises:
        ValueError: invalid sizes, an unknown graph prior or out-of-range dynamics parameters.
    """
    if int(batch) < 1:
        raise ValueError(f"batch must be >= 1, got {batch}")
    if int(d) < 2:
        raise ValueError(f"the number of genes d must be >= 2, got {d}")
    if graph not in GRAPH_PRIORS:
        raise ValueError(f"unknown graph prior {graph!r}; valid choices: {', '.join(GRAPH_PRIORS)}")
    if int(n_cell_types) < 1:
        raise ValueError(f"n_cell_types must be >= 1, got {n_cell_types}")
    # fail before drawing anything
    _per_model(hill, batch, "hill", strictly_positive=True)
    _per_model(decay, batch, "decay", strictly_positive=True)
    _per_model(noise_amplitude, batch, "noise_amplitude", strictly_positive=False)

    adj = sample_graphs(rng, batch, d, graph, edges_per_node)
    strength = rng.uniform(1.0, 5.0, size=(batch, d, d))
    p_activate = rng.beta(0.5, 0.5, size=(batch, d, 1))  # one sign probability per regulator (row)
    sign = np.where(rng.random((batch, d, d)) < p_activate, 1.0, -1.0)
    basal = rng.uniform(1.0, 3.0, size=(batch, d, int(n_cell_types)))
    return build_sergio_params(adj, sign * strength, basal, hill=hill, decay=decay, noise_amplitude=noise_amplitude)


def flip_design(rng: RandomSource, design: np.ndarray, flip_prob: float) -> np.ndarray:
    """Flip every bit of a design independently with probability ``flip_prob`` (noisy interventions).

    Args:
        rng: the only source of randomness (nothing is drawn when ``flip_prob == 0``): one generator,
            or one per row of ``design`` (row ``b`` draws from ``rng[b]`` only).
        design: ``(B, d)`` bool intended targets.
        flip_prob: probability in ``[0, 1]``.

    Returns:
        ``(B, d)`` bool targets that actually happen.
    """
    if not 0.0 <= flip_prob <= 1.0:
        raise ValueError(f"flip_prob must be in [0, 1], got {flip_prob}")
    design = np.asarray(design, dtype=bool)
    check_random_source(rng, design.shape[0])
    if flip_prob == 0.0:
        return design.copy()
    return design ^ (draw(rng, "random", size=design.shape) < flip_prob)


def _snapshot_index(sample_at: np.ndarray) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Group snapshot times ``(B, n)`` by step: ``{t: (models, slots)}`` with ``sample_at[models, slots] == t``."""
    flat = sample_at.ravel()
    order = np.argsort(flat, kind="stable")
    times, first = np.unique(flat[order], return_index=True)
    models, slots = np.divmod(order, sample_at.shape[1])
    bounds = [*first.tolist(), flat.size]
    return {int(t): (models[i:j], slots[i:j]) for t, i, j in zip(times.tolist(), bounds[:-1], bounds[1:])}


def _simulate_cells(
    rng: RandomSource, params: SergioParams, rates: _Rates, x0: np.ndarray, burn: np.ndarray, n_per_type: int
) -> np.ndarray:
    """Run one trajectory per model and cell type and take ``n_per_type`` snapshots of each.

    Args:
        rng: one generator (``burn`` must then be equal for all models; one set of snapshot times and
            one noise array for the batch) or ``B`` generators (per-model times and noise; model ``b``
            draws exactly ``burn[b] + window`` steps of noise, as a batch of one would).
        x0: ``(B, C, d)`` initial state.
        burn: ``(B,)`` int burn-in steps of each model.

    Returns:
        ``(B, C, n_per_type, d)`` float64 clean expression.
    """
    batch, n_types, d = x0.shape
    window = SAMPLING_STATE * n_per_type
    n_steps = burn + window  # (B,)
    shared = isinstance(rng, np.random.Generator)
    if shared:  # step after which a cell is taken
        sample_at = np.broadcast_to(int(burn[0]) + rng.integers(0, window, size=n_per_type), (batch, n_per_type))
    else:
        sample_at = np.stack([int(burn[b]) + g.integers(0, window, size=n_per_type) for b, g in enumerate(rng)])
    snapshots = _snapshot_index(sample_at)

    lam = params.decay[:, None, None]
    amp = math.sqrt(DT) * params.noise_amplitude[:, None, None]
    out = np.empty((batch, n_types, n_per_type, d))
    x = x0.copy()
    total = int(n_steps.max())
    chunk = max(1, _NOISE_CHUNK // (2 * x.size))
    for start in range(0, total, chunk):
        length = min(chunk, total - start)
        if shared:
            xi = rng.standard_normal((length, 2, *x.shape))
        else:  # consecutive draws continue one stream, so the chunking never changes a model's values
            xi = np.zeros((length, 2, *x.shape))  # zero after a model's own last step (output unused)
            for b, g in enumerate(rng):
                steps_b = min(length, int(n_steps[b]) - start)
                if steps_b > 0:
                    xi[:steps_b, :, b] = g.standard_normal((steps_b, 2, n_types, d))
        for k in range(length):
            prod = rates.production(x)
            loss = lam * x
            x = x + DT * (prod - loss) + amp * (np.sqrt(prod) * xi[k, 0] + np.sqrt(loss) * xi[k, 1])
            np.maximum(x, 0.0, out=x)
            hit = snapshots.get(start + k)
            if hit is not None:
                out[hit[0], :, hit[1], :] = x[hit[0]]
    return out


def simulate_sergio(
    rng: RandomSource,
    params: SergioParams,
    design: np.ndarray,
    n_cells: int,
    *,
    intervention: str = "knockout",
    flip_prob: float = 0.0,
    technical_noise: str | TechnicalNoise | None = "10x-chromium-mini",
    return_clean: bool = False,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Simulate one experiment run per model and return ``n_cells`` cells of each.

    Random draws happen in this order: design flips (only if ``flip_prob > 0``, see
    :func:`flip_design`), sampling time steps, system noise, technical noise, the kept cells.

    Args:
        rng: the only source of randomness, in one of two modes (see the module docstring): one
            ``np.random.Generator`` shared by the batch, or a sequence of ``B`` generators where model
            ``b`` draws from ``rng[b]`` only (with its own burn-in length), so that row ``b`` equals
            ``simulate_sergio(rng[b], params.take(b), design[b:b+1], ...)`` bit for bit.
        params: ``B`` models.
        design: ``(B, d)`` bool intended targets (all False = wild type / observational).
        n_cells: cells returned per model (``>= 1``); ``ceil(n_cells / C)`` cells per cell type are
            simulated and ``n_cells`` of the ``C * ceil(n_cells / C)`` are kept at random.
        intervention: one of :data:`SERGIO_INTERVENTIONS`.
        flip_prob: probability of flipping each intended design bit before simulating.
        technical_noise: a preset name or :class:`TechnicalNoise` applied to each model's run, or
            None for clean expression.
        return_clean: also return the clean expression of the same cells.

    Returns:
        ``(B, n_cells, d)`` float32 counts (integers stored as floats; the clean expression when
        ``technical_noise`` is None), and with ``return_clean`` a tuple ``(counts, clean)`` of two such
        arrays.

    Raises:
        ValueError: bad shapes, ``n_cells < 1``, ``flip_prob`` outside ``[0, 1]``, an unknown
            intervention, an unknown technical-noise preset or a number of generators other than ``B``.
    """
    if int(n_cells) < 1:
        raise ValueError(f"n_cells must be >= 1, got {n_cells}")
    noise = None if technical_noise is None else get_preset(technical_noise)
    _intervention_factor(None, params.batch, params.d, intervention)  # validates the name early
    design = np.asarray(design)
    if design.shape != (params.batch, params.d):
        raise ValueError(f"design must have shape (B, d) = ({params.batch}, {params.d}), got {design.shape}")
    check_random_source(rng, params.batch)
    actual = flip_design(rng, design, flip_prob)

    factor = _intervention_factor(actual, params.batch, params.d, intervention)
    rates = _rates(params, factor)
    depth = topological_depth(params.adjacency).max(axis=1)  # (B,) longest path of each graph
    x0 = _fixed_point(rates, params.decay, int(depth.max()) + 1)  # exact for every model of the batch
    if isinstance(rng, np.random.Generator):
        depth = np.full_like(depth, depth.max())  # one shared burn-in for the batch
    n_types = params.n_cell_types
    n_per_type = -(-int(n_cells) // n_types)
    cells = _simulate_cells(rng, params, rates, x0, SAFETY_STEPS * depth, n_per_type)
    clean = cells.reshape(params.batch, n_types * n_per_type, params.d)
    counts = clean if noise is None else apply_technical_noise(rng, clean, noise)

    keep = np.argsort(draw(rng, "random", size=clean.shape[:2]), axis=1)[:, : int(n_cells)]  # (B, n_cells)
    counts = np.take_along_axis(counts, keep[:, :, None], axis=1).astype(np.float32)
    if not return_clean:
        return counts
    return counts, np.take_along_axis(clean, keep[:, :, None], axis=1).astype(np.float32)
