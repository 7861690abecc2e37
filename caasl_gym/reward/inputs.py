"""Validation and encoding of histories into the network's input ``(B, n, d, C)``.

Training and inference share this path, so the network always sees data preprocessed the same way:
``linear`` values are z-scored per variable, ``sergio`` counts get AVICI's log-CPM preprocessing
(:mod:`caasl_gym.reward.preprocessing`); statistics use valid rows only and padding rows become 0.
"""

from __future__ import annotations

import numpy as np

from caasl_gym.reward.model import DOMAINS
from caasl_gym.reward.preprocessing import log_scale, preprocess_counts, standardize


def check_histories(
    values: np.ndarray, intervened: np.ndarray, mask: np.ndarray | None = None, *, domain: str = "linear"
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Validate a batch of histories and return them as ``(float64, bool, bool or None)`` arrays.

    Args:
        values: ``(B, n, d)`` real values (linear) or non-negative counts (SERGIO).
        intervened: ``(B, n, d)`` bool, or numbers that are all 0 or 1.
        mask: optional ``(B, n)`` bool, True for valid rows; every history needs a valid row.
        domain: ``"linear"`` or ``"sergio"``.

    Returns:
        ``(values, intervened, mask)``; ``values`` has its padding rows set to 0.

    Raises:
        ValueError: wrong ranks or shapes, ``d < 2``, no valid row, non-finite or (SERGIO) negative
            values in valid rows, or indicators other than 0/1.
    """
    if domain not in DOMAINS:
        raise ValueError(f"unknown domain {domain!r}; valid choices: {', '.join(DOMAINS)}")
    x = np.asarray(values)
    if x.ndim != 3:
        raise ValueError(f"values must have shape (B, n, d), got shape {x.shape}")
    if not (np.issubdtype(x.dtype, np.number) or x.dtype == bool):
        raise ValueError(f"values must be numeric, got dtype {x.dtype}")
    x = x.astype(np.float64)
    b, n, d = x.shape
    if b < 1 or n < 1 or d < 2:
        raise ValueError(f"values must have B >= 1, n >= 1 and d >= 2, got shape {x.shape}")
    iv = np.asarray(intervened)
    if iv.shape != x.shape:
        raise ValueError(f"intervened must have the shape of values {x.shape}, got {iv.shape}")
    if iv.dtype != bool:
        if not np.issubdtype(iv.dtype, np.number) or not np.isin(iv, (0, 1)).all():
            raise ValueError("intervened must be bool or contain only 0 and 1")
        iv = iv != 0
    if mask is not None:
        m = np.asarray(mask)
        if m.shape != (b, n):
            raise ValueError(f"mask must have shape (B, n) = {(b, n)}, got {m.shape}")
        if m.dtype != bool:
            if not np.issubdtype(m.dtype, np.number) or not np.isin(m, (0, 1)).all():
                raise ValueError("mask must be bool or contain only 0 and 1")
            m = m != 0
        if not m.any(axis=1).all():
            raise ValueError(
                f"every history needs at least one valid row; histories without: "
                f"{np.flatnonzero(~m.any(axis=1)).tolist()}"
            )
        x = np.where(m[:, :, None], x, 0.0)
        iv = iv & m[:, :, None]
        mask = m
    if not np.isfinite(x).all():
        raise ValueError("values must be finite (found NaN or inf in a valid row)")
    if domain == "sergio" and (x < 0).any():
        raise ValueError("sergio counts must be non-negative")
    return x, iv, mask


def encode_histories(
    values: np.ndarray, intervened: np.ndarray, mask: np.ndarray | None, domain: str, scale_channel: bool = False
) -> np.ndarray:
    """The network input of already validated histories (see :func:`check_histories`).

    Args:
        values: ``(B, n, d)`` float.
        intervened: ``(B, n, d)`` bool.
        mask: ``(B, n)`` bool or None.
        domain: ``"linear"`` (z-score) or ``"sergio"`` (log-CPM count preprocessing).
        scale_channel: add channel 2, :func:`log_scale` of the raw values repeated on every valid row.

    Returns:
        ``(B, n, d, C)`` float32 with ``C = 3`` if ``scale_channel`` else 2: preprocessed value,
        intervention indicator (and log-std); every channel is 0 in padding rows.
    """
    prep = standardize if domain == "linear" else preprocess_counts
    out = np.zeros((*values.shape, 3 if scale_channel else 2), dtype=np.float32)
    out[..., 0] = prep(values, mask)
    out[..., 1] = intervened
    if scale_channel:
        valid = np.ones(values.shape[:2], dtype=bool) if mask is None else mask
        out[..., 2] = np.where(valid[:, :, None], log_scale(values, intervened, mask)[:, None, :], 0.0)
    return out
