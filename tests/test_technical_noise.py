"""Tests of the single-cell technical-noise model."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from caasl_gym.simulators.technical_noise import (
    TECHNICAL_NOISE_PRESETS,
    TechnicalNoise,
    _dropout,
    _outlier_genes,
    apply_technical_noise,
    get_preset,
)


def _expression(rng: np.random.Generator, batch: int = 4, m: int = 100, d: int = 10) -> np.ndarray:
    return rng.uniform(0.5, 6.0, size=(batch, m, d))


def test_preset_values() -> None:
    as_tuple = {k: dataclasses.astuple(v) for k, v in TECHNICAL_NOISE_PRESETS.items()}
    assert as_tuple["10x-chromium-mini"] == (0.01, 3.0, 1.0, 6.0, 0.3, 8, 74)
    assert as_tuple["drop-seq"] == (0.01, 3.0, 1.0, 4.4, 0.8, 8, 85)
    assert as_tuple["10x-chromium"] == (0.01, 3.0, 1.0, 6.0, 0.4, 8, 82)
    assert as_tuple["illumina"] == (0.01, 0.8, 1.0, 7.0, 0.4, 8, 80)
    assert as_tuple["smart-seq"] == (0.01, 4.5, 1.0, 10.8, 0.55, 2, 92)


def test_unknown_preset_lists_valid_names() -> None:
    with pytest.raises(ValueError, match=r"10x-chromium-mini.*drop-seq"):
        get_preset("10x")
    with pytest.raises(ValueError, match="valid choices"):
        apply_technical_noise(np.random.default_rng(0), np.ones((1, 2, 3)), "nope")


def test_rejects_bad_input() -> None:
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match=r"\(B, m, d\)"):
        apply_technical_noise(rng, np.ones((2, 3)))
    with pytest.raises(ValueError, match="non-negative"):
        apply_technical_noise(rng, -np.ones((1, 2, 3)))
    with pytest.raises(ValueError, match="finite"):
        apply_technical_noise(rng, np.full((1, 2, 3), np.nan))


@pytest.mark.parametrize("preset", list(TECHNICAL_NOISE_PRESETS))
def test_counts_are_nonnegative_integers_and_zeros_stay_zero(preset: str) -> None:
    rng = np.random.default_rng(1)
    x = _expression(rng)
    x[:, :, 3] = 0.0  # e.g. a knocked-out gene
    x[1, 7] = 0.0  # an all-zero cell
    counts = apply_technical_noise(rng, x, preset)
    assert counts.shape == x.shape and counts.dtype == np.float64
    assert np.all(counts >= 0) and np.all(counts == np.round(counts))
    assert np.all(counts[:, :, 3] == 0) and np.all(counts[1, 7] == 0)


def test_deterministic_under_seed() -> None:
    x = _expression(np.random.default_rng(2))
    a = apply_technical_noise(np.random.default_rng(5), x)
    b = apply_technical_noise(np.random.default_rng(5), x)
    c = apply_technical_noise(np.random.default_rng(6), x)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_one_generator_per_model_equals_per_model_calls() -> None:
    x = _expression(np.random.default_rng(3), batch=5, m=40, d=7)
    x[:, :, 2] = 0.0
    got = apply_technical_noise([np.random.default_rng(50 + b) for b in range(5)], x, "smart-seq")
    want = np.concatenate(
        [apply_technical_noise(np.random.default_rng(50 + b), x[b : b + 1], "smart-seq") for b in range(5)]
    )
    np.testing.assert_array_equal(got, want)
    with pytest.raises(ValueError, match="one generator per model"):
        apply_technical_noise([np.random.default_rng(0)], x)


@pytest.mark.parametrize(("preset", "low", "high"), [("10x-chromium-mini", 0.66, 0.80), ("drop-seq", 0.78, 0.92)])
def test_zero_fraction_tracks_dropout_percentile(preset: str, low: float, high: float) -> None:
    x = _expression(np.random.default_rng(4), 8, 100, 10)
    counts = apply_technical_noise(np.random.default_rng(3), x, preset)
    assert low <= (counts == 0).mean() <= high


def test_dropout_percentile_is_per_model() -> None:
    rng = np.random.default_rng(7)
    x = _expression(rng, batch=2, m=200, d=10)
    x[1] *= 1e4  # a pooled percentile would drop (almost) all of model 0
    kept = _dropout(rng, x, TECHNICAL_NOISE_PRESETS["10x-chromium-mini"])
    zero = (kept == 0).reshape(2, -1).mean(axis=1)
    assert np.all(np.abs(zero - 0.74) < 0.08), zero


def test_library_size_sets_cell_totals() -> None:
    noise = TechnicalNoise(0.0, 0.0, 1.0, 6.0, 0.3, 50.0, 0.0)  # no outliers, (almost) no dropout
    x = _expression(np.random.default_rng(9), 4, 500, 10)
    counts = apply_technical_noise(np.random.default_rng(8), x, noise)
    log_total = np.log(counts.sum(axis=-1))
    assert abs(np.median(log_total) - 6.0) < 0.05
    assert abs(log_total.std() - 0.3) < 0.05


def test_outlier_genes_are_scaled_per_model() -> None:
    x = np.ones((3, 5, 4))
    noise = TechnicalNoise(1.0, 2.0, 1e-9, 6.0, 0.3, 8.0, 74.0)
    np.testing.assert_allclose(_outlier_genes(np.random.default_rng(0), x, noise), np.exp(2.0), rtol=1e-6)
    noise = TechnicalNoise(0.5, 2.0, 1.0, 6.0, 0.3, 8.0, 74.0)
    out = _outlier_genes(np.random.default_rng(0), np.ones((200, 5, 4)), noise)
    assert np.all(out == out[:, :1, :])  # one factor per gene and run, shared by its cells
    assert 0.4 < (out[:, 0, :] != 1.0).mean() < 0.6
