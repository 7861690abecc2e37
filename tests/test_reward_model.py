"""The reward model's network and inference wrapper: shapes, invariances, masking and input checks."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from caasl_gym.envs import CausalLinearConfig, SergioKnockoutConfig
from caasl_gym.reward.data import simulate_histories
from caasl_gym.reward.loading import RewardModel
from caasl_gym.reward.model import EdgePosteriorNet, ModelConfig, edge_bce, mask_diagonal

ENCODERS = ["rows", "statistics"]


def _model(domain: str = "linear", seed: int = 0, encoder: str = "rows") -> RewardModel:
    torch.manual_seed(seed)
    stats = encoder == "statistics"
    net = EdgePosteriorNet(ModelConfig(domain=domain, dim=16, layers=2, heads=2, scale_channel=stats, encoder=encoder))
    if not stats:
        with torch.no_grad():  # spread the logits so that equalities are not trivially met by saturation
            net.log_temperature.fill_(1.0)
            net.bias.fill_(0.0)
    return RewardModel(net)


def _histories(seed: int = 0, batch: int = 3, d: int = 6, n_obs: int = 20, n_int: int = 5):
    return simulate_histories(np.random.default_rng(seed), CausalLinearConfig(), batch, d, n_obs, n_int)


@pytest.mark.parametrize("encoder", ENCODERS)
def test_shape_range_and_zero_diagonal(encoder):
    h = _histories()
    p = _model(encoder=encoder).edge_probabilities(h.values, h.intervened)
    assert p.shape == (3, 6, 6) and p.dtype == np.float64
    assert np.all((p >= 0) & (p <= 1))
    assert np.all(p[:, np.arange(6), np.arange(6)] == 0.0)
    off = p[:, ~np.eye(6, dtype=bool)]
    assert np.all((off > 0) & (off < 1)) and off.std() > 1e-3


@pytest.mark.parametrize("encoder", ENCODERS)
def test_deterministic_and_batch_independent(encoder):
    h = _histories()
    model = _model(encoder=encoder)
    a = model.edge_probabilities(h.values, h.intervened)
    b = model.edge_probabilities(h.values, h.intervened)
    np.testing.assert_array_equal(a, b)
    single = model.edge_probabilities(h.values[1:2], h.intervened[1:2])
    np.testing.assert_allclose(single[0], a[1], atol=1e-6)


@pytest.mark.parametrize("encoder", ENCODERS)
def test_permuting_variables_permutes_output(encoder):
    h = _histories()
    model = _model(encoder=encoder)
    perm = np.random.default_rng(1).permutation(6)
    p = model.edge_probabilities(h.values, h.intervened)
    q = model.edge_probabilities(h.values[:, :, perm], h.intervened[:, :, perm])
    np.testing.assert_allclose(q, p[:, perm][:, :, perm], atol=1e-5)


@pytest.mark.parametrize("encoder", ENCODERS)
def test_permuting_rows_leaves_output_unchanged(encoder):
    h = _histories()
    model = _model(encoder=encoder)
    perm = np.random.default_rng(2).permutation(25)
    p = model.edge_probabilities(h.values, h.intervened)
    q = model.edge_probabilities(h.values[:, perm], h.intervened[:, perm])
    np.testing.assert_allclose(q, p, atol=1e-5)


@pytest.mark.parametrize(("domain", "encoder"), [("linear", "rows"), ("sergio", "rows"), ("linear", "statistics")])
def test_padding_rows_never_change_output(domain, encoder):
    rng = np.random.default_rng(3)
    if domain == "linear":
        h = _histories()
    else:
        h = simulate_histories(rng, SergioKnockoutConfig(), 3, 6, 20, 3)
    model = _model(domain, encoder=encoder)
    p = model.edge_probabilities(h.values, h.intervened)
    # interleave padding rows holding garbage (and a NaN) at different places per history
    b, n, d = h.values.shape
    extra = 7
    total = n + extra
    values = rng.normal(size=(b, total, d)) * 1e3
    values[0, 0, 0] = np.nan
    intervened = rng.random((b, total, d)) < 0.5
    mask = np.zeros((b, total), dtype=bool)
    for i in range(b):
        rows = np.sort(rng.choice(total, size=n, replace=False))
        mask[i, rows] = True
        values[i, rows] = h.values[i]
        intervened[i, rows] = h.intervened[i]
    if domain == "sergio":
        values = np.where(mask[:, :, None], values, np.abs(np.nan_to_num(values)))
    q = model.edge_probabilities(values, intervened, mask)
    np.testing.assert_allclose(q, p, atol=1e-5)
    # histories of different lengths in one batch: each equals its own unpadded result
    mask2 = np.ones((b, n), dtype=bool)
    mask2[0, 15:] = False
    r = model.edge_probabilities(h.values, h.intervened, mask2)
    alone = model.edge_probabilities(h.values[:1, :15], h.intervened[:1, :15])
    np.testing.assert_allclose(r[0], alone[0], atol=1e-5)
    np.testing.assert_allclose(r[1:], p[1:], atol=1e-5)


def test_network_masking_directly():
    """The torch module itself ignores padded rows (keys in row attention and the max-pool)."""
    torch.manual_seed(0)
    net = EdgePosteriorNet(ModelConfig(dim=16, layers=1, heads=2)).eval()
    x = torch.randn(2, 9, 4, 2)
    mask = torch.ones(2, 9, dtype=torch.bool)
    mask[:, 6:] = False
    with torch.no_grad():
        a = net(x[:, :6])
        x2 = x.clone()
        x2[:, 6:] = 1e4
        b = net(x2, mask)
    torch.testing.assert_close(a, b, atol=1e-5, rtol=0)


def test_loss_and_diagonal_helpers():
    logits = torch.zeros(2, 3, 3)
    adj = torch.zeros(2, 3, 3)
    assert torch.isclose(edge_bce(logits, adj), torch.tensor(np.log(2.0), dtype=torch.float32))
    assert torch.all(torch.sigmoid(mask_diagonal(logits)).diagonal(dim1=1, dim2=2) == 0)


@pytest.mark.parametrize(
    ("values", "intervened", "mask", "match"),
    [
        (np.zeros((5, 3)), np.zeros((5, 3), bool), None, "shape"),
        (np.zeros((2, 5, 3)), np.zeros((2, 5, 4), bool), None, "intervened must have the shape"),
        (np.zeros((2, 5, 3)), np.zeros((2, 5, 3), bool), np.ones((2, 4), bool), "mask must have shape"),
        (np.full((2, 5, 3), np.nan), np.zeros((2, 5, 3), bool), None, "finite"),
        (np.zeros((2, 5, 3)), np.full((2, 5, 3), 0.5), None, "only 0 and 1"),
        (np.zeros((2, 5, 3)), np.zeros((2, 5, 3), bool), np.zeros((2, 5), bool), "at least one valid row"),
        (np.zeros((2, 5, 1)), np.zeros((2, 5, 1), bool), None, "d >= 2"),
    ],
)
def test_bad_inputs_raise(values, intervened, mask, match):
    with pytest.raises(ValueError, match=match):
        _model().edge_probabilities(values, intervened, mask)


def test_negative_counts_raise_for_sergio():
    with pytest.raises(ValueError, match="non-negative"):
        _model("sergio").edge_probabilities(-np.ones((1, 4, 3)), np.zeros((1, 4, 3), bool))


def test_config_validation():
    with pytest.raises(ValueError, match="divisible"):
        ModelConfig(dim=10, heads=3)
    with pytest.raises(ValueError, match="domain"):
        ModelConfig(domain="images")
    with pytest.raises(ValueError, match="valid choices: rows, statistics"):
        ModelConfig(encoder="pixels")
    for bad in (dict(domain="sergio", scale_channel=True), dict(domain="linear", scale_channel=False)):
        with pytest.raises(ValueError, match="needs domain='linear' and scale_channel=True"):
            ModelConfig(encoder="statistics", **bad)
