"""TransformerExtractor / ensemble layers: invariances, masking, batching equals looping."""

import numpy as np
import pytest
import torch as th
from gymnasium import spaces

from caasl_agents.common.torch_layers import (
    AlternatingAttentionEncoder,
    EnsembleLinear,
    EnsembleMLP,
    TransformerExtractor,
    preprocess_history,
)

ATOL = 1e-5

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def make_history(batch=3, n_rows=9, d=4, n_filled=6, seed=0, counts=False):
    """(B, N, d, 3) history with ``n_filled`` filled rows and zero padding after them."""
    rng = np.random.default_rng(seed)
    obs = np.zeros((batch, n_rows, d, 3), np.float32)
    shape = (batch, n_filled, d)
    values = rng.poisson(20.0, shape) * (rng.random(shape) > 0.5) if counts else rng.normal(size=shape)
    obs[:, :n_filled, :, 0] = values
    obs[:, :n_filled, :, 1] = rng.random((batch, n_filled, d)) < 0.3
    obs[:, :n_filled, :, 2] = 1.0
    return th.as_tensor(obs)


def make_extractor(n_rows=9, d=4, seed=0, **kwargs):
    th.manual_seed(seed)
    space = spaces.Box(-np.inf, np.inf, (n_rows, d, 3), np.float32)
    kwargs = {"features_dim": 16, "n_layers": 2, "n_heads": 4, **kwargs}
    return TransformerExtractor(space, **kwargs).eval()


@pytest.mark.parametrize("value_transform", ["standardize", "log1p_standardize", "none"])
def test_extractor_shape_and_variable_equivariance(value_transform):
    extractor = make_extractor(value_transform=value_transform)
    obs = make_history(counts=value_transform == "log1p_standardize")
    perm = th.tensor([2, 0, 3, 1])
    with th.no_grad():
        out = extractor(obs)
        out_perm = extractor(obs[:, :, perm])
    assert out.shape == (3, 4, 16)
    th.testing.assert_close(out_perm, out[:, perm], atol=ATOL, rtol=0)


def test_extractor_invariant_to_row_order_and_padding():
    extractor = make_extractor()
    obs = make_history()
    with th.no_grad():
        ref = extractor(obs)
        shuffled = obs.clone()
        shuffled[:, :6] = obs[:, th.tensor([4, 1, 5, 0, 3, 2])]
        garbage = obs.clone()
        garbage[:, 6:, :, :2] = th.randn(3, 3, 4, 2) * 100  # padding content must not matter
        garbage[:, 7, 0, 0] = float("nan")
        trimmed = obs[:, :6]  # no padding rows at all
        longer = th.cat([obs, th.zeros(3, 20, 4, 3)], dim=1)  # more padding rows
        interleaved = th.zeros(3, 12, 4, 3)  # padding between filled rows
        interleaved[:, ::2] = obs[:, :6]
    for other in (shuffled, garbage, trimmed, longer, interleaved):
        with th.no_grad():
            th.testing.assert_close(extractor(other), ref, atol=ATOL, rtol=0)


def test_extractor_handles_empty_history_and_other_sizes():
    extractor = make_extractor()
    empty = th.zeros(2, 9, 4, 3)
    with th.no_grad():
        assert th.isfinite(extractor(empty)).all()
        # same weights at any d and N
        assert extractor(make_history(batch=2, n_rows=15, d=7, n_filled=11)).shape == (2, 7, 16)


def test_standardize_is_per_variable_scale_free():
    obs = make_history()
    scaled = obs.clone()
    scaled[..., 1, 0] = scaled[..., 1, 0] * 50.0 + 7.0  # affine change of one variable's units
    scaled[:, 6:] = 0.0
    x_ref, mask_ref = preprocess_history(obs, "standardize")
    x_new, mask_new = preprocess_history(scaled, "standardize")
    assert th.equal(mask_ref, mask_new) and mask_ref[:, :6].all() and not mask_ref[:, 6:].any()
    th.testing.assert_close(x_new, x_ref, atol=1e-4, rtol=0)
    # constant columns (e.g. an all-zero gene) map to zero, not to NaN
    const = obs.clone()
    const[..., 2, 0] = 3.0
    assert th.isfinite(preprocess_history(const, "standardize")[0]).all()


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="value_transform"):
        make_extractor(value_transform="zscore")
    with pytest.raises(ValueError, match="divisible"):
        make_extractor(features_dim=10, n_heads=4)
    with pytest.raises(ValueError, match=r"\(N, d, 3\)"):
        TransformerExtractor(spaces.Box(-1, 1, (9, 4, 2), np.float32))


def test_ensemble_members_equal_independent_networks():
    """Stacked members, a member subset and one member at a time give the same numbers."""
    th.manual_seed(0)
    encoder = AlternatingAttentionEncoder(embed_dim=16, n_layers=1, n_heads=2, n_members=5).eval()
    obs = make_history()
    members = th.tensor([3, 1])
    with th.no_grad():
        full = encoder(obs)
        subset = encoder(obs, members)
        one_by_one = th.cat([encoder(obs, th.tensor([i])) for i in range(5)])
    assert full.shape == (5, 3, 4, 16)
    th.testing.assert_close(subset, full[members], atol=ATOL, rtol=0)
    th.testing.assert_close(one_by_one, full, atol=ATOL, rtol=0)
    assert not th.allclose(full[0], full[1])  # members are independently initialised


def test_ensemble_linear_and_mlp_broadcast_shared_input():
    th.manual_seed(0)
    layer = EnsembleLinear(4, 3, 2)
    x = th.randn(1, 5, 3)
    out = layer(x)
    expected = th.stack([x[0] @ layer.weight[i] + layer.bias[i] for i in range(4)])
    th.testing.assert_close(out, expected)
    mlp = EnsembleMLP(4, 3, 1, [8, 8])
    assert mlp(th.randn(1, 6, 2, 3)).shape == (4, 6, 2, 1)
    assert mlp(th.randn(2, 6, 3), th.tensor([0, 2])).shape == (2, 6, 1)
