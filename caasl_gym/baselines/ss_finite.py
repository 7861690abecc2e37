"""An SS-Finite-style designer: greedy multi-target designs on a bootstrapped-GIES particle posterior.

After Sussex, Uhler & Krause (2021), "Near-optimal multi-perturbation experimental design for causal
structure learning", in its finite-sample form (the ``SS Finite`` baseline of CAASL's Figures 2-4). At
every step, for each history:

1. **Posterior particles** (:func:`gies_particles`): bootstrapped GIES
   (:func:`~caasl_gym.baselines.gies.bootstrap_gies`) gives ``n_boot`` DAGs; identical DAGs are merged
   (their weight is their bootstrap frequency) and each gets least-squares linear-Gaussian mechanisms
   fitted on the whole history (:func:`~caasl_gym.baselines.mechanisms.fit_mechanisms`).
2. **Objective**: the mutual information ``I(G; y | xi)`` between the particle (the DAG) and the
   outcome ``y`` (``k`` rows) of design ``xi``, the paper's finite-sample objective, estimated by
   simulating ``n_outcomes`` outcomes per particle and scoring them under every particle:
   ``F(xi) = H(w) - sum_m w_m mean_r H(p(. | y_mr))`` with ``p(m' | y) ∝ w_m' p(y | m')``
   (:func:`particle_information`). All designs of a step share the same standard-normal draws (common
   random numbers), so their differences are not Monte-Carlo noise of separate draws.
3. **Greedy targets**: starting from no intervention, add the (variable, value) pair with the largest
   objective while it improves the objective by more than ``min_gain``, up to ``max_targets`` targets.
   Values come from the grid ``values`` in action units (default the box edges ``±1``, do-value
   ``value_scale * value``).

Kept from the paper: the DAG-bootstrap posterior with maximum-likelihood linear-Gaussian parameters,
the particle mutual-information objective with simulated outcomes, fixed intervention values, greedy
selection over a finite candidate set of perturbations, and a cap ``q`` (``max_targets``) on the
perturbations per intervention.

Simplified, and what is and is not near-optimal: the paper chooses a *batch* of ``m`` interventions
whose outcomes are independent given the model; over such sets the mutual information is monotone
submodular, and greedy is within ``1 - 1/e`` of the best batch. The environments run one design per
step, so the batch has size one and greedy over designs is exact maximisation over the designs it
scores. The target set of a single do-intervention is a different set function: it is neither monotone
(clamping both ends of an edge hides it, clamping every variable reveals nothing) nor submodular, so the
target-adding greedy here is the paper's greedy used as a heuristic, with no approximation guarantee
claimed. What it does guarantee: the returned design has the largest objective estimate of every design
it scored (each accepted addition beats all others of its round and every earlier choice). There is no
separating-system construction (every variable is a candidate, cheap for ``d <= 30``), interventions are
noiseless do-interventions rather than Gaussian ones, and particles are weighted by bootstrap frequency
(``weighting="likelihood"`` reweights them by their BIC on the history, as the paper's code can).

Cost: the posterior dominates. One GIES run (:mod:`~caasl_gym.baselines.gies_search`, the ``gies``
package's search with a faster forward phase, identical estimates) takes about 0.05-0.1 s at ``d = 10``,
about 0.5-1 s at ``d = 20`` and several seconds at ``d = 30`` with ~55 rows on one core, so ``n_boot``
(default 10) sets the time per design; the greedy costs ``max_targets`` rounds of ``|values| * d``
designs, each ``n_outcomes * k`` rows per particle. ``refit`` (default off) trades freshness for time:
only ``refit`` resamples are refitted per step of an episode and the others are carried over from the
steps before (:class:`~caasl_gym.baselines.gies.CarriedBootstrap`), a departure from the paper, whose
bootstrap is redone on every history.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from caasl_gym.baselines.gies import CarriedBootstrap, bootstrap_estimates, essential_graph_member
from caasl_gym.baselines.mechanisms import PerHistoryDesigner, fit_mechanisms, history, simulate_rows

WEIGHTINGS = ("uniform", "likelihood")
"""Particle weights: bootstrap frequency, or frequency times ``exp(BIC)`` of the history."""


@dataclass(frozen=True)
class Particles:
    """A weighted particle posterior over linear-Gaussian SCMs with ``M`` distinct DAGs.

    Attributes:
        dags: ``(M, d, d)`` bool, ``[m, i, j]`` iff ``i -> j`` in particle ``m``.
        weights: ``(M, d, d)`` float64 edge weights (zero off the graph).
        noise: ``(M, d)`` float64 noise variances.
        log_prior: ``(M,)`` float64 normalised log weights of the particles.
    """

    dags: np.ndarray
    weights: np.ndarray
    noise: np.ndarray
    log_prior: np.ndarray


def gies_particles(
    rng: np.random.Generator,
    values: np.ndarray,
    intervened: np.ndarray,
    n_boot: int = 10,
    weighting: str = "uniform",
    carried: CarriedBootstrap | None = None,
) -> Particles:
    """Bootstrapped-GIES DAGs with fitted mechanisms, duplicates merged.

    Args:
        rng: the only source of randomness (the bootstrap resamples and the DAGs' members).
        values: ``(n, d)`` the history's values.
        intervened: ``(n, d)`` bool do-targets of its rows.
        n_boot: bootstrap resamples ``K``.
        weighting: one of :data:`WEIGHTINGS`; ``"likelihood"`` multiplies the bootstrap frequency of each
            DAG by ``exp(log p(history | particle) - |edges| log(n) / 2)``.
        carried: where given, the bootstrap estimates come from it (refitting only some resamples per step of
            an episode, :class:`~caasl_gym.baselines.gies.CarriedBootstrap`); ``None`` fits all ``n_boot``, as
            :func:`~caasl_gym.baselines.gies.bootstrap_gies` (the same draws).

    Returns:
        The :class:`Particles` (``M <= K`` distinct DAGs, in order of first appearance).
    """
    if weighting not in WEIGHTINGS:
        raise ValueError(f"unknown weighting {weighting!r}; valid choices: {', '.join(WEIGHTINGS)}")
    if carried is None:
        estimates = bootstrap_estimates(rng, values, intervened, n_boot)
    else:
        estimates = carried.estimates(rng, values, intervened, n_boot)
    dags = np.stack([essential_graph_member(rng, est) for est in estimates])
    flat = dags.reshape(len(dags), -1)
    _, first, counts = np.unique(flat, axis=0, return_index=True, return_counts=True)
    order = np.argsort(first)
    dags, counts = dags[first[order]], counts[order]
    weights, noise = fit_mechanisms(values, intervened, dags)
    log_prior = np.log(counts / counts.sum())
    if weighting == "likelihood":
        n = len(values)
        log_prior = log_prior + history_log_likelihood(weights, noise, values, intervened)
        log_prior = log_prior - dags.sum(axis=(1, 2)) * math.log(n) / 2
    return Particles(dags, weights, noise, log_prior - _logsumexp(log_prior, axis=0))


def history_log_likelihood(
    weights: np.ndarray, noise: np.ndarray, values: np.ndarray, intervened: np.ndarray
) -> np.ndarray:
    """``log p(history | particle)`` ``(M,)``: every row's non-target factors under weights ``(M, d, d)`` and
    noise ``(M, d)``, for values ``(n, d)`` with targets ``(n, d)`` bool."""
    mean = np.matmul(values[None], weights)  # (M, n, d)
    terms = -0.5 * ((values[None] - mean) ** 2 / noise[:, None] + np.log(2 * math.pi * noise)[:, None])
    return np.where(intervened[None], 0.0, terms).sum(axis=(1, 2))


def particle_information(
    particles: Particles, targets: np.ndarray, values: np.ndarray, eps: np.ndarray, rows_per_outcome: int = 1
) -> np.ndarray:
    """Monte-Carlo ``I(G; y | design)`` over the particles for every design (see the module docstring).

    Args:
        particles: the posterior, ``M`` particles.
        targets: ``(C, d)`` bool; values: ``(C, d)`` do-values (data units).
        eps: ``(M, R * k, d)`` standard-normal draws: ``R`` outcomes of ``k = rows_per_outcome`` rows.
        rows_per_outcome: rows ``k`` of one outcome (the environment's ``samples_per_step``).

    Returns:
        ``(C,)`` estimates in nats, between 0 and the prior entropy ``H(w)``.
    """
    w_log = particles.log_prior
    m_count, s_count, d = eps.shape
    c_count, k = len(targets), int(rows_per_outcome)
    rows = simulate_rows(particles.weights, particles.noise, targets, values, np.swapaxes(eps, 0, 1)[:, None])
    rows = np.moveaxis(rows, 0, 2)  # (S, C, M, d) -> (C, M, S, d)
    flat = rows.reshape(c_count, 1, m_count * s_count, d)
    mean = np.matmul(flat, particles.weights[None])  # (C, M', M S, d)
    noise = particles.noise[None, :, None, :]
    terms = -0.5 * ((flat - mean) ** 2 / noise + np.log(2 * math.pi * noise))
    loglik = np.where(targets[:, None, None, :], 0.0, terms).sum(axis=-1)  # (C, M', M S)
    loglik = loglik.reshape(c_count, m_count, m_count, s_count // k, k).sum(axis=-1)  # (C, M', M, R)
    log_post = w_log[None, :, None, None] + loglik
    log_post = log_post - _logsumexp(log_post, axis=1)[:, None]
    posterior_entropy = -(np.exp(log_post) * log_post).sum(axis=1)  # (C, M, R)
    prior = np.exp(w_log)
    return -(prior * w_log).sum() - (posterior_entropy.mean(axis=-1) * prior).sum(axis=-1)


class ParticleDesigner(PerHistoryDesigner):
    """What SS-Finite and DiffCBED share: the bootstrapped-GIES posterior of each history, the
    environment's value scale and ``k``; subclasses design with :meth:`design_from_particles`."""

    def _set_particle_options(
        self, n_boot: int, weighting: str, refit: int | None, value_scale: float, samples_per_step: int, name: str
    ) -> None:
        """Check and keep the shared options (``n_boot`` and ``samples_per_step`` are checked by the caller)."""
        if refit is not None and (isinstance(refit, bool) or int(refit) != refit or not 1 <= refit <= n_boot):
            raise ValueError(f"refit must be None or an integer in [1, n_boot = {n_boot}], got {refit!r}")
        if weighting not in WEIGHTINGS:
            raise ValueError(f"unknown weighting {weighting!r}; valid choices: {', '.join(WEIGHTINGS)}")
        if not (np.isfinite(value_scale) and value_scale > 0):
            raise ValueError(f"value_scale must be a finite number > 0, got {value_scale!r}")
        self.n_boot, self.weighting, self.value_scale = int(n_boot), weighting, float(value_scale)
        self.k, self.name = int(samples_per_step), name
        self.refit = None if refit is None else int(refit)
        self._carried = None if refit is None else CarriedBootstrap(self.refit, self.k)

    @classmethod
    def for_config(cls, config, **kwargs):
        """The designer for a :class:`~caasl_gym.envs.linear.CausalLinearConfig` (its value scale and ``k``)."""
        return cls(value_scale=config.value_scale, samples_per_step=config.samples_per_step, **kwargs)

    def design(self, obs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """The action ``(d, 2)`` for one observation ``(N, d, 3)``, against its bootstrapped-GIES particles."""
        values, intervened = history(obs)
        particles = gies_particles(rng, values, intervened, self.n_boot, self.weighting, self._carried)
        return self.design_from_particles(particles, rng)

    def design_from_particles(self, particles: Particles, rng: np.random.Generator) -> np.ndarray:
        raise NotImplementedError  # pragma: no cover - abstract


class SSFiniteDesigner(ParticleDesigner):
    """Greedy multi-target designs on a bootstrapped-GIES posterior (see the module docstring).

    Args:
        n_boot: bootstrap resamples (GIES runs) per design.
        n_outcomes: simulated outcomes ``R`` per particle in the objective.
        max_targets: at most this many targets per design (``q``).
        values: grid of do-values in action units, each in ``[-1, 1]``.
        min_gain: a target is added only if it raises the objective by more than this (nats).
        weighting: one of :data:`WEIGHTINGS`.
        refit: bootstrap resamples refitted per step of an episode, the others carried over from the step
            before (:class:`~caasl_gym.baselines.gies.CarriedBootstrap`); ``None`` refits all ``n_boot``
            every step (no state between calls).
        value_scale: the environment's ``value_scale`` (do-value = ``value_scale * action[:, 1]``).
        samples_per_step: the environment's rows per experiment ``k``.
        name: label in results.
    """

    def __init__(
        self,
        *,
        n_boot: int = 10,
        n_outcomes: int = 16,
        max_targets: int = 5,
        values: Sequence[float] = (-1.0, 1.0),
        min_gain: float = 1e-3,
        weighting: str = "uniform",
        refit: int | None = None,
        value_scale: float = 1.0,
        samples_per_step: int = 1,
        name: str = "SS-Finite",
    ) -> None:
        for label, v in [
            ("n_boot", n_boot),
            ("n_outcomes", n_outcomes),
            ("max_targets", max_targets),
            ("samples_per_step", samples_per_step),
        ]:
            if isinstance(v, bool) or int(v) != v or v < 1:
                raise ValueError(f"{label} must be an integer >= 1, got {v!r}")
        grid = np.asarray(values, dtype=np.float64).reshape(-1)
        if len(grid) == 0 or not np.all(np.isfinite(grid)) or np.any(np.abs(grid) > 1):
            raise ValueError(f"values must be a non-empty grid of action values in [-1, 1], got {values!r}")
        if not (np.isfinite(min_gain) and min_gain >= 0):
            raise ValueError(f"min_gain must be a finite number >= 0, got {min_gain!r}")
        self._set_particle_options(n_boot, weighting, refit, value_scale, samples_per_step, name)
        self.n_outcomes, self.max_targets = int(n_outcomes), int(max_targets)
        self.values, self.min_gain = grid, float(min_gain)

    def design_from_particles(self, particles: Particles, rng: np.random.Generator) -> np.ndarray:
        """The greedy action ``(d, 2)`` against a given posterior (draws only the outcomes' noise from ``rng``)."""
        d = particles.dags.shape[-1]
        eps = rng.standard_normal((len(particles.log_prior), self.n_outcomes * self.k, d))
        targets, vals = np.zeros(d, dtype=bool), np.zeros(d)
        best = particle_information(particles, targets[None], vals[None], eps, self.k)[0]
        scale = self.value_scale
        while targets.sum() < min(self.max_targets, d):
            free = np.flatnonzero(~targets)
            node = np.repeat(free, len(self.values))
            value = np.tile(self.values, len(free))
            cand_t = np.repeat(targets[None], len(node), axis=0)
            cand_v = np.repeat(vals[None], len(node), axis=0)
            cand_t[np.arange(len(node)), node] = True
            cand_v[np.arange(len(node)), node] = value
            score = particle_information(particles, cand_t, scale * cand_v, eps, self.k)
            pick = int(np.argmax(score))
            if not score[pick] > best + self.min_gain:
                break
            targets, vals, best = cand_t[pick], cand_v[pick], score[pick]
        action = np.zeros((d, 2))
        action[:, 0] = np.where(targets, 1.0, -1.0)
        action[:, 1] = vals
        return action


def _logsumexp(x: np.ndarray, axis: int) -> np.ndarray:
    top = np.max(x, axis=axis, keepdims=True)
    return np.log(np.exp(x - top).sum(axis=axis)) + np.squeeze(top, axis=axis)
