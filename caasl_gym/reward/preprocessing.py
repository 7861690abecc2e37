"""The history transforms: per-model normalisation of the inputs of the reward model and of the policies.

Each takes histories ``(B, n, d)`` with a row mask ``(B, n)`` (True = valid row): statistics use valid rows
only, padding rows come out as 0 and never influence valid rows (even if they hold NaN or inf). The reward
model's transforms (AVICI's conventions) run on numpy in float64, the policies' :func:`preprocess_history`
on torch inside the network; all use :func:`masked_moments`. In the reward model a constant column (a
variable clamped in every row, an all-zero gene, one row) is one rule, :data:`CONSTANT_RTOL`; the policies
keep their own floor (``std_floor`` of :func:`preprocess_history`, which says why).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch

CONSTANT_RTOL = 1e-12
"""A standard deviation of at most ``CONSTANT_RTOL * (1 + |mean|)`` is a constant column (float64)."""
ValueTransform = Literal["standardize", "log1p_standardize", "none"]
VALUE_TRANSFORMS: tuple[str, ...] = ("standardize", "log1p_standardize", "none")


def masked_moments(x, valid, axis: int | tuple[int, ...]):
    """Mean and population variance of ``x`` over its ``valid`` entries along ``axis`` (kept as size-1 axes).

    Works on numpy arrays and on torch tensors; ``valid`` (bool) broadcasts against ``x``. A slice
    without valid entries gets mean 0 and variance 0.
    """
    where = torch.where if isinstance(x, torch.Tensor) else np.where
    count = valid.sum(axis=axis, keepdims=True).clip(min=1)
    xv = where(valid, x, 0.0)
    mean = xv.sum(axis=axis, keepdims=True) / count
    var = (where(valid, xv - mean, 0.0) ** 2).sum(axis=axis, keepdims=True) / count
    return mean, var


def _unit_if_constant(mean: np.ndarray, var: np.ndarray) -> np.ndarray:
    """``var`` with the constant slices (see :data:`CONSTANT_RTOL`) set to 1."""
    return np.where(np.sqrt(var) <= CONSTANT_RTOL * (1.0 + np.abs(mean)), 1.0, var)


def _row_mask(values: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    """``(B, n, 1)`` bool validity of rows."""
    if values.ndim != 3:
        raise ValueError(f"values must have shape (B, n, d), got {values.shape}")
    if mask is None:
        return np.ones((*values.shape[:2], 1), dtype=bool)
    mask = np.asarray(mask, dtype=bool)
    if mask.shape != values.shape[:2]:
        raise ValueError(f"mask must have shape (B, n) = {values.shape[:2]}, got {mask.shape}")
    return mask[:, :, None]


def standardize(values: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Z-score every variable of every model over its valid rows (the linear domain).

    Args:
        values: ``(B, n, d)`` real values.
        mask: ``(B, n)`` bool, True for valid rows; None means all rows are valid.

    Returns:
        ``(B, n, d)`` float32; valid rows have mean 0 and std 1 per variable (a constant variable maps
        to 0), padding rows are 0.
    """
    x = np.asarray(values, dtype=np.float64)
    valid = _row_mask(x, mask)
    mean, var = masked_moments(x, valid, axis=1)
    std = np.sqrt(_unit_if_constant(mean, var))
    return np.where(valid, (np.where(valid, x, 0.0) - mean) / std, 0.0).astype(np.float32)


def preprocess_counts(counts: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """AVICI's count preprocessing, per model.

    For every cell, the non-zero entries become ``log2(x * 1e6 / cell_total)`` (log CPM); then the
    minimum is subtracted and the result divided by the standard deviation, both taken over all
    non-zero entries of valid rows of that model's dataset. Zero counts, all-zero cells and padding
    rows map to 0, so a zero and the smallest non-zero value of a dataset coincide (as in AVICI).

    Args:
        counts: ``(B, n, d)`` non-negative finite counts (entries ``<= 0`` or NaN count as zeros; padding
            rows may hold anything).
        mask: ``(B, n)`` bool, True for valid rows; None means all rows are valid.

    Returns:
        ``(B, n, d)`` float32, finite, non-negative.
    """
    x = np.asarray(counts, dtype=np.float64)
    row_valid = _row_mask(x, mask)
    x = np.where(row_valid, x, 0.0)
    nonzero = row_valid & (x > 0)  # x > 0 is False for NaN, so NaN counts also count as zero
    total = np.where(nonzero, x, 0.0).sum(axis=-1, keepdims=True)
    safe_total = np.where(total > 0, total, 1.0)
    logcpm = np.log2(np.where(nonzero, x, 1.0) * (1e6 / safe_total))  # finite everywhere
    big = np.finfo(np.float64).max
    low = np.where(nonzero, logcpm, big).min(axis=(1, 2), keepdims=True)
    low = np.where(low < big, low, 0.0)
    mean, var = masked_moments(logcpm, nonzero, axis=(1, 2))
    return np.where(nonzero, (logcpm - low) / np.sqrt(_unit_if_constant(mean, var)), 0.0).astype(np.float32)


def log_scale(values: np.ndarray, intervened: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    """``(B, d)`` log std of each variable of ``values`` ``(B, n, d)`` over the valid rows where it is not a target.

    The scale the z-scoring removes: in the linear prior roots have variance about 0.11 and every other
    variable about 1, so it carries information about the graph. A variable with fewer than two such
    rows, or a constant one, gets 0 (the log-std of a unit-variance variable).
    """
    use = ~intervened if mask is None else (~intervened & mask[:, :, None])  # (B, n, d)
    mean, var = masked_moments(values, use, axis=1)
    return 0.5 * np.log(_unit_if_constant(mean, var))[:, 0]


def preprocess_history(
    observations: torch.Tensor, value_transform: ValueTransform = "standardize", *, std_floor: float = 1e-2
) -> tuple[torch.Tensor, torch.Tensor]:
    """Turn a padded history into the policies' scale-free per-cell inputs and a row mask.

    Channel 0 is made scale-free per variable over the *filled* rows only, so the result does not
    depend on the padding or on the order of rows:

    * ``"standardize"``: ``(x - mean_j) / max(std_j, std_floor)`` (real-valued data, e.g. linear SCMs);
    * ``"log1p_standardize"``: ``log1p(max(x, 0))``, then standardised (counts, e.g. SERGIO: large,
      sparse, heavy-tailed);
    * ``"none"``: raw values.

    A constant variable (e.g. an all-zero gene) maps to (nearly) zero. Padding cells are set to zero
    whatever they contain (NaN included).

    :param observations: ``(B, N, d, 3)`` history (channels: value, intervened, filled)
    :param value_transform: one of :data:`VALUE_TRANSFORMS`
    :param std_floor: standard deviations below it count as it. Not the reward model's :data:`CONSTANT_RTOL`:
        the shipped policies were trained with this floor, which bounds near-constant columns (a history of a
        few rows) at ``|x - mean| / std_floor``; and in float32 the mean of a constant column is off by a
        relative 1e-7, which that rule would not take for rounding and would blow up to ``±1``.
    :return: inputs ``(B, N, d, 2)`` (transformed value, intervention indicator) and the row mask
        ``(B, N)`` (True for filled rows)
    """
    if value_transform not in VALUE_TRANSFORMS:
        raise ValueError(f"value_transform must be one of {VALUE_TRANSFORMS}, got {value_transform!r}")
    values, intervened, filled = observations.float().unbind(-1)  # 3 × (B, N, d)
    row_mask = filled.amax(dim=-1) > 0.5  # (B, N)
    cell_mask = row_mask.unsqueeze(-1)  # (B, N, 1)
    values = torch.where(cell_mask, values, 0.0)
    if value_transform == "log1p_standardize":
        values = torch.log1p(values.clamp_min(0.0))
    if value_transform != "none":
        mean, var = masked_moments(values, cell_mask, axis=1)  # (B, 1, d)
        values = torch.where(cell_mask, (values - mean) / var.sqrt().clamp_min(std_floor), 0.0)
    intervened = torch.where(cell_mask, intervened, 0.0)
    return torch.stack([values, intervened], dim=-1), row_mask
