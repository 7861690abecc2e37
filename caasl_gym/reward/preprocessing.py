"""Per-model input normalisation for the reward model (AVICI's conventions, batched).

Both functions take a batch of datasets ``(B, n, d)`` with an optional row mask ``(B, n)`` (True =
valid row, False = padding). Statistics use valid rows only, padding rows come out as 0 and never
influence valid rows (even if they hold NaN or inf).
"""

from __future__ import annotations

import numpy as np


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


def _masked_mean_std(x: np.ndarray, valid: np.ndarray, axis: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Mean and population std of ``x`` over ``valid`` entries along ``axis`` (keepdims).

    A slice without valid entries gets mean 0; a std of 0 (up to rounding, or no entries) becomes 1.
    """
    count = valid.sum(axis=axis, keepdims=True)
    denom = np.maximum(count, 1)
    xv = np.where(valid, x, 0.0)
    mean = xv.sum(axis=axis, keepdims=True) / denom
    var = (np.where(valid, xv - mean, 0.0) ** 2).sum(axis=axis, keepdims=True) / denom
    std = np.sqrt(var)
    constant = std <= 1e-12 * (1.0 + np.abs(mean))  # zero up to rounding of the mean
    return mean, np.where(constant, 1.0, std)


def standardize(values: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Z-score every variable of every model over its valid rows (the linear domain).

    Args:
        values: ``(B, n, d)`` real values.
        mask: ``(B, n)`` bool, True for valid rows; None means all rows are valid.

    Returns:
        ``(B, n, d)`` float32; valid rows have mean 0 and std 1 per variable (std 0 is treated as 1),
        padding rows are 0.
    """
    x = np.asarray(values, dtype=np.float64)
    valid = np.broadcast_to(_row_mask(x, mask), x.shape)
    mean, std = _masked_mean_std(x, valid, axis=(1,))
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
    _, std = _masked_mean_std(logcpm, nonzero, axis=(1, 2))
    return np.where(nonzero, (logcpm - low) / std, 0.0).astype(np.float32)
