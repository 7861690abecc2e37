"""The history statistics the pair encoder reads: their values against plain numpy, and their invariances."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from caasl_gym.envs import CausalLinearConfig
from caasl_gym.reward.data import simulate_histories
from caasl_gym.reward.inputs import encode_histories
from caasl_gym.reward.statistics import NODE_FEATURES, PAIR_FEATURES, encoded_statistics, history_statistics


def _stats(values, intervened, mask=None):
    m = None if mask is None else torch.from_numpy(mask)
    node, pair = history_statistics(torch.from_numpy(values), torch.from_numpy(intervened), m)
    return node.numpy(), pair.numpy()


def _histories(seed=0, batch=3, d=5, n_obs=30, n_int=12):
    return simulate_histories(np.random.default_rng(seed), CausalLinearConfig(), batch, d, n_obs, n_int)


def test_values_match_numpy_on_one_history():
    h = _histories(batch=1, d=4, n_obs=200, n_int=60)
    x, iv = h.values[0], h.intervened[0]
    node, pair = _stats(h.values, h.intervened)
    assert node.shape == (1, 4, NODE_FEATURES) and pair.shape == (1, 4, 4, PAIR_FEATURES)
    # every variable z-scored with the moments of its own non-target rows
    mean = np.array([x[~iv[:, k], k].mean() for k in range(4)])
    std = np.array([x[~iv[:, k], k].std() for k in range(4)])
    z = (x - mean) / std
    for j in range(4):
        rows = ~iv[:, j]
        np.testing.assert_allclose(node[0, j, 0], np.log(std[j]), rtol=1e-5)
        others = [i for i in range(4) if i != j]
        gram = z[rows].T @ z[rows] / rows.sum()  # second moments over j's rows
        corr = gram[others, j] / np.sqrt(gram[others, others] * gram[j, j])
        beta = np.linalg.solve(gram[np.ix_(others, others)] + 1e-2 * np.eye(3), gram[others, j])
        precision = np.linalg.inv(gram + 1e-2 * np.eye(4))
        partial = -precision[others, j] / np.sqrt(precision[others, others] * precision[j, j])
        np.testing.assert_allclose(pair[0, others, j, 0], corr, rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(pair[0, others, j, 1], beta, rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(pair[0, others, j, 2], partial, rtol=1e-4, atol=1e-6)
        residual = gram[j, j] - beta @ gram[others, j]
        np.testing.assert_allclose(node[0, j, 1], np.log(residual), rtol=1e-4)
        np.testing.assert_allclose(node[0, j, 2], np.log1p(iv[:, j].sum()), rtol=1e-6)
        for i in others:  # over the rows where i is a target and j is not: slope and mean of z_j, count
            both = iv[:, i] & ~iv[:, j]
            zi, zj = z[both, i], z[both, j]
            np.testing.assert_allclose(pair[0, i, j, 3], (zi * zj).sum() / ((zi * zi).sum() + 1), rtol=1e-4, atol=1e-6)
            np.testing.assert_allclose(pair[0, i, j, 4], zj.sum() / (both.sum() + 1), rtol=1e-4, atol=1e-6)
            np.testing.assert_allclose(pair[0, i, j, 5], np.log1p(both.sum()), rtol=1e-6)
    assert np.all(pair[0, np.arange(4), np.arange(4)] == 0)


def test_equivariant_invariant_and_finite():
    h = _histories()
    node, pair = _stats(h.values, h.intervened)
    perm = np.random.default_rng(1).permutation(5)
    n2, p2 = _stats(h.values[:, :, perm], h.intervened[:, :, perm])
    np.testing.assert_allclose(n2, node[:, perm], atol=1e-5)
    np.testing.assert_allclose(p2, pair[:, perm][:, :, perm], atol=1e-5)
    rows = np.random.default_rng(2).permutation(42)
    n3, p3 = _stats(h.values[:, rows], h.intervened[:, rows])
    np.testing.assert_allclose(n3, node, atol=1e-5)
    np.testing.assert_allclose(p3, pair, atol=1e-5)
    scaled = h.values * np.array([1.0, 3.0, 0.5, 2.0, 10.0]) + 7.0  # only the log-std moves
    n4, p4 = _stats(scaled, h.intervened)
    np.testing.assert_allclose(p4, pair, atol=1e-4)
    np.testing.assert_allclose(n4[..., 1:], node[..., 1:], atol=1e-4)
    # a constant variable and a variable that is a target in every row stay finite
    values, intervened = h.values.copy(), h.intervened.copy()
    values[:, :, 0] = 2.0
    intervened[:, :, 1] = True
    n5, p5 = _stats(values, intervened)
    assert np.isfinite(n5).all() and np.isfinite(p5).all()


def test_padding_rows_are_ignored():
    h = _histories()
    node, pair = _stats(h.values, h.intervened)
    values = np.concatenate([h.values, np.full((3, 4, 5), 1e6)], axis=1)
    intervened = np.concatenate([h.intervened, np.ones((3, 4, 5), bool)], axis=1)
    mask = np.arange(46)[None].repeat(3, 0) < 42
    n2, p2 = _stats(values, intervened, mask)
    np.testing.assert_allclose(n2, node, atol=1e-5)
    np.testing.assert_allclose(p2, pair, atol=1e-5)


def test_encoded_statistics_equal_raw_ones():
    """The network computes them from its encoded input (z-scores plus the log-std channel)."""
    h = _histories()
    node, pair = _stats(h.values, h.intervened)
    x = torch.from_numpy(encode_histories(h.values, h.intervened, None, "linear", scale_channel=True))
    n2, p2 = encoded_statistics(x)
    np.testing.assert_allclose(n2.numpy(), node, atol=1e-4)
    np.testing.assert_allclose(p2.numpy(), pair, atol=1e-4)
    with pytest.raises(ValueError, match="needs the scale channel"):
        encoded_statistics(x[..., :2])
