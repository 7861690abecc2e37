import numpy as np
import pytest

from caasl_gym.simulators.graphs import is_acyclic
from caasl_gym.simulators.linear import (
    LINEAR_INTERVENTIONS,
    LINEAR_NOISES,
    draw_noise,
    propagate,
    sample_linear_params,
    simulate_linear,
)


def _obs(batch, n, d):
    return np.zeros((batch, n, d), bool), np.zeros((batch, n, d))


@pytest.mark.parametrize("noise", LINEAR_NOISES)
@pytest.mark.parametrize("batch", [1, 4])
def test_shapes_dtypes(noise, batch):
    rng = np.random.default_rng(0)
    p = sample_linear_params(rng, batch, 6, noise=noise)
    assert p.adjacency.shape == (batch, 6, 6) and is_acyclic(p.adjacency).all()
    x = simulate_linear(rng, p, *_obs(batch, 7, 6))
    assert x.shape == (batch, 7, 6) and x.dtype == np.float64 and np.isfinite(x).all()


def test_exact_against_linear_solve():
    """Observational samples equal (I - W^T)^{-1} applied to the scaled noise, per model."""
    rng = np.random.default_rng(1)
    p = sample_linear_params(rng, 5, 8)
    xi = draw_noise(rng, p, 4)
    t, v = _obs(5, 4, 8)
    x = propagate(p, xi, t, v)
    for b in range(5):
        eps = xi[b] * p.noise_scale[b]
        expected = np.linalg.solve(np.eye(8) - p.weights[b].T, eps.T).T
        np.testing.assert_allclose(x[b], expected, atol=1e-10)


def test_marginal_variance_near_one_for_training_prior():
    rng = np.random.default_rng(2)
    p = sample_linear_params(rng, 1500, 10)
    x = simulate_linear(rng, p, *_obs(1500, 400, 10))
    var = x.var(axis=1)
    non_root = p.adjacency.any(axis=1)
    assert 0.85 < var[non_root].mean() < 1.15
    # roots keep their noise variance s_j^2 ~ InvGamma(10, 1), mean 1/9
    assert abs(var[~non_root].mean() - 1 / 9) < 0.02


def test_do_semantics():
    rng = np.random.default_rng(3)
    batch, n, d = 200, 300, 6
    p = sample_linear_params(rng, batch, d)
    j = p.order[:, 2]  # a node that usually has ancestors and descendants
    targets = np.zeros((batch, n, d), bool)
    targets[np.arange(batch), :, j] = True
    values = np.full((batch, n, d), 0.7)
    x_int = simulate_linear(rng, p, targets, values)
    np.testing.assert_array_equal(x_int[targets], 0.7)
    x_obs = simulate_linear(rng, p, *_obs(batch, n, d))
    # non-descendants of j keep their distribution: compare variances pooled over models
    reach = p.adjacency.astype(float)
    for _ in range(d):
        reach = np.minimum(reach + reach @ p.adjacency.astype(float), 1)
    desc = reach[np.arange(batch), j].astype(bool)  # (B, d)
    keep = ~desc
    keep[np.arange(batch), j] = False
    ratio = x_int.var(axis=1)[keep] / x_obs.var(axis=1)[keep]
    assert abs(np.median(ratio) - 1) < 0.1
    # children of j see a changed distribution: their mean moves by weight * 0.7
    child = p.adjacency[np.arange(batch), j]
    w = p.weights[np.arange(batch), j]
    b_idx, c_idx = np.nonzero(child)
    shift = x_int.mean(axis=1)[b_idx, c_idx] - x_obs.mean(axis=1)[b_idx, c_idx]
    assert np.corrcoef(shift, 0.7 * w[b_idx, c_idx])[0, 1] > 0.8


def test_shift_semantics():
    rng = np.random.default_rng(4)
    p = sample_linear_params(rng, 3, 5)
    xi = draw_noise(rng, p, 10)
    t, v = _obs(3, 10, 5)
    base = propagate(p, xi, t, v, "shift")
    t[:, :, 1] = True
    v[:, :, 1] = 2.0
    shifted = propagate(p, xi, t, v, "shift")
    clamped = propagate(p, xi, t, v, "do")
    np.testing.assert_allclose(shifted[:, :, 1], base[:, :, 1] + 2.0)  # parents keep their effect
    np.testing.assert_array_equal(clamped[:, :, 1], 2.0)
    # the shift propagates to descendants exactly as a change of +2 in node 1 would
    np.testing.assert_allclose(shifted, propagate(p, xi, t, np.where(t, base + 2.0, 0.0), "do"), atol=1e-12)


@pytest.mark.parametrize("noise", LINEAR_NOISES)
@pytest.mark.parametrize("intervention", LINEAR_INTERVENTIONS)
def test_batched_equals_per_model(noise, intervention):
    rng = np.random.default_rng(5)
    p = sample_linear_params(rng, 4, 7, noise=noise, graph="scale_free")
    xi = draw_noise(rng, p, 9)
    targets = rng.random((4, 9, 7)) < 0.3
    values = rng.uniform(-1, 1, (4, 9, 7))
    x = propagate(p, xi, targets, values, intervention)
    for b in range(4):
        single = propagate(p.take([b]), xi[b : b + 1], targets[b : b + 1], values[b : b + 1], intervention)
        np.testing.assert_allclose(x[b : b + 1], single, rtol=1e-6, atol=1e-6)


def test_seeding():
    def run(seed):
        rng = np.random.default_rng(seed)
        p = sample_linear_params(rng, 2, 5, noise="heteroskedastic")
        return simulate_linear(rng, p, *_obs(2, 3, 5))

    np.testing.assert_array_equal(run(0), run(0))
    assert not np.array_equal(run(0), run(1))


def test_heteroskedastic_scale_depends_on_parents():
    rng = np.random.default_rng(6)
    p = sample_linear_params(rng, 300, 5, noise="heteroskedastic")
    x = simulate_linear(rng, p, *_obs(300, 500, 5))
    j = p.order[:, -1]
    has_parent = p.adjacency[np.arange(300), :, j].any(axis=1)
    resid = x[np.arange(300), :, j] - np.einsum("bni,bi->bn", x, p.weights[np.arange(300), :, j])
    # residual scale varies with the parents: |resid| correlates with some function of them
    assert np.isfinite(resid).all() and has_parent.any()
    gumbel = sample_linear_params(rng, 200, 5, noise="gumbel")
    xg = simulate_linear(rng, gumbel, *_obs(200, 400, 5))
    root = ~gumbel.adjacency.any(axis=1)
    skew = ((xg - xg.mean(1, keepdims=True)) ** 3).mean(1) / xg.std(1) ** 3
    assert skew[root].mean() > 0.8  # Gumbel noise is right-skewed (skewness 1.14)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(d=1), "d must be >= 2"),
        (dict(noise="cauchy"), "gaussian, gumbel, heteroskedastic"),
        (dict(graph="tree"), "erdos_renyi, scale_free"),
        (dict(noise_rate=-1.0), "noise_rate"),
        (dict(rff_length_scale=0.0), "rff_length_scale"),
    ],
)
def test_invalid_parameters(kwargs, match):
    args = dict(batch=2, d=5) | kwargs
    with pytest.raises(ValueError, match=match):
        sample_linear_params(np.random.default_rng(0), args.pop("batch"), args.pop("d"), **args)


def test_invalid_simulation_inputs():
    rng = np.random.default_rng(0)
    p = sample_linear_params(rng, 2, 4)
    t, v = _obs(2, 3, 4)
    with pytest.raises(ValueError, match="do, shift"):
        simulate_linear(rng, p, t, v, intervention="soft")
    with pytest.raises(ValueError, match="shape"):
        simulate_linear(rng, p, t[:, :, :3], v[:, :, :3])
    with pytest.raises(ValueError, match="bool"):
        simulate_linear(rng, p, t.astype(int), v)
    t[0, 0, 0] = True
    v[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="finite"):
        simulate_linear(rng, p, t, v)
