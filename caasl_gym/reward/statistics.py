"""Summary statistics of a linear-Gaussian history, per variable and per ordered pair (torch, batched).

For linear-Gaussian data the exact posterior over graphs (:mod:`caasl_gym.reward.exact`) reads the data
only through second moments: its local score of variable ``j`` uses the Gram matrix of the rows where
``j`` is not a target. The amortized model's ``statistics`` encoder
(:class:`~caasl_gym.reward.model.EdgePosteriorNet`) reads such moments, and a few statistics derived from
them, instead of having to learn to compute them from the rows:

* per variable ``j``: the log standard deviation over its non-target rows (the scale the z-scoring
  removes; 0 for a constant variable or one with fewer than two such rows, as in
  :func:`~caasl_gym.reward.preprocessing.log_scale`), the log residual variance of ``j`` regressed on
  all other variables, and the log of one plus the number of rows where ``j`` is a target;
* per ordered pair ``(i, j)``, from the values z-scored per variable with the mean and standard deviation
  of that variable's own non-target rows, and from second moments (about those means) over the rows where
  ``j`` is not a target: the correlation of ``i`` and ``j``; the ridge coefficient of ``i`` in the
  regression of ``j`` on all others; the partial correlation of ``i`` and ``j`` given the rest; and,
  over the rows where ``i`` is a target, the regression slope of ``j`` on ``i`` (the total causal
  effect), the mean of ``j`` and the log number of such rows.

All statistics are finite for any history (ridge terms, counts clipped at 1), permutation-equivariant
in the variables and invariant to the order of rows and to padding rows.
"""

from __future__ import annotations

import torch

from caasl_gym.reward.preprocessing import CONSTANT_RTOL

RIDGE = 1e-2
"""Ridge added to the Gram matrices (in units of the z-scored variance) before solving."""
NODE_FEATURES = 3
"""Features per variable (see the module docstring)."""
PAIR_FEATURES = 6
"""Features per ordered pair (see the module docstring)."""


def history_statistics(
    values: torch.Tensor, intervened: torch.Tensor, mask: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-variable and per-pair statistics of histories.

    Args:
        values: ``(B, n, d)`` raw values (float; computed in float64 inside).
        intervened: ``(B, n, d)`` bool or 0/1 intervention indicators.
        mask: ``(B, n)`` bool, True for valid rows; None means all rows are valid.

    Returns:
        ``(B, d, NODE_FEATURES)`` and ``(B, d, d, PAIR_FEATURES)`` float32, pair ``[b, i, j]`` about the
        edge ``i -> j``; the diagonal of the pair features is 0.
    """
    x = values.double()
    b, n, d = x.shape
    valid = torch.ones(b, n, dtype=torch.bool, device=x.device) if mask is None else mask.bool()
    target = intervened.bool() & valid[:, :, None]  # (B, n, d)
    free = valid[:, :, None] & ~target  # (B, n, d): rows usable for variable j
    w = free.double()
    count = w.sum(1).clamp_min(1.0)  # (B, d)
    mean = (w * x).sum(1) / count
    var = (w * (x - mean[:, None]) ** 2).sum(1) / count
    constant = (var <= (CONSTANT_RTOL * (1.0 + mean.abs())) ** 2) | (count < 2)
    std = torch.where(constant, 1.0, var).sqrt()  # (B, d); a constant variable keeps unit scale
    z = torch.where(valid[:, :, None], (x - mean[:, None]) / std[:, None], 0.0)  # (B, n, d)

    # Gram matrix of every variable's usable rows: gram[b, j] = sum_r w_rj z_r z_r^T / n_j, (B, d, d, d)
    gram = torch.einsum("brj,bri,brk->bjik", w, z, z) / count[:, :, None, None]
    eye = torch.eye(d, dtype=x.dtype, device=x.device)
    ridge = gram + RIDGE * eye
    diag = torch.diagonal(gram, dim1=-2, dim2=-1)  # (B, d, d): diag[b, j, i] = gram[b, j, i, i]
    own = torch.diagonal(diag, dim1=-2, dim2=-1)  # (B, d): gram[b, j, j, j]
    cross = gram[:, torch.arange(d), :, torch.arange(d)].transpose(0, 1)  # (B, d, d): [b, j, i] = gram[b, j, i, j]
    corr = cross / (diag * own[:, :, None]).clamp_min(1e-12).sqrt()

    # one inverse per variable serves both: with P = (G_j + ridge I)^-1, the ridge regression of j on the
    # others has coefficients -P[i, j] / P[j, j] and residual variance 1 / P[j, j] - ridge (block inverse)
    keep = 1.0 - eye  # (d, d)
    precision = torch.linalg.inv(ridge)  # (B, d(j), d, d)
    p_diag = torch.diagonal(precision, dim1=-2, dim2=-1)  # (B, d(j), d)
    p_cross = precision[:, torch.arange(d), :, torch.arange(d)].transpose(0, 1)  # [b, j, i] = P_j[i, j]
    p_own = torch.diagonal(p_diag, dim1=-2, dim2=-1)  # (B, d)
    partial = -p_cross / (p_diag * p_own[:, :, None]).clamp_min(1e-12).sqrt()
    beta = -p_cross / p_own[:, :, None] * keep  # (B, d(j), d(i))
    residual = (1.0 / p_own - RIDGE).clamp_min(1e-6)  # (B, d)

    # rows where i is a target and j is not: slope of z_j on z_i, mean of z_j, count (B, d(i), d(j))
    t = target.double()
    n_ij = torch.einsum("bri,brj->bij", t, w)
    s_xy = torch.einsum("bri,brj,bri,brj->bij", t, w, z, z)
    s_xx = torch.einsum("bri,brj,bri->bij", t, w, z * z)
    s_y = torch.einsum("bri,brj,brj->bij", t, w, z)
    slope = s_xy / (s_xx + 1.0)
    shift = s_y / (n_ij + 1.0)

    node = torch.stack([std.log(), residual.log(), target.double().sum(1).log1p()], dim=-1)
    pair = torch.stack(
        [corr.transpose(1, 2), beta.transpose(1, 2), partial.transpose(1, 2), slope, shift, n_ij.log1p()], dim=-1
    )
    pair = pair * keep[None, :, :, None]
    return node.float(), pair.float()


def encoded_statistics(x: torch.Tensor, mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`history_statistics` of the reward model's encoded input (see
    :func:`~caasl_gym.reward.inputs.encode_histories`).

    Every statistic but the log-std is invariant to an affine map of each variable, so the z-scored
    channel 0 serves as the values; the log-std of the raw values is channel 2 (the scale channel).

    Args:
        x: ``(B, n, d, 3)``: z-scored value, 0/1 intervention indicator, log-std (constant over valid rows).
        mask: ``(B, n)`` bool, True for valid rows; None means all rows are valid.

    Returns:
        ``(B, d, NODE_FEATURES)`` and ``(B, d, d, PAIR_FEATURES)`` float32.
    """
    if x.shape[-1] != 3:
        raise ValueError(f"encoded_statistics needs the scale channel: x must be (B, n, d, 3), got {tuple(x.shape)}")
    node, pair = history_statistics(x[..., 0], x[..., 1] > 0.5, mask)
    valid = torch.ones(x.shape[:2], dtype=torch.bool, device=x.device) if mask is None else mask.bool()
    log_std = (x[..., 2] * valid[:, :, None]).sum(1) / valid.sum(1, keepdim=True).clamp_min(1)  # (B, d)
    return torch.cat([log_std.float()[..., None], node[..., 1:]], dim=-1), pair
