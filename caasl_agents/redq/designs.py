"""The deterministic design of a per-variable squashed-Gaussian actor (``predict(obs, deterministic=True)``).

The actor gives, per variable ``i``, a Gaussian ``N(mean_i, std_i)`` before the tanh for each action entry;
variable ``i`` is a target when its column-0 entry is positive, i.e. with probability

    p_i = P(mean_i0 + std_i0 * eps > 0) = Phi(mean_i0 / std_i0).

SB3's deterministic action, ``tanh(mean)``, targets exactly the variables with ``p_i > 1/2`` (the mode of
each variable's Bernoulli on its own). A policy that spreads its targets, e.g. "about two of these ten,
each with p_i = 0.2", then targets nothing at all, which is not a design it would ever sample. The rules
here keep the sampled designs' expected size, ``k = round(sum_i p_i)`` (half up), instead:

* ``"coverage"`` (default): the ``k`` variables with the largest ``p_i / (1 + c_i)``, where ``c_i`` is the
  number of filled rows of the history in which variable ``i`` was a target (observation channel 1 times
  channel 2). A policy whose marginals barely change between steps (a policy that cannot yet tell the hidden
  graph from the history spreads its targets) then rotates its targets, as its sampled designs do, instead of
  repeating one design ``T`` times; a variable it strongly prefers is still chosen again. On the first step
  (no targets yet) it is ``"top-k"``. Ties go to the larger ``p_i``, then to the lower index.
* ``"top-k"``: the ``k`` variables with the largest ``p_i`` (ties to the lower index), whatever the history.
* ``"top-k-nonempty"``: ``"top-k"`` with ``k >= 1`` (always at least the likeliest target).
* ``"mean"``: SB3's ``tanh(mean)`` (per-variable Bernoulli modes).

``k = 0``, the observational design, happens exactly when ``sum_i p_i < 1/2`` (except for
``"top-k-nonempty"``): then a sampled design is more often empty than not, so it is a design the policy means.

The action encodes the design exactly as the environments decode it (target iff column 0 > 0): column 0 is
``+1`` for a target and ``-1`` otherwise; the other columns (the intervention values) are ``tanh(mean)``.
Everything is batched over ``B`` and works at any ``d``. Zips saved before ``"coverage"`` existed load with
the default rule; ``model.policy.deterministic_design = "top-k"`` restores the earlier one.

**At a number of variables the policy never saw** (zero-shot to another ``d``), how many targets pay is
something it cannot know: on SergioKnockout the best random target rate is 0.2 at ``d = 10`` but 0.7 at
``d = 20`` and 30 (``benchmarks/results/targeting_rate.md``), so a policy that carries its training rate over
loses to Random there. :func:`rescale_target_rate` keeps the policy's preferences (the order of its ``p_i``)
and sets their sum to ``rate * d``: with ``rate = 1/2``, the uninformed rate of Random, the policy then
differs from Random only in *which* variables it targets. The actor applies it whenever ``d`` differs from
its training ``d`` (``zero_shot_rate``), before sampling and before the deterministic rule alike.

Which variables pay may not carry over either: a clone that reads the reward model's posterior picks targets
by preferences learned at ``d = 10`` that lose to Random's at ``d = 30``, while its intervention values still
gain there (``benchmarks/results/imitation_linear_stats/``). With ``zero_shot_targets="uniform"`` the actor
gives every variable the same target probability at an unseen ``d`` (:func:`uniform_target_rate`), and keeps
its values; the default ``"policy"`` keeps its preferences. Its deterministic design then has no preferred
variables to pick: :func:`shuffled_action` takes ``round(sum_i p_i)`` targets in an order drawn from a checksum
of the history, so that one history always gives one design, and each new history splits the variables
anew (a rule that kept one order would target one fixed half at every other step and never separate
two variables of the same half, which loses heavily).
"""

from __future__ import annotations

import math
import zlib

import numpy as np
import torch as th

DETERMINISTIC_DESIGNS = ("coverage", "top-k", "top-k-nonempty", "mean")
"""Valid values of ``deterministic_design`` (see the module docstring); the first is the default."""
ZERO_SHOT_TARGETS = ("policy", "uniform")
"""Valid values of a policy's ``zero_shot_targets`` (see the module docstring); the first is the default."""


def check_deterministic_design(mode: str) -> str:
    """Return ``mode`` if it is one of :data:`DETERMINISTIC_DESIGNS`, else raise ``ValueError``."""
    if mode not in DETERMINISTIC_DESIGNS:
        raise ValueError(f"unknown deterministic_design {mode!r}; valid choices: {', '.join(DETERMINISTIC_DESIGNS)}")
    return mode


def target_probabilities(mean: th.Tensor, log_std: th.Tensor, width: int) -> th.Tensor:
    """``p_i = Phi(mean_i0 / std_i0)``, the probability that a sampled action targets variable ``i``.

    Args:
        mean: ``(B, d·k)`` Gaussian means before the tanh, row-major flattening of ``(B, d, k)``.
        log_std: ``(B, d·k)`` their log standard deviations.
        width: ``k``, the action's last axis (column 0 decides the targets).

    Returns:
        ``(B, d)`` probabilities in ``[0, 1]``.
    """
    m = mean.reshape(mean.shape[0], -1, width)[..., 0]
    s = log_std.reshape(log_std.shape[0], -1, width)[..., 0].exp()
    return 0.5 * th.erfc(-m / (s * math.sqrt(2.0)))


def check_zero_shot_targets(mode: str) -> str:
    """Return ``mode`` if it is one of :data:`ZERO_SHOT_TARGETS`, else raise ``ValueError``."""
    if mode not in ZERO_SHOT_TARGETS:
        raise ValueError(f"unknown zero_shot_targets {mode!r}; valid choices: {', '.join(ZERO_SHOT_TARGETS)}")
    return mode


def uniform_target_rate(mean: th.Tensor, log_std: th.Tensor, width: int, rate: float | None) -> th.Tensor:
    """Set the target means so that every variable of a history is a target with the same probability.

    Every target mean ``m_i0`` becomes ``Phi^-1(q) * std_i0``, so ``p_i = q`` for all ``i``: ``q = rate``, or,
    with ``rate=None``, the history's mean ``p_i`` (the policy's own expected number of targets is kept).

    Args:
        mean: ``(B, d·k)`` Gaussian means before the tanh (row-major ``(B, d, k)``).
        log_std: ``(B, d·k)`` their log standard deviations.
        width: ``k`` (column 0 decides the targets).
        rate: ``q`` in ``(0, 1)``, or None.

    Returns:
        ``(B, d·k)`` means; only column 0 of each variable's row differs from ``mean``.
    """
    if rate is not None and not 0.0 < rate < 1.0:
        raise ValueError(f"target rate must be in (0, 1), got {rate}")
    batch = mean.shape[0]
    rows = mean.reshape(batch, -1, width)
    std0 = log_std.reshape(batch, -1, width)[..., 0].exp()  # (B, d)
    if rate is None:
        q = target_probabilities(mean, log_std, width).mean(dim=1, keepdim=True).clamp(1e-6, 1 - 1e-6)  # (B, 1)
    else:
        q = th.full((batch, 1), float(rate), dtype=mean.dtype, device=mean.device)
    column0 = th.special.ndtri(q) * std0
    return th.cat([column0.unsqueeze(-1), rows[..., 1:]], dim=-1).reshape(batch, -1)


def history_orders(obs: th.Tensor) -> th.Tensor:
    """One permutation of the variables per history, drawn with a seed that is a checksum of its bytes.

    Args:
        obs: ``(B, N, d, 3)`` histories.

    Returns:
        ``(B, d)`` long tensor on ``obs``'s device: the same history always gives the same permutation.
    """
    arrays = obs.detach().to("cpu", th.float32).numpy()
    orders = [
        np.random.default_rng(zlib.crc32(np.ascontiguousarray(a).tobytes())).permutation(a.shape[1]) for a in arrays
    ]
    return th.as_tensor(np.stack(orders), device=obs.device)


def shuffled_action(mean: th.Tensor, log_std: th.Tensor, width: int, obs: th.Tensor) -> th.Tensor:
    """The deterministic action without preferences: ``round(sum_i p_i)`` targets (half up), the first ones of
    :func:`history_orders`, with values ``tanh(mean)`` (``mean``, ``log_std``: ``(B, d·k)``; ``obs``:
    ``(B, N, d, 3)``; returns ``(B, d·k)``)."""
    p = target_probabilities(mean, log_std, width)  # (B, d)
    k = th.floor(p.sum(dim=1, keepdim=True) + 0.5)  # (B, 1)
    return _first_k_action(mean, width, history_orders(obs), k)


def _first_k_action(mean: th.Tensor, width: int, order: th.Tensor, k: th.Tensor) -> th.Tensor:
    """Column 0 ``+1`` for the first ``k`` variables of ``order`` (``(B, d)``, per history; ``k``: ``(B, 1)``) and
    ``-1`` elsewhere, the other columns ``tanh(mean)``: ``(B, d·k)``."""
    batch = mean.shape[0]
    ranks = th.empty_like(order).scatter_(1, order, th.arange(order.shape[1], device=order.device).expand_as(order))
    column0 = th.where(ranks < k, 1.0, -1.0).to(mean.dtype)  # (B, d)
    rows = th.tanh(mean).reshape(batch, -1, width)
    return th.cat([column0.unsqueeze(-1), rows[..., 1:]], dim=-1).reshape(batch, -1)


def rescale_target_rate(mean: th.Tensor, log_std: th.Tensor, width: int, rate: float) -> th.Tensor:
    """Shift the target means so that each history's target probabilities sum to ``rate * d``.

    Every target mean ``m_i0`` becomes ``m_i0 + delta * std_i0``, one ``delta`` per history, so
    ``p_i = Phi(m_i0 / std_i0 + delta)``: the order of the ``p_i`` (the policy's preferences) is kept and their
    sum, the expected number of targets, becomes ``rate * d`` (``delta`` by bisection, to about ``1e-6``).

    Args:
        mean: ``(B, d·k)`` Gaussian means before the tanh (row-major ``(B, d, k)``).
        log_std: ``(B, d·k)`` their log standard deviations.
        width: ``k`` (column 0 decides the targets).
        rate: the target rate, in ``(0, 1)``.

    Returns:
        ``(B, d·k)`` means; only column 0 of each variable's row differs from ``mean``.
    """
    if not 0.0 < rate < 1.0:
        raise ValueError(f"target rate must be in (0, 1), got {rate}")
    batch = mean.shape[0]
    rows = mean.reshape(batch, -1, width)
    std0 = log_std.reshape(batch, -1, width)[..., 0].exp()
    z = rows[..., 0] / std0  # (B, d)
    goal = rate * z.shape[1]
    low = th.full((batch, 1), -40.0, dtype=z.dtype, device=z.device)
    high = th.full_like(low, 40.0)
    for _ in range(40):  # sum_i Phi(z_i + delta) increases in delta; the bracket halves 40 times
        mid = 0.5 * (low + high)
        below = (0.5 * th.erfc(-(z + mid) / math.sqrt(2.0))).sum(dim=1, keepdim=True) < goal
        low, high = th.where(below, mid, low), th.where(below, high, mid)
    delta = 0.5 * (low + high)  # (B, 1)
    column0 = rows[..., 0] + delta * std0
    return th.cat([column0.unsqueeze(-1), rows[..., 1:]], dim=-1).reshape(batch, -1)


def target_counts(obs: th.Tensor) -> th.Tensor:
    """``c_i``: the number of filled rows of each history in which variable ``i`` was a target.

    Args:
        obs: ``(B, N, d, 3)`` histories (channel 1 the intervention indicator, channel 2 one for filled rows).

    Returns:
        ``(B, d)`` counts (float).
    """
    return (obs[..., 1] * obs[..., 2]).sum(dim=1)


def deterministic_action(
    mean: th.Tensor, log_std: th.Tensor, width: int, mode: str = "coverage", counts: th.Tensor | None = None
) -> th.Tensor:
    """The deterministic action of the squashed Gaussian ``(mean, exp(log_std))`` under rule ``mode``.

    Args:
        mean: ``(B, d·k)`` means before the tanh (row-major ``(B, d, k)``).
        log_std: ``(B, d·k)`` log standard deviations.
        width: ``k`` (column 0 of each variable's row decides whether it is a target).
        mode: one of :data:`DETERMINISTIC_DESIGNS`.
        counts: ``(B, d)`` times each variable was a target in the history (:func:`target_counts`); needed by
            ``"coverage"`` only.

    Returns:
        ``(B, d·k)`` actions in ``[-1, 1]``: ``tanh(mean)`` for ``"mean"``; otherwise column 0 is ``+1`` for
        the chosen targets and ``-1`` elsewhere, the other columns ``tanh(mean)``.

    Raises:
        ValueError: an unknown ``mode``, or ``"coverage"`` without ``counts`` of shape ``(B, d)``.
    """
    check_deterministic_design(mode)
    if mode == "mean":
        return th.tanh(mean)
    p = target_probabilities(mean, log_std, width)  # (B, d)
    k = th.floor(p.sum(dim=1, keepdim=True) + 0.5)  # (B, 1) expected number of targets, half up
    if mode == "top-k-nonempty":
        k = k.clamp(min=1.0)
    order = th.sort(p, dim=1, descending=True, stable=True).indices  # (B, d), ties: lower index first
    if mode == "coverage":
        if counts is None or tuple(counts.shape) != tuple(p.shape):
            got = None if counts is None else tuple(counts.shape)
            need = tuple(p.shape)
            raise ValueError(f"deterministic_design 'coverage' needs counts of shape {need} (B, d), got {got}")
        priority = (p / (1.0 + counts.to(p.dtype))).gather(1, order)  # (B, d) in the order of p
        order = order.gather(1, th.sort(priority, dim=1, descending=True, stable=True).indices)
    return _first_k_action(mean, width, order, k)
