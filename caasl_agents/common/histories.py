"""Observations handed to a designer's ``predict``: one history or a batch of them."""

from __future__ import annotations

import numpy as np


def history_batch(observation: np.ndarray) -> tuple[np.ndarray, bool]:
    """``observation`` as a float32 batch ``(B, N, d, 3)``, and whether it was one history ``(N, d, 3)``.

    Raises:
        ValueError: any other shape.
    """
    obs = np.asarray(observation, dtype=np.float32)
    single = obs.ndim == 3
    if single:
        obs = obs[None]
    if obs.ndim != 4 or obs.shape[-1] != 3:
        raise ValueError(f"expected an observation of shape (N, d, 3) or (B, N, d, 3), got {obs.shape}")
    return obs, single
