"""Technical noise of single-cell RNA sequencing, applied to clean SERGIO expression.

The model follows the SERGIO paper (Dibaeinia & Sinha 2020) as summarised in
``reference/avici_sergio.md`` §3. Every model ``b`` of a batch is one sequencing run; in this order:

1. **Outlier genes**: each gene is an outlier with probability ``outlier_prob``; an outlier gene's
   expression in every cell of the run is multiplied by one ``LogNormal(outlier_mean, outlier_scale)``
   factor.
2. **Library size**: each cell draws ``L ~ LogNormal(lib_size_mean, lib_size_scale)`` and its expression
   vector is rescaled to sum to ``L`` (all-zero cells stay zero).
3. **Dropout**: an entry is kept with probability ``sigmoid(dropout_shape * (log(1 + x) - m))`` where
   ``m`` is the ``dropout_percentile``-th percentile of ``log(1 + x)`` over all entries of the run.
4. **Poisson counts**: each entry becomes a Poisson draw with that mean.

An entry that is exactly zero before the noise (e.g. a knocked-out gene) stays exactly zero.

Randomness comes either from one generator for the whole batch or from one generator per model (see
:data:`RandomSource`); in the latter case model ``b``'s noise equals that of a batch of one drawn from
``rng[b]``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

RandomSource = np.random.Generator | Sequence[np.random.Generator]
"""One generator for all models of a batch, or a sequence of ``B`` generators, one per model."""


def check_random_source(rng: RandomSource, batch: int) -> None:
    """Check ``rng`` is one generator or exactly ``batch`` of them (``TypeError`` / ``ValueError`` if not)."""
    if isinstance(rng, np.random.Generator):
        return
    if not all(isinstance(g, np.random.Generator) for g in rng):
        raise TypeError("rng must be a numpy Generator or a sequence of Generators")
    if len(rng) != batch:
        raise ValueError(f"need one generator per model: got {len(rng)} for B={batch}")


def draw(rng: RandomSource, method: str, *args: object, size: tuple[int, ...] | None = None) -> np.ndarray:
    """``rng.method(*args, size=size)`` with a leading batch axis ``B``, from one or ``B`` generators.

    With one generator this is exactly that call. With a sequence ``rng`` of ``B`` generators it is the
    concatenation over ``b`` of ``rng[b].method(*args_b, size=(1, *size[1:]))``, where ``args_b`` takes
    row ``b:b+1`` of every array argument (distribution parameters must then carry the batch axis or
    be scalars), i.e. what a batch of one would draw from ``rng[b]``.
    """
    if isinstance(rng, np.random.Generator):
        return getattr(rng, method)(*args) if size is None else getattr(rng, method)(*args, size=size)
    parts = []
    for b, g in enumerate(rng):
        args_b = [a[b : b + 1] if isinstance(a, np.ndarray) else a for a in args]
        fn = getattr(g, method)
        parts.append(fn(*args_b) if size is None else fn(*args_b, size=(1, *size[1:])))
    return np.concatenate(parts)


@dataclass(frozen=True)
class TechnicalNoise:
    """Hyperparameters of the technical-noise model (see the module docstring for their roles)."""

    outlier_prob: float
    outlier_mean: float
    outlier_scale: float
    lib_size_mean: float
    lib_size_scale: float
    dropout_shape: float
    dropout_percentile: float


TECHNICAL_NOISE_PRESETS: dict[str, TechnicalNoise] = {
    # CAASL's training setting (avici's 10x-chromium with the first entry of every list).
    "10x-chromium-mini": TechnicalNoise(0.01, 3.0, 1.0, 6.0, 0.3, 8.0, 74.0),
    # The SERGIO supplement lists several values per field for 10x Chromium; avici draws each field
    # independently from {3,3,5} / {6,6,4.5} / {0.3,0.4,0.7} / {74,82,45}. We fix the second entry of
    # every list (outlier mean 3.0, library 6.0/0.4, percentile 82) so this preset differs from the
    # "mini" one; it is the "10x percentile 82" row of the reference measurements.
    "10x-chromium": TechnicalNoise(0.01, 3.0, 1.0, 6.0, 0.4, 8.0, 82.0),
    # CAASL's out-of-distribution noise test.
    "drop-seq": TechnicalNoise(0.01, 3.0, 1.0, 4.4, 0.8, 8.0, 85.0),
    "illumina": TechnicalNoise(0.01, 0.8, 1.0, 7.0, 0.4, 8.0, 80.0),
    "smart-seq": TechnicalNoise(0.01, 4.5, 1.0, 10.8, 0.55, 2.0, 92.0),
}
"""Named technical-noise settings (SERGIO supplement via avici/CAASL's ``noise_config.yaml``)."""


def get_preset(preset: str | TechnicalNoise) -> TechnicalNoise:
    """Resolve a preset name (a key of :data:`TECHNICAL_NOISE_PRESETS`) or pass a dataclass through."""
    if isinstance(preset, TechnicalNoise):
        return preset
    try:
        return TECHNICAL_NOISE_PRESETS[preset]
    except (KeyError, TypeError):
        valid = ", ".join(TECHNICAL_NOISE_PRESETS)
        raise ValueError(f"unknown technical noise preset {preset!r}; valid choices: {valid}") from None


def _outlier_genes(rng: RandomSource, x: np.ndarray, noise: TechnicalNoise) -> np.ndarray:
    """Multiply outlier genes of each run by a log-normal factor. ``x``: ``(B, m, d)`` -> ``(B, m, d)``."""
    batch, _, d = x.shape
    is_outlier = draw(rng, "random", size=(batch, d)) < noise.outlier_prob
    factor = draw(rng, "lognormal", noise.outlier_mean, noise.outlier_scale, size=(batch, d))
    return x * np.where(is_outlier, factor, 1.0)[:, None, :]


def _library_size(rng: RandomSource, x: np.ndarray, noise: TechnicalNoise) -> np.ndarray:
    """Rescale every cell to a log-normal library size. ``x``: ``(B, m, d)`` -> ``(B, m, d)``."""
    batch, m, _ = x.shape
    lib = draw(rng, "lognormal", noise.lib_size_mean, noise.lib_size_scale, size=(batch, m, 1))
    total = x.sum(axis=-1, keepdims=True)
    scale = np.divide(lib, total, out=np.zeros_like(total), where=total > 0)
    return x * scale


def _dropout(rng: RandomSource, x: np.ndarray, noise: TechnicalNoise) -> np.ndarray:
    """Drop entries with a logistic probability around each run's percentile. ``(B, m, d)``."""
    batch = x.shape[0]
    logx = np.log1p(x)
    mid = np.percentile(logx.reshape(batch, -1), noise.dropout_percentile, axis=1)  # (B,)
    z = noise.dropout_shape * (logx - mid[:, None, None])
    keep_prob = 0.5 * (1.0 + np.tanh(0.5 * z))  # = sigmoid(z), without overflow warnings
    return np.where(draw(rng, "random", size=x.shape) < keep_prob, x, 0.0)


def apply_technical_noise(
    rng: RandomSource, expression: np.ndarray, preset: str | TechnicalNoise = "10x-chromium-mini"
) -> np.ndarray:
    """Turn clean expression into UMI-like counts; each model of the batch is one run.

    Args:
        rng: the only source of randomness: one generator, or a sequence of ``B`` generators where
            model ``b`` draws from ``rng[b]`` only, exactly as a batch of one would.
        expression: ``(B, m, d)`` non-negative clean expression (``m`` cells of model ``b``'s run).
        preset: a name from :data:`TECHNICAL_NOISE_PRESETS` or a :class:`TechnicalNoise`.

    Returns:
        ``(B, m, d)`` float64 non-negative integer counts.

    Raises:
        ValueError: unknown preset name, wrong rank, negative / non-finite expression, or a number of
            generators other than ``B``.
    """
    noise = get_preset(preset)
    x = np.asarray(expression, dtype=np.float64)
    if x.ndim != 3:
        raise ValueError(f"expression must have shape (B, m, d), got {x.shape}")
    if not np.all(np.isfinite(x)) or np.any(x < 0):
        raise ValueError("expression must be finite and non-negative")
    check_random_source(rng, x.shape[0])
    x = _outlier_genes(rng, x, noise)
    x = _library_size(rng, x, noise)
    x = _dropout(rng, x, noise)
    return draw(rng, "poisson", x).astype(np.float64)
