"""A DiffCBED-style designer: multi-target designs by gradient ascent on a particle information gain.

After Tigas et al. (2023), "Differentiable multi-target causal Bayesian experimental design" (the
``DiffCBED`` baseline of CAASL's Figures 2-4). At every step, for each history:

1. **Posterior particles**: bootstrapped GIES DAGs with least-squares linear-Gaussian mechanisms fitted
   on the whole history, duplicates merged (:func:`~caasl_gym.baselines.ss_finite.gies_particles`).
2. **Relaxed design**: target logits ``phi`` ``(d,)`` and unconstrained values ``u`` ``(d,)``; a draw of
   the relaxed target mask is the Gumbel-sigmoid (binary concrete) ``z = sigmoid((phi + L) / tau)``,
   ``L`` logistic, and the do-values are ``value_scale * tanh(u)`` (inside the action box).
3. **Objective**: the nested Monte-Carlo information gain over the particles,
   ``EIG = sum_m w_m mean_r [log p(y_mr | m) - log sum_m' w_m' p(y_mr | m')]``, with outcomes
   reparameterised as ``y_mr = z v + (1 - z)(y_mr W_m + sqrt(t_m) eps)`` (solved exactly by ``d``
   fixed-point passes, the weights being nilpotent) and likelihoods whose factor of variable ``j`` is
   weighted by ``1 - z_j``; each outcome has its own mask draw ``z`` and noise ``eps``.
4. **Optimisation**: Adam on ``(phi, u)`` for ``n_steps`` steps from ``n_restarts`` random
   initialisations, run jointly (the loss is their sum, so each restart follows its own gradient).
5. **Design**: each restart's ``phi > 0`` are its targets (at most ``max_targets``, the largest logits,
   if set) with values ``tanh(u)``; the hard designs are re-scored by the same estimator with exact 0/1
   masks on ``n_eval_outcomes`` fresh outcomes per particle, and the best is returned.

All torch randomness comes from one ``torch.Generator`` seeded from the episode's numpy generator
(after the bootstrap), so the designs depend only on the history and that generator.

Kept from the paper: the bootstrapped-GIES posterior with fitted linear-Gaussian parameters, the
continuous relaxation of the target set with a Gumbel-sigmoid and a temperature, values optimised jointly
with the targets by stochastic gradient ascent on a reparameterised nested Monte-Carlo EIG estimate over
the particles, multi-target designs obtained by thresholding the relaxed targets, and random restarts.

Simplified: one design per step (the paper also optimises a batch of designs jointly); particles are
weighted by bootstrap frequency (``weighting="likelihood"`` reweights them by their BIC on the history);
the Gumbel-sigmoid gives any number of targets rather than a relaxed fixed-size subset (``max_targets``
caps the thresholded set instead); a fixed temperature, learning rate and step count instead of tuned
schedules; no value bounds beyond the action box; the information is about the particles (DAGs with
their fitted parameters), not about parameters integrated out.

Cost: the posterior dominates as in :mod:`~caasl_gym.baselines.ss_finite` (one GIES run takes about
0.05-0.1 s at ``d = 10``, 0.5-1 s at ``d = 20``, several seconds at ``d = 30``; ``refit`` carries most
resamples over from the previous step, a departure from the paper, see there); the optimisation is
``n_steps`` evaluations of ``n_restarts * n_outcomes * M`` outcomes, each scored under ``M`` particles,
``d`` matrix passes each.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from caasl_gym.baselines.ss_finite import ParticleDesigner, Particles


class DiffCBEDDesigner(ParticleDesigner):
    """Gradient-based multi-target designs on a bootstrapped-GIES posterior (see the module docstring).

    Args:
        n_boot: bootstrap resamples (GIES runs) per design.
        n_outcomes: simulated outcomes per particle in each gradient step.
        n_eval_outcomes: outcomes per particle when the restarts' hard designs are compared.
        n_steps: Adam steps per design.
        n_restarts: random initialisations optimised side by side.
        learning_rate: Adam's step size.
        temperature: the Gumbel-sigmoid temperature ``tau``.
        max_targets: at most this many targets per design (the largest logits); ``None`` for no cap.
        weighting: one of :data:`~caasl_gym.baselines.ss_finite.WEIGHTINGS`.
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
        n_outcomes: int = 8,
        n_eval_outcomes: int = 32,
        n_steps: int = 50,
        n_restarts: int = 4,
        learning_rate: float = 0.1,
        temperature: float = 0.5,
        max_targets: int | None = None,
        weighting: str = "uniform",
        refit: int | None = None,
        value_scale: float = 1.0,
        samples_per_step: int = 1,
        name: str = "DiffCBED",
    ) -> None:
        counts = [
            ("n_boot", n_boot),
            ("n_outcomes", n_outcomes),
            ("n_eval_outcomes", n_eval_outcomes),
            ("n_steps", n_steps),
            ("n_restarts", n_restarts),
            ("samples_per_step", samples_per_step),
        ]
        if max_targets is not None:
            counts.append(("max_targets", max_targets))
        for label, v in counts:
            if isinstance(v, bool) or int(v) != v or v < 1:
                raise ValueError(f"{label} must be an integer >= 1, got {v!r}")
        for label, v in [("learning_rate", learning_rate), ("temperature", temperature)]:
            if not (np.isfinite(v) and v > 0):
                raise ValueError(f"{label} must be a finite number > 0, got {v!r}")
        self._set_particle_options(n_boot, weighting, refit, value_scale, samples_per_step, name)
        self.n_outcomes, self.n_eval_outcomes = int(n_outcomes), int(n_eval_outcomes)
        self.n_steps, self.n_restarts = int(n_steps), int(n_restarts)
        self.learning_rate, self.temperature = float(learning_rate), float(temperature)
        self.max_targets = None if max_targets is None else int(max_targets)

    def design_from_particles(self, particles: Particles, rng: np.random.Generator) -> np.ndarray:
        """The optimised action ``(d, 2)`` against a given posterior (seeds its ``torch.Generator`` from ``rng``)."""
        gen = torch.Generator().manual_seed(int(rng.integers(0, 2**63 - 1)))
        f = torch.float64
        weights = torch.as_tensor(particles.weights, dtype=f)
        noise = torch.as_tensor(particles.noise, dtype=f)
        log_prior = torch.as_tensor(particles.log_prior, dtype=f)
        m_count, d = noise.shape
        p_count = self.n_restarts
        logits = torch.randn(p_count, d, generator=gen, dtype=f).requires_grad_(True)
        raw = torch.randn(p_count, d, generator=gen, dtype=f).requires_grad_(True)
        opt = torch.optim.Adam([logits, raw], lr=self.learning_rate)
        shape = (p_count, self.n_outcomes, m_count)
        for _ in range(self.n_steps):
            u = torch.rand(*shape, d, generator=gen, dtype=f).clamp(1e-9, 1 - 1e-9)
            mask = torch.sigmoid((logits[:, None, None] + torch.log(u) - torch.log1p(-u)) / self.temperature)
            eps = torch.randn(*shape, self.k, d, generator=gen, dtype=f)
            values = self.value_scale * torch.tanh(raw)[:, None, None]
            eig = nested_information(weights, noise, log_prior, mask, values, eps)  # (P,)
            opt.zero_grad()
            (-eig.sum()).backward()
            opt.step()
        with torch.no_grad():
            targets = logits > 0  # (P, d)
            if self.max_targets is not None and self.max_targets < d:
                top = torch.topk(logits, self.max_targets, dim=1).indices
                targets &= torch.zeros_like(targets).scatter_(1, top, True)
            hard_shape = (p_count, self.n_eval_outcomes, m_count)
            mask = targets[:, None, None].to(f).expand(*hard_shape, d)
            eps = torch.randn(*hard_shape, self.k, d, generator=gen, dtype=f)
            values = self.value_scale * torch.tanh(raw)[:, None, None]
            eig = nested_information(weights, noise, log_prior, mask, values, eps)
            best = int(torch.argmax(eig))
            action = np.zeros((d, 2))
            action[:, 0] = np.where(targets[best].numpy(), 1.0, -1.0)
            action[:, 1] = torch.tanh(raw[best]).numpy()
        return action


def nested_information(
    weights: torch.Tensor,
    noise: torch.Tensor,
    log_prior: torch.Tensor,
    mask: torch.Tensor,
    values: torch.Tensor,
    eps: torch.Tensor,
) -> torch.Tensor:
    """The nested Monte-Carlo EIG of ``P`` (relaxed) designs over ``M`` particles, differentiable.

    Args:
        weights: ``(M, d, d)``; noise: ``(M, d)`` variances; log_prior: ``(M,)`` normalised log weights.
        mask: ``(P, R, M, d)`` target masks in ``[0, 1]``, one per outcome ``r`` of particle ``m``.
        values: ``(P, 1, 1, d)`` do-values (data units).
        eps: ``(P, R, M, k, d)`` standard-normal noise of the outcomes' ``k`` rows.

    Returns:
        ``(P,)`` estimates ``sum_m w_m mean_r [log p(y_mr | m) - log sum_m' w_m' p(y_mr | m')]``.
    """
    d = weights.shape[-1]
    keep = (1.0 - mask)[..., None, :]  # (P, R, M, 1, d)
    clamp = (mask * values)[..., None, :]
    exo = noise.sqrt()[:, None, :] * eps  # (P, R, M, k, d)
    x = clamp + keep * exo
    for _ in range(d):
        x = clamp + keep * (torch.einsum("prmki,mij->prmkj", x, weights) + exo)
    mean = torch.einsum("prmki,nij->prmknj", x, weights)  # (P, R, M, k, M', d)
    var = noise[None, None, None, None]  # (1, 1, 1, 1, M', d)
    terms = -0.5 * ((x[..., None, :] - mean) ** 2 / var + torch.log(2 * math.pi * var))
    loglik = (terms * keep[..., None, :]).sum(dim=(-1, -3))  # (P, R, M, M')
    own = torch.diagonal(loglik, dim1=-2, dim2=-1)  # (P, R, M)
    marginal = torch.logsumexp(log_prior + loglik, dim=-1)  # (P, R, M)
    return ((own - marginal).mean(dim=1) * log_prior.exp()).sum(dim=-1)
