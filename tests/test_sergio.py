"""Tests of the batched SERGIO simulator."""

from __future__ import annotations

import numpy as np
import pytest

from caasl_gym.simulators.graphs import topological_depth
from caasl_gym.simulators.sergio import (
    SERGIO_INTERVENTIONS,
    SergioParams,
    build_sergio_params,
    flip_design,
    sample_sergio_params,
    sergio_production,
    sergio_steady_state,
    simulate_sergio,
)


def _params(seed: int = 0, batch: int = 4, d: int = 10, **kwargs) -> SergioParams:
    return sample_sergio_params(np.random.default_rng(seed), batch, d, **kwargs)


def _random_design(rng: np.random.Generator, batch: int, d: int, p: float = 0.3) -> np.ndarray:
    return rng.random((batch, d)) < p


def _chain(sign: float, batch: int = 1) -> SergioParams:
    """Two genes, ``0 -> 1`` with strength ``3 * sign``; basal 2 in every cell type."""
    adj = np.zeros((batch, 2, 2), dtype=bool)
    adj[:, 0, 1] = True
    k = np.where(adj, 3.0 * sign, 0.0)
    return build_sergio_params(adj, k, np.full((batch, 2, 5), 2.0))


# ---------------------------------------------------------------- parameters


@pytest.mark.parametrize("batch", [1, 4])
def test_param_shapes_and_prior(batch: int) -> None:
    p = _params(batch=batch, d=7)
    assert p.batch == batch and p.d == 7 and p.n_cell_types == 5
    assert p.adjacency.shape == (batch, 7, 7) and p.adjacency.dtype == bool
    assert p.interactions.shape == (batch, 7, 7) and p.basal.shape == (batch, 7, 5)
    assert p.hill.shape == p.decay.shape == p.noise_amplitude.shape == (batch,)
    assert p.half_response.shape == (batch, 7)
    strength = np.abs(p.interactions[p.adjacency])
    assert np.all((strength >= 1) & (strength <= 5)) and np.all(p.interactions[~p.adjacency] == 0)
    master = ~p.adjacency.any(axis=1)
    assert np.all((p.basal[master] >= 1) & (p.basal[master] <= 3)) and np.all(p.basal[~master] == 0)
    assert np.all(p.hill == 1.0) and np.all(p.decay == 0.8) and np.all(p.noise_amplitude == 1.0)
    assert np.all(p.half_response > 0)


def test_signs_share_one_probability_per_regulator() -> None:
    p = _params(batch=400, d=10)
    frac_pos = []
    for b in range(p.batch):
        for i in range(p.d):
            out = p.interactions[b, i, p.adjacency[b, i]]
            if out.size >= 4:
                frac_pos.append((out > 0).mean())
    frac_pos = np.array(frac_pos)
    # Beta(0.5, 0.5) is U-shaped: many regulators are (almost) all-activating or all-repressing
    assert 0.4 < frac_pos.mean() < 0.6
    assert ((frac_pos == 0) | (frac_pos == 1)).mean() > 0.3


def test_half_response_is_mean_deterministic_steady_state() -> None:
    p = _params(batch=6)
    np.testing.assert_allclose(p.half_response, sergio_steady_state(p).mean(axis=1), rtol=1e-12)


def test_invalid_params_raise_with_valid_choices() -> None:
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="erdos_renyi, scale_free"):
        sample_sergio_params(rng, 2, 5, graph="tree")
    with pytest.raises(ValueError, match=">= 2"):
        sample_sergio_params(rng, 2, 1)
    with pytest.raises(ValueError, match=">= 1"):
        sample_sergio_params(rng, 0, 5)
    with pytest.raises(ValueError, match="decay"):
        sample_sergio_params(rng, 2, 5, decay=-0.8)
    with pytest.raises(ValueError, match="noise_amplitude"):
        sample_sergio_params(rng, 2, 5, noise_amplitude=-1.0)
    with pytest.raises(ValueError, match="hill"):
        sample_sergio_params(rng, 2, 5, hill=0.0)


def test_invalid_simulation_args_raise() -> None:
    rng = np.random.default_rng(0)
    p = _params(batch=2, d=5)
    design = np.zeros((2, 5), dtype=bool)
    with pytest.raises(ValueError, match="knockout, knockdown"):
        simulate_sergio(rng, p, design, 3, intervention="overexpression")
    with pytest.raises(ValueError, match="10x-chromium-mini"):
        simulate_sergio(rng, p, design, 3, technical_noise="10x")
    with pytest.raises(ValueError, match="design"):
        simulate_sergio(rng, p, design[:, :4], 3)
    with pytest.raises(ValueError, match="n_cells"):
        simulate_sergio(rng, p, design, 0)
    with pytest.raises(ValueError, match="flip_prob"):
        simulate_sergio(rng, p, design, 3, flip_prob=1.5)
    assert SERGIO_INTERVENTIONS == ("knockout", "knockdown")


# ---------------------------------------------------------------- deterministic pieces


def test_master_regulators_steady_state_is_basal_over_decay() -> None:
    p = _params(batch=5)
    x = sergio_steady_state(p)
    master = np.broadcast_to((~p.adjacency.any(axis=1))[:, None, :], x.shape)  # (B, C, d)
    expected = np.swapaxes(p.basal, 1, 2) / p.decay[:, None, None]
    np.testing.assert_allclose(x[master], expected[master], rtol=1e-12)
    # a steady state is a fixed point of the deterministic dynamics
    np.testing.assert_allclose(sergio_production(p, x), p.decay[:, None, None] * x, rtol=1e-10, atol=1e-12)


def test_knockout_and_knockdown_production() -> None:
    p = _params(batch=4)
    rng = np.random.default_rng(1)
    x = rng.uniform(0, 10, size=(4, 5, 10))
    design = _random_design(rng, 4, 10, 0.4)
    wild = sergio_production(p, x)
    ko = sergio_production(p, x, design, "knockout")
    kd = sergio_production(p, x, design, "knockdown")
    t = np.broadcast_to(design[:, None, :], x.shape)
    assert np.all(ko[t] == 0) and np.all(ko[~t] == wild[~t])
    assert np.all(kd[t] == 0.5 * wild[t]) and np.all(kd[~t] == wild[~t])  # exactly halved
    assert np.all(wild >= 0)


def test_intervened_steady_states() -> None:
    p = _params(batch=4)
    design = _random_design(np.random.default_rng(2), 4, 10, 0.4)
    wild = sergio_steady_state(p)
    t = np.broadcast_to(design[:, None, :], wild.shape)
    assert np.all(sergio_steady_state(p, design, "knockout")[t] == 0)
    kd = sergio_steady_state(p, design, "knockdown")
    master = np.broadcast_to((~p.adjacency.any(axis=1))[:, None, :], wild.shape)
    np.testing.assert_allclose(kd[t & master], 0.5 * wild[t & master], rtol=1e-12)


@pytest.mark.parametrize(("sign", "direction"), [(1.0, -1), (-1.0, 1)])
def test_knockdown_moves_child_in_edge_direction(sign: float, direction: int) -> None:
    p = _chain(sign, batch=40)
    design = np.zeros((40, 2), dtype=bool)
    design[:, 0] = True
    wild_ss, kd_ss = sergio_steady_state(p), sergio_steady_state(p, design, "knockdown")
    assert np.all(np.sign(kd_ss[..., 1] - wild_ss[..., 1]) == direction)
    rng = np.random.default_rng(3)
    wild = simulate_sergio(rng, p, np.zeros_like(design), 50, technical_noise=None)
    kd = simulate_sergio(rng, p, design, 50, intervention="knockdown", technical_noise=None)
    assert kd[..., 0].mean() == pytest.approx(0.5 * wild[..., 0].mean(), rel=0.1)
    assert np.sign(kd[..., 1].mean() - wild[..., 1].mean()) == direction
    assert abs(kd[..., 1].mean() - wild[..., 1].mean()) > 0.1 * wild[..., 1].mean()


# ---------------------------------------------------------------- simulation


@pytest.mark.parametrize("batch", [1, 4])
@pytest.mark.parametrize("noise", ["10x-chromium-mini", None])
def test_simulation_shapes_and_dtypes(batch: int, noise: str | None) -> None:
    rng = np.random.default_rng(4)
    p = _params(batch=batch, d=6)
    design = _random_design(rng, batch, 6)
    counts = simulate_sergio(rng, p, design, 7, technical_noise=noise)
    assert counts.shape == (batch, 7, 6) and counts.dtype == np.float32
    counts, clean = simulate_sergio(rng, p, design, 1, technical_noise=noise, return_clean=True)
    assert counts.shape == clean.shape == (batch, 1, 6) and clean.dtype == np.float32
    if noise is None:
        np.testing.assert_array_equal(counts, clean)
    else:
        assert np.all(counts == np.round(counts)) and np.all(counts >= 0)


@pytest.mark.parametrize("n_cells", [1, 23])
def test_knocked_out_genes_are_exactly_zero(n_cells: int) -> None:
    rng = np.random.default_rng(5)
    p = _params(batch=16)
    design = _random_design(rng, 16, 10, 0.3)
    for preset in ("10x-chromium-mini", "drop-seq"):
        counts, clean = simulate_sergio(rng, p, design, n_cells, technical_noise=preset, return_clean=True)
        t = np.broadcast_to(design[:, None, :], counts.shape)
        assert np.all(clean[t] == 0) and np.all(counts[t] == 0)
        assert (clean[~t] > 0).mean() > 0.9  # other genes are expressed


def test_master_regulators_fluctuate_around_basal_over_decay() -> None:
    p = _params(seed=6, batch=20)
    clean = simulate_sergio(np.random.default_rng(7), p, np.zeros((20, 10), bool), 300, technical_noise=None)
    master = ~p.adjacency.any(axis=1)
    expected = (p.basal.mean(axis=2) / p.decay[:, None])[master]  # all C * 60 cells are kept
    observed = clean.mean(axis=1)[master]
    # ~3 % above b / λ on average: clamping at 0 biases upwards; ± 3 % sampling noise across seeds
    assert observed.mean() / expected.mean() == pytest.approx(1.0, abs=0.08)
    assert clean.std(axis=1)[master].mean() > 0.3  # the system noise is there
    # genes with very different basal rates (the same in every cell type): each mean is near b / λ
    rng = np.random.default_rng(8)
    adj = np.zeros((20, 10, 10), dtype=bool)
    adj[:, 0, 9] = True
    basal = np.repeat(rng.uniform(0.5, 10.0, size=(20, 10, 1)), 5, axis=2)
    q = build_sergio_params(adj, np.where(adj, 2.0, 0.0), basal)
    clean = simulate_sergio(rng, q, np.zeros((20, 10), bool), 300, technical_noise=None)
    expected, observed = basal[:, :9, 0] / 0.8, clean[:, :, :9].mean(axis=1)
    assert np.median(np.abs(observed / expected - 1)) < 0.1
    assert np.corrcoef(observed.ravel(), expected.ravel())[0, 1] > 0.95


def test_without_system_noise_cells_sit_at_the_steady_state() -> None:
    p = _params(batch=3, noise_amplitude=0.0)
    design = _random_design(np.random.default_rng(8), 3, 10)
    clean = simulate_sergio(
        np.random.default_rng(9), p, design, 10, intervention="knockdown", technical_noise=None
    )  # C = 5 cell types, 2 cells each, all kept
    steady = sergio_steady_state(p, design, "knockdown").astype(np.float32)
    for b in range(3):
        rows = np.unique(np.round(clean[b], 4), axis=0)
        np.testing.assert_allclose(rows, np.unique(np.round(steady[b], 4), axis=0), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(batch=200, d=10),
        dict(batch=40, d=30),
        dict(batch=60, d=10, graph="scale_free", hill=4.0, decay=0.05, noise_amplitude=3.0),
        dict(batch=60, d=12, edges_per_node=6.0, hill=0.3, decay=5.0, noise_amplitude=0.0),
        dict(batch=30, d=20, hill=np.linspace(0.5, 3.0, 30), decay=np.linspace(0.1, 2.0, 30)),
    ],
)
def test_no_nan_or_inf(kwargs: dict) -> None:
    rng = np.random.default_rng(10)
    p = sample_sergio_params(rng, **kwargs)
    assert np.all(np.isfinite(p.half_response)) and np.all(p.half_response > 0)
    design = _random_design(rng, p.batch, p.d, 0.2)
    with np.errstate(all="raise"):
        for intervention in SERGIO_INTERVENTIONS:
            counts, clean = simulate_sergio(rng, p, design, 6, intervention=intervention, return_clean=True)
            assert np.all(np.isfinite(counts)) and np.all(np.isfinite(clean)) and np.all(clean >= 0)


def test_deterministic_under_seed() -> None:
    def run(seed: int) -> np.ndarray:
        rng = np.random.default_rng(seed)
        p = sample_sergio_params(rng, 3, 8)
        return simulate_sergio(rng, p, _random_design(rng, 3, 8), 12, flip_prob=0.1)

    np.testing.assert_array_equal(run(11), run(11))
    assert not np.array_equal(run(11), run(12))
    p1, p2 = _params(seed=1), _params(seed=1)
    for name in ("adjacency", "interactions", "basal", "half_response"):
        np.testing.assert_array_equal(getattr(p1, name), getattr(p2, name))


def test_batched_agrees_with_per_model_calls() -> None:
    p = _params(seed=13, batch=4)
    design = _random_design(np.random.default_rng(14), 4, 10, 0.2)
    x = np.random.default_rng(15).uniform(0, 5, size=(4, 5, 10))
    for b in range(4):
        one = p.take(b)
        np.testing.assert_allclose(
            sergio_steady_state(one, design[b : b + 1]), sergio_steady_state(p, design)[b : b + 1], rtol=1e-12
        )
        np.testing.assert_allclose(
            sergio_production(one, x[b : b + 1], design[b : b + 1], "knockdown"),
            sergio_production(p, x, design, "knockdown")[b : b + 1],
            rtol=1e-12,
        )
    rng = np.random.default_rng(16)
    batched = simulate_sergio(rng, p, design, 400, technical_noise=None)
    single = np.concatenate(
        [simulate_sergio(rng, p.take(b), design[b : b + 1], 400, technical_noise=None) for b in range(4)]
    )
    mean_b, mean_s = batched.mean(axis=(1, 2)), single.mean(axis=(1, 2))
    np.testing.assert_allclose(mean_b, mean_s, rtol=0.2)  # seeds 0-7: max deviation 0.04-0.12
    np.testing.assert_array_equal((batched == 0).all(axis=1), design)  # silent columns = knockouts
    np.testing.assert_array_equal((single == 0).all(axis=1), design)


def _concat(parts: list[SergioParams]) -> SergioParams:
    names = ("adjacency", "interactions", "basal", "hill", "decay", "noise_amplitude", "half_response")
    return SergioParams(*(np.concatenate([getattr(q, n) for q in parts]) for n in names))


@pytest.mark.parametrize(
    ("n_cells", "flip_prob", "intervention", "noise", "d"),
    [
        (1, 0.0, "knockout", "10x-chromium-mini", 10),
        (13, 0.3, "knockdown", "drop-seq", 6),
        (400, 0.1, "knockout", "smart-seq", 30),  # several noise chunks
        (9, 0.0, "knockdown", None, 8),
    ],
)
def test_per_model_generators_equal_per_model_calls_exactly(n_cells, flip_prob, intervention, noise, d) -> None:
    parts = [_params(seed=30 + b, batch=1, d=d, graph="scale_free" if b % 2 else "erdos_renyi") for b in range(7)]
    p = _concat(parts)
    depths = {int(topological_depth(q.adjacency).max()) for q in parts}
    assert len(depths) > 1  # models with different burn-in lengths share the batch
    design = _random_design(np.random.default_rng(40), 7, d, 0.3)
    kwargs = dict(intervention=intervention, flip_prob=flip_prob, technical_noise=noise, return_clean=True)
    rngs = [np.random.default_rng(500 + b) for b in range(7)]
    counts, clean = simulate_sergio(rngs, p, design, n_cells, **kwargs)
    for b in range(7):
        g = np.random.default_rng(500 + b)
        one_counts, one_clean = simulate_sergio(g, p.take(b), design[b : b + 1], n_cells, **kwargs)
        np.testing.assert_array_equal(counts[b : b + 1], one_counts)
        np.testing.assert_array_equal(clean[b : b + 1], one_clean)
        assert g.bit_generator.state == rngs[b].bit_generator.state  # same number of draws
    # a one-element list is the single-generator call
    one = simulate_sergio([np.random.default_rng(3)], p.take(2), design[2:3], 5, technical_noise=noise)
    np.testing.assert_array_equal(
        one, simulate_sergio(np.random.default_rng(3), p.take(2), design[2:3], 5, technical_noise=noise)
    )


def test_per_model_generators_must_match_the_batch() -> None:
    p = _params(seed=1, batch=3)
    design = np.zeros((3, 10), dtype=bool)
    with pytest.raises(ValueError, match="one generator per model"):
        simulate_sergio([np.random.default_rng(0)] * 2, p, design, 3)
    with pytest.raises(ValueError, match="one generator per model"):
        flip_design([np.random.default_rng(0)] * 4, design, 0.5)


def test_flip_design() -> None:
    design = _random_design(np.random.default_rng(17), 50, 20)
    rng = np.random.default_rng(18)
    state = rng.bit_generator.state
    np.testing.assert_array_equal(flip_design(rng, design, 0.0), design)
    assert rng.bit_generator.state == state  # nothing drawn
    np.testing.assert_array_equal(flip_design(rng, design, 1.0), ~design)
    assert (flip_design(rng, design, 0.1) != design).mean() == pytest.approx(0.1, abs=0.02)
    with pytest.raises(ValueError, match="flip_prob"):
        flip_design(rng, design, -0.1)


def test_flip_prob_in_simulation() -> None:
    p = _params(seed=19, batch=6)
    design = _random_design(np.random.default_rng(20), 6, 10)
    noisy = simulate_sergio(np.random.default_rng(21), p, design, 8, flip_prob=0.3, return_clean=True)
    rng = np.random.default_rng(21)
    actual = flip_design(rng, design, 0.3)  # flips are the first draws of a call
    assert not np.array_equal(actual, design)
    exact = simulate_sergio(rng, p, actual, 8, return_clean=True)
    np.testing.assert_array_equal(noisy[0], exact[0])
    np.testing.assert_array_equal(noisy[1], exact[1])
    t = np.broadcast_to(actual[:, None, :], noisy[1].shape)
    assert np.all(noisy[1][t] == 0)
    # everything flipped: an intended wild type knocks every gene out
    _, clean = simulate_sergio(rng, p, np.zeros((6, 10), bool), 4, flip_prob=1.0, return_clean=True)
    assert np.all(clean == 0)


def test_zero_fraction_matches_reference() -> None:
    """50 observational + 10 single-knockout rows (env steps of one cell) over 30 models at d=10."""
    batch, d = 30, 10
    p = _params(seed=22, batch=batch, d=d)
    for preset, (low, high) in {"10x-chromium-mini": (0.65, 0.80), "drop-seq": (0.78, 0.90)}.items():
        rng = np.random.default_rng(23)
        rows = [simulate_sergio(rng, p, np.zeros((batch, d), bool), 50, technical_noise=preset)]
        for _ in range(10):
            design = np.zeros((batch, d), bool)
            design[np.arange(batch), rng.integers(0, d, size=batch)] = True
            rows.append(simulate_sergio(rng, p, design, 1, technical_noise=preset))
        zero = (np.concatenate(rows, axis=1) == 0).mean()
        assert low <= zero <= high, (preset, zero)
