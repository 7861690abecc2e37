"""A one-step greedy designer on the exact posterior of the linear prior (``d <= 12``).

At every step, for each history: draw ``M`` posterior samples of the SCM (DAGs from the exact
posterior, :meth:`~caasl_gym.reward.exact.ExactLinearPosterior.sample_dags`; weights and noise from
their conditional posterior given the DAG, :func:`~caasl_gym.baselines.mechanisms.sample_mechanisms`),
simulate every candidate design's outcome under every sample (common random numbers across
candidates), and take the candidate with the largest expected value of the criterion:

* ``"eig"`` (default): the expected information gain about the sampled SCMs, the nested Monte-Carlo
  estimate ``mean_m [log p(y_cm | m) - log mean_m' p(y_cm | m')]`` over the same samples. No posterior per
  candidate, so it is cheap; it values information about weights as much as about edges.
* ``"score"``: the environment's reward. The expected score ``E_m[S(q(. | h + y_cm), A_m)]``
  after adding outcome ``y_cm`` of candidate ``c`` under sample ``m``, with ``q`` the exact posterior
  and ``S`` the expected number of correct adjacency entries; ``C * M`` exact posteriors per step, about
  ten times the cost of ``"eig"``.

This is the idealised likelihood-based designer (exact inference in the environment's own prior,
one-step lookahead); it never sees the hidden model. Candidates (``n_candidates`` in all, at least
``d + 1``): no intervention, every single target, then multi-target designs of random size (half of
the rest) and uniform Random-box actions (the other half), drawn from the episode's generator; with
``forward`` (default) also the sets grown from the best single target by forward selection. Designed
targets take the value ``+1`` in action units (the box's edge, the most informative do-value).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from caasl_gym.baselines.mechanisms import (
    PerHistoryDesigner,
    history,
    row_log_likelihood,
    sample_mechanisms,
    simulate_rows,
)
from caasl_gym.metrics import expected_correct
from caasl_gym.reward.exact import ExactLinearPosterior, LinearPrior, check_num_nodes

CRITERIA = ("eig", "score")


class GreedyExactDesigner(PerHistoryDesigner):
    """One-step greedy designs on the exact posterior (see the module docstring).

    Args:
        prior: the environment's prior (default ``CausalLinear-v0``; :meth:`for_config` reads it from a config).
        n_samples: posterior SCM samples ``M`` per step.
        n_candidates: candidate designs per step (at least ``d + 1`` are used).
        criterion: ``"eig"`` or ``"score"``.
        value_scale: the environment's ``value_scale`` (do-value = ``value_scale * action[:, 1]``).
        samples_per_step: the environment's rows per experiment ``k``.
        forward: also grow the best single target one target at a time while the criterion improves
            (forward selection, at most ``d (d + 1) / 2`` more evaluations; cheap for ``"eig"``).
        name: label in results.
    """

    def __init__(
        self,
        prior: LinearPrior | None = None,
        *,
        n_samples: int = 32,
        n_candidates: int = 24,
        criterion: str = "eig",
        value_scale: float = 1.0,
        samples_per_step: int = 1,
        forward: bool = True,
        name: str | None = None,
    ) -> None:
        if criterion not in CRITERIA:
            raise ValueError(f"unknown criterion {criterion!r}; valid choices: {', '.join(CRITERIA)}")
        for label, v in [
            ("n_samples", n_samples),
            ("n_candidates", n_candidates),
            ("samples_per_step", samples_per_step),
        ]:
            if int(v) != v or v < 1:
                raise ValueError(f"{label} must be an integer >= 1, got {v!r}")
        self.prior = prior or LinearPrior()
        self.posterior = ExactLinearPosterior(self.prior)
        self.n_samples, self.n_candidates = int(n_samples), int(n_candidates)
        self.criterion, self.value_scale, self.k = criterion, float(value_scale), int(samples_per_step)
        self.forward = bool(forward)
        self.name = name or f"Greedy-exact-{criterion}"

    @classmethod
    def for_config(cls, config, **kwargs) -> GreedyExactDesigner:
        """The designer for a :class:`~caasl_gym.envs.linear.CausalLinearConfig` (its prior, value scale, ``k``)."""
        check_num_nodes(config.num_nodes)
        prior = LinearPrior(edges_per_node=config.edges_per_node, weight_mean=config.weight_mean)
        return cls(prior, value_scale=config.value_scale, samples_per_step=config.samples_per_step, **kwargs)

    def criterion_for(self, obs: np.ndarray, rng: np.random.Generator) -> Callable[[np.ndarray], np.ndarray]:
        """The criterion of one observation ``(N, d, 3)``: a function from candidate actions ``(C, d, 2)`` to their
        values ``(C,)``. It draws this step's ``M`` posterior samples and outcome noise from ``rng`` once, so
        every call compares candidates on the same samples (common random numbers)."""
        values, intervened = history(obs)
        d = values.shape[1]
        check_num_nodes(d)
        dags = self.posterior.sample_dags(values[None], intervened[None], None, self.n_samples, rng)[0]  # (M, d, d)
        weights, noise = sample_mechanisms(self.prior, values, intervened, dags, rng)
        eps = rng.standard_normal((self.k, 1, self.n_samples, d))  # shared by every candidate

        def criterion(candidates: np.ndarray) -> np.ndarray:  # (C, d, 2) -> (C,)
            targets, do_values = candidates[..., 0] > 0, self.value_scale * candidates[..., 1]
            rows = np.stack([simulate_rows(weights, noise, targets, do_values, e) for e in eps], axis=2)  # (C, M, k, d)
            if self.criterion == "eig":
                return self._eig(weights, noise, rows, targets)
            return self._expected_score(values, intervened, dags, rows, targets)

        return criterion

    def design(self, obs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """The greedy action ``(d, 2)`` for one observation ``(N, d, 3)``."""
        d = np.asarray(obs).shape[1]
        actions = self.candidates(d, rng)  # (C, d, 2)
        criterion = self.criterion_for(obs, rng)
        value = criterion(actions)
        best, best_value = actions[int(np.argmax(value))], float(value.max())
        if self.forward:  # grow the best single target by the target that helps most, while one does
            current, current_value = actions[1 + int(np.argmax(value[1 : d + 1]))], float(value[1 : d + 1].max())
            while True:
                free = np.flatnonzero(current[:, 0] <= 0)
                if not len(free):
                    break
                grown = np.repeat(current[None], len(free), axis=0)
                grown[np.arange(len(free)), free, 0] = 1.0
                gains = criterion(grown)
                if gains.max() <= current_value:
                    break
                current, current_value = grown[int(np.argmax(gains))], float(gains.max())
            if current_value > best_value:
                best = current
        return best

    def candidates(self, d: int, rng: np.random.Generator) -> np.ndarray:
        """``(C, d, 2)`` candidate actions: none, every single target, then multi-target and Random-box ones.

        Designed targets take value ``+1`` (the prior is symmetric in the sign of a do-value at weight mean 0),
        so the designs are a function of the history, as a policy can learn them.
        """
        c = max(self.n_candidates, d + 1)
        out = np.empty((c, d, 2))
        out[..., 0], out[..., 1] = -1.0, 1.0
        out[np.arange(1, d + 1), np.arange(d), 0] = 1.0
        extra = c - d - 1
        multi = extra - extra // 2
        for i in range(d + 1, d + 1 + multi):
            out[i, rng.choice(d, int(rng.integers(2, d + 1)), replace=False), 0] = 1.0
        out[d + 1 + multi :] = rng.uniform(-1.0, 1.0, (extra // 2, d, 2))
        return out

    def _expected_score(self, values, intervened, dags, rows, targets) -> np.ndarray:
        c, m, k, d = rows.shape
        n = len(values)
        x = np.empty((c * m, n + k, d))
        x[:, :n] = values
        x[:, n:] = rows.reshape(c * m, k, d)
        iv = np.zeros((c * m, n + k, d), dtype=bool)
        iv[:, :n] = intervened
        iv[:, n:] = np.repeat(targets, m, axis=0)[:, None, :]
        probs = self.posterior.edge_probabilities(x, iv)  # (C M, d, d)
        truth = np.tile(dags, (c, 1, 1))
        return expected_correct(probs, truth).reshape(c, m).mean(axis=1)

    def _eig(self, weights, noise, rows, targets) -> np.ndarray:
        c, m, k, d = rows.shape
        loglik = row_log_likelihood(weights, noise, rows.reshape(c, m * k, d), targets)  # (C, M k, M)
        loglik = loglik.reshape(c, m, k, m).sum(axis=2)  # (C, M, M'): outcome of sample m under sample m'
        own = loglik[:, np.arange(m), np.arange(m)]
        top = loglik.max(axis=-1, keepdims=True)
        marginal = np.log(np.exp(loglik - top).mean(axis=-1)) + top[..., 0]
        return (own - marginal).mean(axis=1)
