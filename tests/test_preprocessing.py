"""Tests of the history transforms (standardisation, AVICI count preprocessing, the shared moments)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from caasl_gym.reward.preprocessing import log_scale, masked_moments, preprocess_counts, standardize


def _reference_counts(x: np.ndarray) -> np.ndarray:
    """AVICI's recipe for one dataset ``(n, d)``, written with NaNs as in its description."""
    x = x.astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        total = x.sum(axis=1, keepdims=True)
        logcpm = np.where(x > 0, np.log2(x * 1e6 / total), np.nan)
    if np.all(np.isnan(logcpm)):
        return np.zeros_like(x)
    std = np.nanstd(logcpm)
    out = (logcpm - np.nanmin(logcpm)) / (std if std > 0 else 1.0)
    return np.nan_to_num(out, nan=0.0)


def _counts(rng: np.random.Generator, batch: int = 3, n: int = 40, d: int = 6) -> np.ndarray:
    x = rng.poisson(rng.lognormal(1.0, 1.5, size=(batch, n, d))).astype(np.float64)
    x[:, 0] = 0.0  # an all-zero cell in every model
    return x


@pytest.fixture(autouse=True)
def _warnings_are_errors():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


def test_standardize_zscores_valid_rows_per_model_and_variable() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(3.0, 5.0, size=(4, 30, 5)) * rng.uniform(0.1, 10, size=(4, 1, 5))
    mask = np.ones((4, 30), dtype=bool)
    mask[1, 20:] = False
    out = standardize(x, mask)
    assert out.shape == x.shape and out.dtype == np.float32
    for b in range(4):
        valid = out[b, mask[b]]
        np.testing.assert_allclose(valid.mean(axis=0), 0.0, atol=1e-5)
        np.testing.assert_allclose(valid.std(axis=0), 1.0, atol=1e-5)
        expected = (x[b, mask[b]] - x[b, mask[b]].mean(0)) / x[b, mask[b]].std(0)
        np.testing.assert_allclose(valid, expected, rtol=1e-5, atol=1e-5)
    assert np.all(out[1, 20:] == 0)


def test_standardize_padding_never_influences_valid_rows() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2, 10, 3))
    mask = np.zeros((2, 10), dtype=bool)
    mask[:, :6] = True
    base = standardize(x, mask)
    x_bad = x.copy()
    x_bad[:, 6:] = np.array([np.nan, np.inf, -np.inf])
    np.testing.assert_array_equal(standardize(x_bad, mask), base)
    np.testing.assert_array_equal(base[:, :6], standardize(x[:, :6]))


def test_standardize_constant_columns_and_empty_models() -> None:
    x = np.full((2, 5, 3), 0.1)
    x[0, :, 1] = np.arange(5)
    x[0, :, 2] = np.arange(5) * 1e-9  # tiny but not constant
    mask = np.ones((2, 5), dtype=bool)
    mask[1] = False
    out = standardize(x, mask)
    assert np.all(np.isfinite(out))
    assert np.all(out[0, :, 0] == 0) and np.all(out[1] == 0)
    assert out[0, :, 1].std() == pytest.approx(1.0, abs=1e-6) and out[0, :, 2].std() == pytest.approx(1.0, abs=1e-6)
    # the log-std channel follows the same constant rule
    expected = np.log([1.0, x[0, :, 1].std(), x[0, :, 2].std()])
    np.testing.assert_allclose(log_scale(x, np.zeros(x.shape, bool), mask)[0], expected, rtol=1e-12)
    with pytest.raises(ValueError, match="mask"):
        standardize(x, np.ones((2, 4), dtype=bool))


def test_masked_moments_agree_on_numpy_and_torch() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 8, 4))
    valid = rng.random((3, 8, 1)) > 0.3
    valid[2] = False
    mean, var = masked_moments(x, valid, axis=1)
    mean_t, var_t = masked_moments(torch.as_tensor(x), torch.as_tensor(valid), axis=1)
    np.testing.assert_allclose(mean_t.numpy(), mean, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(var_t.numpy(), var, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(var[0, 0], x[0][valid[0, :, 0]].var(axis=0), rtol=1e-12)
    assert (mean[2] == 0).all() and (var[2] == 0).all()  # no valid entry


def test_preprocess_counts_matches_reference_recipe() -> None:
    x = _counts(np.random.default_rng(2))
    out = preprocess_counts(x)
    assert out.shape == x.shape and out.dtype == np.float32
    for b in range(x.shape[0]):
        np.testing.assert_allclose(out[b], _reference_counts(x[b]), rtol=1e-5, atol=1e-6)
    assert np.all(out[x == 0] == 0) and np.all(out >= 0)
    assert np.all(out[:, 0] == 0)  # all-zero cells


def test_preprocess_counts_is_per_model() -> None:
    x = _counts(np.random.default_rng(3))
    out = preprocess_counts(x)
    for b in range(x.shape[0]):
        np.testing.assert_allclose(preprocess_counts(x[b : b + 1])[0], out[b], rtol=1e-6)


def test_preprocess_counts_all_zero_dataset_and_single_value() -> None:
    x = np.zeros((3, 8, 4))
    x[1, 2, 3] = 5.0  # a single non-zero entry: min and std degenerate
    x[2, :, 0] = 7.0  # a constant log-CPM
    x[2, :, 1] = 7.0
    out = preprocess_counts(x)
    assert np.all(np.isfinite(out)) and np.all(out == 0)


def test_preprocess_counts_padding_never_influences_valid_rows() -> None:
    x = _counts(np.random.default_rng(4), batch=2, n=20, d=5)
    mask = np.ones((2, 20), dtype=bool)
    mask[:, 12:] = False
    base = preprocess_counts(x, mask)
    x_bad = x.copy()
    x_bad[:, 12:] = 1e9
    x_bad[:, 15] = np.nan
    out = preprocess_counts(x_bad, mask)
    np.testing.assert_array_equal(out, base)
    assert np.all(out[:, 12:] == 0)
    np.testing.assert_allclose(base[:, :12], preprocess_counts(x[:, :12]), rtol=1e-6)


def test_preprocess_counts_is_invariant_to_library_size() -> None:
    x = _counts(np.random.default_rng(5))
    scaled = x * np.arange(1, x.shape[1] + 1)[None, :, None]  # CPM removes per-cell depth
    np.testing.assert_allclose(preprocess_counts(scaled), preprocess_counts(x), rtol=1e-5, atol=1e-5)
