"""The exact Bayesian edge posterior of the ``CausalLinear`` prior, for ``d <= 12``.

:class:`ExactLinearPosterior` computes ``P(i -> j | h)`` for the linear-Gaussian SCM prior of
:func:`~caasl_gym.simulators.linear.sample_linear_params` by the order-modular dynamic programme
(Koivisto & Sood 2004; edge marginals as in Koivisto 2006). It sits behind the reward-model interface
(``edge_probabilities(values, intervened, mask)``), so ``load_reward_model("exact")`` and
``gym.make("CausalLinear-v0", reward_model="exact")`` use it like a trained network.

**Graph prior.** The simulator draws a uniform random order, then an edge for every ordered pair with
probability ``p``. Summed over orders, a DAG ``G`` has prior ``N_ext(G) p^|E| (1-p)^(P-|E|) / d!`` with
``N_ext`` its number of linear extensions: exactly the order-modular prior, whose per-node factor is
``(p / (1 - p))^|pa_j|`` once the order-constant ``(1 - p)^(d(d-1)/2)`` is dropped. The DP is exact for it.

**Local marginal likelihood.** For node ``j`` with parent set ``S`` (``k = |S|``), over the rows where ``j``
is not an intervention target: ``y_j | X_S ~ N(mu X_S 1, t I + c(t) X_S X_S^T)`` with ``mu`` the weight mean,
noise variance ``t ~ InvGamma(alpha, beta)`` and weight variance ``c(t) = max(1 - t, 0.05) / k``. The
simulator divides by ``sum_{i in S} v_i`` with ``v_i = s_i^2`` for roots and 1 otherwise, which is not
modular; this module uses the **modular approximation** ``v_i = 1`` (the only deviation from the prior).
One eigendecomposition of ``X_S^T X_S`` per parent set serves every ``t``; ``t`` is integrated by the
trapezoid rule in ``log t`` on a local grid around each parent set's posterior mode (a wide global grid
where the mode falls outside it); roots (``S`` empty) use the closed-form Student-t integral.

**Mechanisms the model does not have.** Scale-free graphs (not order-modular), Gumbel or
heteroskedastic noise and shift interventions (the shift value is not in the history, so shifted rows
are dropped like do-targets) make the posterior approximate; :meth:`ExactLinearPosterior.for_config`
warns once per such configuration. A non-zero weight mean is modelled exactly.
"""

from __future__ import annotations

import itertools
import math
import warnings
from dataclasses import dataclass
from functools import cache

import numpy as np
import torch

from caasl_gym.reward.inputs import check_histories

MAX_EXACT_NODES = 12
"""Largest ``d`` the exact posterior accepts (``d 2^(d-1)`` local scores, ``2^d`` DP states)."""

_WARNED: set[tuple] = set()

_GLOBAL_LOG_T = torch.linspace(math.log(1e-4), math.log(1e4), 2001, dtype=torch.float64)
"""Fallback grid over ``log t`` for parent sets whose posterior mode falls outside their local grid."""


def erdos_renyi_edge_probability(d: int, edges_per_node: float) -> float:
    """The per-pair edge probability ``p`` of :func:`~caasl_gym.simulators.graphs.erdos_renyi`."""
    return min(edges_per_node * d / (d * (d - 1) / 2), 0.99)


@dataclass(frozen=True)
class LinearPrior:
    """The parts of the linear SCM prior the posterior depends on.

    Args:
        edges_per_node: expected in-degree of the Erdős–Rényi prior (edge probability from it and ``d``).
        weight_mean: mean of the edge weights.
        noise_concentration: shape ``alpha`` of the inverse-gamma noise-variance prior.
        noise_rate: rate ``beta`` of that prior.
    """

    edges_per_node: float = 3.0
    weight_mean: float = 0.0
    noise_concentration: float = 10.0
    noise_rate: float = 1.0


@cache
def _subsets(d: int) -> dict[str, object]:
    """Index tables over the subsets of ``d`` variables (bit ``i`` of a mask = variable ``i``).

    Returns a dict with ``others`` ``(d, d-1)``, per size ``k``: ``combos[k]`` ``(C, k)`` positions into
    ``others[j]``, ``masks[k]`` ``(d, C)`` full masks; ``member`` ``(2^d, d)`` float membership; DP layer
    tables ``layers`` (masks of each popcount) and ``bits`` ``(d,)``.
    """
    others = np.array([[v for v in range(d) if v != j] for j in range(d)], dtype=np.int64)
    bits = 1 << np.arange(d, dtype=np.int64)
    combos, masks = {}, {}
    for k in range(d):
        c = np.array(list(itertools.combinations(range(d - 1), k)), dtype=np.int64).reshape(-1, max(k, 1))[:, :k]
        combos[k] = c
        masks[k] = bits[others[:, c]].sum(axis=-1)  # (d, C)
    all_masks = np.arange(1 << d, dtype=np.int64)
    member = ((all_masks[:, None] & bits[None, :]) > 0).astype(np.float64)
    popcount = member.sum(axis=1).astype(np.int64)
    layers = [all_masks[popcount == k] for k in range(d + 1)]
    return dict(others=others, combos=combos, masks=masks, member=member, layers=layers, bits=bits)


class ExactLinearPosterior:
    """Exact edge posterior and DAG samples under the linear-Gaussian SCM prior (see the module docstring).

    Args:
        prior: the prior's parameters (default: the ``CausalLinear-v0`` prior).
        points: trapezoid points over ``log t`` (the noise variance) for each parent set, on a local grid
            of ``+-window`` posterior standard deviations around the conjugate approximation of the
            posterior mode of ``log t``; 24 points agree with 400 to about 1e-10 in edge probability.
        window: half-width of that grid in standard deviations.
        device: torch device of the computation (float64 throughout).
        chunk: histories scored at once (bounds memory: about ``chunk * 25`` MB at ``d = 12``).
    """

    domain = "linear"

    def __init__(
        self,
        prior: LinearPrior | None = None,
        *,
        points: int = 24,
        window: float = 9.0,
        device: str | torch.device = "cpu",
        chunk: int = 16,
    ) -> None:
        self.prior = prior or LinearPrior()
        if int(points) < 2:
            raise ValueError(f"points must be >= 2, got {points}")
        if not (math.isfinite(window) and window > 0):
            raise ValueError(f"window must be a finite number > 0, got {window}")
        self.points, self.window = int(points), float(window)
        self.device = torch.device(device)
        self.chunk = max(1, int(chunk))
        self.metadata = {"name": "exact", "prior": self.prior.__dict__.copy(), "points": self.points}

    @classmethod
    def for_config(cls, config, **kwargs) -> ExactLinearPosterior:
        """The posterior for a :class:`~caasl_gym.envs.linear.CausalLinearConfig`.

        Warns once per configuration whose mechanism the model does not have (scale-free graphs,
        non-Gaussian noise, shift interventions); a non-zero ``weight_mean`` is exact.

        Raises:
            ValueError: a config without the linear fields, or ``num_nodes > MAX_EXACT_NODES``.
        """
        if not hasattr(config, "weight_mean"):
            raise ValueError(
                f"the exact posterior models linear SCMs only; {type(config).__name__} is not a CausalLinear "
                "configuration (use a trained reward model, e.g. 'sergio')"
            )
        check_num_nodes(config.num_nodes)
        approx = approximation_reasons(config)
        key = (config.graph, config.noise, config.intervention)
        if approx and key not in _WARNED:
            _WARNED.add(key)
            warnings.warn(
                "the 'exact' reward model is only approximate for this environment: " + "; ".join(approx),
                stacklevel=3,
            )
        prior = LinearPrior(edges_per_node=config.edges_per_node, weight_mean=config.weight_mean)
        return cls(prior, **kwargs)

    # ------------------------------------------------------------------ public API
    def edge_probabilities(
        self, values: np.ndarray, intervened: np.ndarray, mask: np.ndarray | None = None
    ) -> np.ndarray:
        """Exact posterior edge probabilities.

        Args:
            values: ``(B, n, d)`` raw values.
            intervened: ``(B, n, d)`` bool do-targets of each row.
            mask: optional ``(B, n)`` bool, True for filled rows.

        Returns:
            ``(B, d, d)`` float64 ``P(i -> j | h)``; the diagonal is exactly 0.

        Raises:
            ValueError: bad histories (see :func:`~caasl_gym.reward.inputs.check_histories`) or ``d > 12``.
        """
        x, iv, m = _checked(values, intervened, mask)
        out = np.empty((x.shape[0], x.shape[-1], x.shape[-1]))
        for s in range(0, x.shape[0], self.chunk):
            sl = slice(s, s + self.chunk)
            out[sl] = _edge_marginals(self._log_scores(x[sl], iv[sl], None if m is None else m[sl])).cpu().numpy()
        return out

    __call__ = edge_probabilities

    def sample_dags(
        self,
        values: np.ndarray,
        intervened: np.ndarray,
        mask: np.ndarray | None,
        n_samples: int,
        rng: np.random.Generator,
    ) -> np.ndarray:
        """Exact posterior DAG samples (an order and its parent sets drawn jointly, backwards).

        Args:
            values, intervened, mask: histories as in :meth:`edge_probabilities`.
            n_samples: DAGs ``M`` per history.
            rng: the only source of randomness.

        Returns:
            ``(B, M, d, d)`` bool adjacency samples.
        """
        x, iv, m = _checked(values, intervened, mask)
        if int(n_samples) < 1:
            raise ValueError(f"n_samples must be >= 1, got {n_samples}")
        out = []
        for s in range(0, x.shape[0], self.chunk):
            sl = slice(s, s + self.chunk)
            log_beta = self._log_scores(x[sl], iv[sl], None if m is None else m[sl]).cpu().numpy()
            out.append(_sample_dags(log_beta, int(n_samples), rng))
        return np.concatenate(out)

    def log_local_scores(
        self, values: np.ndarray, intervened: np.ndarray, mask: np.ndarray | None = None
    ) -> np.ndarray:
        """``(B, d, 2^d)`` log of ``(p/(1-p))^|S| * ml_j(S)`` for every node ``j`` and parent mask ``S``
        (``-inf`` where ``j`` is in ``S``). The DP's only input; exposed for tests and diagnostics."""
        x, iv, m = _checked(values, intervened, mask)
        return self._log_scores(x, iv, m).cpu().numpy()

    # ------------------------------------------------------------------ internals
    def _log_scores(self, x: np.ndarray, iv: np.ndarray, m: np.ndarray | None) -> torch.Tensor:
        b, n, d = x.shape
        tab = _subsets(d)
        dev, f64 = self.device, torch.float64
        pr = self.prior
        xt = torch.as_tensor(x, dtype=f64, device=dev)  # (B, n, d)
        valid = torch.ones(b, n, dtype=torch.bool, device=dev) if m is None else torch.as_tensor(m, device=dev)
        use = (valid[:, :, None] & ~torch.as_tensor(iv, device=dev)).to(f64)  # (B, n, d): row r informs node j
        gram = torch.einsum("brj,bru,brv->bjuv", use, xt, xt)  # (B, d, d, d): Gram of node j's rows
        count = use.sum(dim=1)  # (B, d)
        alpha, rate, mu = pr.noise_concentration, pr.noise_rate, pr.weight_mean
        p = erdos_renyi_edge_probability(d, pr.edges_per_node)
        log_odds = math.log(p) - math.log1p(-p)

        z = torch.linspace(-self.window, self.window, self.points, dtype=f64, device=dev)  # (Q,) std units
        trap = torch.full_like(z, math.log(float(z[1] - z[0])))
        trap[[0, -1]] -= math.log(2.0)

        out = torch.full((b, d, 1 << d), -math.inf, dtype=f64, device=dev)
        jj = torch.arange(d, device=dev)
        yy = gram[:, jj, jj, jj]  # (B, d)
        # roots: y ~ N(0, t I) with t ~ InvGamma(alpha, rate), a closed-form Student-t marginal
        root = (
            alpha * math.log(rate)
            - math.lgamma(alpha)
            + torch.lgamma(alpha + count / 2)
            - count / 2 * math.log(2 * math.pi)
            - (alpha + count / 2) * torch.log(rate + yy / 2)
        )
        out[:, :, 0] = root
        others = torch.as_tensor(tab["others"], device=dev)
        for k in range(1, d):
            combo = torch.as_tensor(tab["combos"][k], device=dev)  # (C, k)
            var = others[:, combo]  # (d, C, k) variable indices of each parent set of each node
            c_sets = var.shape[1]
            jidx = jj[:, None, None, None]
            gs = gram[:, jidx, var[:, :, :, None], var[:, :, None, :]]  # (B, d, C, k, k)
            bs = gram[:, jidx[..., 0], var, jj[:, None, None]]  # (B, d, C, k): X_S^T y_j
            rr = yy[:, :, None].expand(b, d, c_sets)
            if mu != 0.0:  # residual of the prior mean mu * X_S 1
                g1 = gs.sum(dim=-1)  # (B, d, C, k) = G_S 1
                rr = rr - 2 * mu * bs.sum(dim=-1) + mu * mu * g1.sum(dim=-1)
                bs = bs - mu * g1
            evals, evecs = torch.linalg.eigh(gs)  # (B, d, C, k), (B, d, C, k, k)
            evals = evals.clamp_min(0.0)
            proj2 = torch.einsum("bjcuv,bjcu->bjcv", evecs, bs) ** 2  # (B, d, C, k)
            nn = count[:, :, None].expand(b, d, c_sets)  # (B, d, C)
            # local grid: centre and width from the conjugate approximation of the posterior of log t
            t0 = rate / (alpha + 1.0)  # prior mode of t, and its ridge t0 / c(t0)
            rss0 = (rr - (proj2 / (evals + t0 * k / max(1.0 - t0, 0.05))).sum(dim=-1)).clamp_min(0.0)
            width = torch.rsqrt(alpha + nn / 2)  # (B, d, C)
            log_t = torch.log((rate + rss0 / 2) / (alpha + nn / 2))[..., None] + width[..., None] * z
            terms = self._integrand(rr, proj2, evals, nn, k, log_t) + (trap + torch.log(width)[..., None])
            ml = torch.logsumexp(terms, dim=-1)  # (B, d, C)
            edge = terms.argmax(dim=-1)
            missed = (edge < 2) | (edge > self.points - 3)  # the mode is not inside the local grid
            if missed.any():  # rare (poorly fitting sets, misspecified noise): a wide global grid instead
                g = _GLOBAL_LOG_T.to(dev)
                sel = tuple(missed.nonzero().T)
                wide = self._integrand(rr[sel], proj2[sel], evals[sel], nn[sel], k, g.expand(len(sel[0]), -1))
                ml[sel] = torch.logsumexp(wide + math.log(float(g[1] - g[0])), dim=-1)
            masks = torch.as_tensor(tab["masks"][k], device=dev)  # (d, C)
            out.scatter_(2, masks[None].expand(b, d, c_sets), ml + k * log_odds)
        return out

    def _integrand(
        self, rr: torch.Tensor, proj2: torch.Tensor, evals: torch.Tensor, n: torch.Tensor, k: int, log_t: torch.Tensor
    ) -> torch.Tensor:
        """Log of ``N(y; 0, t I + c(t) X X^T) InvGamma(t) t`` at ``log_t`` ``(..., Q)`` for parent sets of size ``k``.

        ``rr`` ``(...)`` is ``y^T y`` (of the residual of the prior mean), ``proj2`` and ``evals`` ``(..., k)``
        the squared projections of ``X^T y`` on the eigenvectors of ``X^T X`` and its eigenvalues, ``n``
        ``(...)`` the number of rows. With ``lam = t / c(t)``: the quadratic form is
        ``(rr - sum_i proj2_i / (evals_i + lam)) / t`` and ``log det = n log t + sum_i log(1 + evals_i / lam)``.
        """
        alpha, rate = self.prior.noise_concentration, self.prior.noise_rate
        t = torch.exp(log_t)
        lam = t * k / torch.clamp(1.0 - t, min=0.05)  # (..., Q)
        fit = (proj2[..., None, :] / (evals[..., None, :] + lam[..., None])).sum(dim=-1)
        logdet = torch.log1p(evals[..., None, :] / lam[..., None]).sum(dim=-1)
        nq = n[..., None]
        quad = (rr[..., None] - fit).clamp_min(0.0) / t
        loglik = -0.5 * (nq * math.log(2 * math.pi) + nq * log_t + logdet + quad)
        # log prior density of t times the Jacobian t of d(log t)
        return loglik + alpha * math.log(rate) - math.lgamma(alpha) - alpha * log_t - rate / t


def approximation_reasons(config) -> list[str]:
    """Why the exact posterior is only approximate for a ``CausalLinearConfig`` (empty: it is exact)."""
    reasons = []
    if config.graph != "erdos_renyi":
        reasons.append(f"graph={config.graph!r} is not order-modular")
    if config.noise != "gaussian":
        reasons.append(f"noise={config.noise!r} is not Gaussian")
    if config.intervention != "do":
        reasons.append(f"intervention={config.intervention!r} rows are dropped for their targets")
    return reasons


def _checked(values, intervened, mask) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """:func:`~caasl_gym.reward.inputs.check_histories` for the linear domain, plus the ``d`` limit."""
    x, iv, m = check_histories(values, intervened, mask, domain="linear")
    check_num_nodes(x.shape[-1])
    return x, iv, m


def check_num_nodes(d: int) -> None:
    """Raise ``ValueError`` unless ``2 <= d <= MAX_EXACT_NODES``."""
    if not 2 <= int(d) <= MAX_EXACT_NODES:
        raise ValueError(
            f"the exact posterior supports 2 <= d <= {MAX_EXACT_NODES} variables (its cost grows as d 2^d), "
            f"got d = {d}; use a trained reward model such as 'linear' for larger graphs"
        )


def _subset_logsum(x: torch.Tensor, d: int, upward: bool = False) -> torch.Tensor:
    """Zeta transform in log space over the last axis ``2^d``: ``log sum exp`` over the subsets of each
    mask (or, ``upward``, over its supersets)."""
    shape = x.shape
    y = x.reshape(*shape[:-1], *([2] * d))
    for axis in range(d):
        ax = y.ndim - 1 - axis
        lo, hi = y.select(ax, 0), y.select(ax, 1)
        both = torch.logaddexp(lo, hi)
        y = torch.stack((both, hi) if upward else (lo, both), dim=ax)
    return y.reshape(shape)


def _forward_backward(log_alpha: torch.Tensor, d: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Log order sums ``log L(U)`` (``U`` placed first) and ``log R(T)`` (``T`` placed last), ``(B, 2^d)``.

    ``L(U) = sum_{j in U} L(U - j) alpha_j(U - j)`` and ``R(T) = sum_{j in T} alpha_j(V - T) R(T - j)``,
    with ``alpha_j(U) = sum_{S subset of U} beta_j(S)``. Log space throughout: with informative data the
    sums span far more than float64's range.
    """
    tab = _subsets(d)
    b, dev = log_alpha.shape[0], log_alpha.device
    full = (1 << d) - 1
    log_l = torch.full((b, 1 << d), -math.inf, dtype=log_alpha.dtype, device=dev)
    log_r = torch.full_like(log_l, -math.inf)
    log_l[:, 0] = 0.0
    log_r[:, 0] = 0.0
    bits = torch.as_tensor(tab["bits"], device=dev)
    jj = torch.arange(d, device=dev)
    for k in range(1, d + 1):
        u = torch.as_tensor(tab["layers"][k], device=dev)  # (n_k,)
        has = (u[:, None] & bits[None]) > 0  # (n_k, d)
        prev = torch.where(has, u[:, None] ^ bits[None], 0)  # (n_k, d): U - j
        lterm = log_l[:, prev] + log_alpha[:, jj[None, :], prev]  # (B, n_k, d)
        log_l[:, u] = torch.logsumexp(lterm.masked_fill(~has, -math.inf), dim=-1)
        rterm = log_alpha[:, jj[None, :], torch.where(has, full ^ u[:, None], 0)] + log_r[:, prev]
        log_r[:, u] = torch.logsumexp(rterm.masked_fill(~has, -math.inf), dim=-1)
    return log_l, log_r


def _edge_marginals(log_beta: torch.Tensor) -> torch.Tensor:
    """``(B, d, d)`` edge marginals ``P(i -> j)`` from log local scores ``(B, d, 2^d)``.

    ``P(i -> j) = sum_{S holds i} beta_j(S) gamma_j(S) / Z`` with ``gamma_j(S) = sum_{U superset of S,
    U without j} L(U) R(V - U - j)`` (Koivisto 2006).
    """
    d, size = log_beta.shape[1:]
    tab = _subsets(d)
    log_l, log_r = _forward_backward(_subset_logsum(log_beta, d), d)
    full = size - 1
    masks = torch.arange(size, device=log_beta.device)
    bits = torch.as_tensor(tab["bits"], device=log_beta.device)
    free = (masks[None, :] & bits[:, None]) == 0  # (d, 2^d): U does not hold j
    rest = torch.where(free, (full ^ masks[None, :]) ^ bits[:, None], 0)  # (d, 2^d): V - U - j
    log_w = (log_l[:, None, :] + log_r[:, rest]).masked_fill(~free, -math.inf)  # (B, d, 2^d)
    log_gamma = _subset_logsum(log_w, d, upward=True)
    log_z = log_l[:, full]  # (B,)
    terms = torch.exp(log_beta + log_gamma - log_z[:, None, None])  # (B, d, 2^d), each term <= 1
    member = torch.as_tensor(tab["member"], dtype=log_beta.dtype, device=log_beta.device)  # (2^d, d)
    probs = (terms @ member).transpose(1, 2).clamp(0.0, 1.0)  # (B, i, j)
    return probs * (1 - torch.eye(d, dtype=log_beta.dtype, device=log_beta.device))


def _sample_dags(log_beta: np.ndarray, n_samples: int, rng: np.random.Generator) -> np.ndarray:
    """``(B, M, d, d)`` DAGs from log local scores ``(B, d, 2^d)``: the order is drawn from its last node
    backwards (``P(last = j | U) ~ L(U - j) alpha_j(U - j)``), each node's parents ``S subset of`` its
    predecessors with probability ``~ beta_j(S)``; this draws (order, DAG) from their joint posterior."""
    b, d, size = log_beta.shape
    lb = torch.from_numpy(log_beta)
    log_alpha = _subset_logsum(lb, d)
    log_l, _ = _forward_backward(log_alpha, d)
    log_alpha, log_l = log_alpha.numpy(), log_l.numpy()
    bits = 1 << np.arange(d)
    masks = np.arange(size)
    out = np.zeros((b, n_samples, d, d), dtype=bool)
    remaining = np.full((b, n_samples), size - 1)  # the nodes not yet placed (the front of the order)
    bi = np.arange(b)[:, None]
    for _ in range(d):
        has = (remaining[..., None] & bits) > 0  # (B, M, d)
        prev = np.where(has, remaining[..., None] ^ bits, 0)
        logw = np.where(has, log_l[bi[..., None], prev] + log_alpha[bi[..., None], np.arange(d), prev], -np.inf)
        j = _categorical(rng, logw)  # (B, M): the last node among the remaining ones
        allowed = remaining ^ bits[j]  # its parents lie among the rest
        sub = (masks[None, None] & ~allowed[..., None]) == 0  # (B, M, 2^d) subsets of allowed
        pa = _categorical(rng, np.where(sub, log_beta[bi, j], -np.inf))  # (B, M) parent mask
        out[bi, np.arange(n_samples)[None], :, j] = (pa[..., None] & bits) > 0
        remaining = allowed
    return out


def _categorical(rng: np.random.Generator, log_weight: np.ndarray) -> np.ndarray:
    """One index per leading entry, drawn with probability ``~ exp(log_weight)`` along the last axis."""
    w = np.exp(log_weight - log_weight.max(axis=-1, keepdims=True))
    cum = np.cumsum(w, axis=-1)
    u = rng.random(w.shape[:-1]) * cum[..., -1]
    return np.minimum((cum < u[..., None]).sum(axis=-1), w.shape[-1] - 1)
