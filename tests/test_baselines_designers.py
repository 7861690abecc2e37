"""The SS-Finite-style and DiffCBED-style designers: actions, determinism, batching, validation, behaviour."""

import gymnasium as gym
import numpy as np
import pytest

pytest.importorskip("gies")

import caasl_gym  # noqa: F401  (registers the ids)
from caasl_gym.baselines.diffcbed import DiffCBEDDesigner
from caasl_gym.baselines.mechanisms import history
from caasl_gym.baselines.ss_finite import (
    Particles,
    SSFiniteDesigner,
    gies_particles,
    particle_information,
)
from caasl_gym.envs.linear import CausalLinearConfig

D = 4
TINY = {
    "SS-Finite": lambda **kw: SSFiniteDesigner(n_boot=3, n_outcomes=4, max_targets=2, **kw),
    "DiffCBED": lambda **kw: DiffCBEDDesigner(n_boot=3, n_outcomes=2, n_eval_outcomes=4, n_steps=5, n_restarts=2, **kw),
}


@pytest.fixture(scope="module")
def observations() -> np.ndarray:
    """``(2, N, D, 3)`` histories after one Random step, with unfilled rows still in them."""
    venv = gym.make_vec("CausalLinear-v0", num_envs=2, num_nodes=D, n_initial=20, budget=3)
    obs, _ = venv.reset(seed=5)
    obs, *_ = venv.step(np.random.default_rng(0).uniform(-1, 1, venv.action_space.shape))
    venv.close()
    assert (obs[:, :, 0, 2] == 0).any()  # rows for the remaining steps are still empty
    return obs


def _edge_only_uncertainty() -> Particles:
    """Two Markov-equivalent particles, ``0 -> 1`` and ``1 -> 0`` (same Gaussian joint), ``2`` and ``3`` isolated."""
    dags = np.zeros((2, D, D), dtype=bool)
    dags[0, 0, 1] = dags[1, 1, 0] = True
    noise = np.ones((2, D))
    noise[0, 1] = noise[1, 0] = 0.19
    return Particles(dags, 0.9 * dags, noise, np.log([0.5, 0.5]))


@pytest.mark.parametrize("name", TINY)
def test_actions_are_valid(name, observations):
    actions = TINY[name]().act(observations, [np.random.default_rng(s) for s in range(2)])
    assert actions.shape == (2, D, 2) and actions.dtype == np.float32
    assert np.all(np.abs(actions) <= 1)
    assert set(np.unique(actions[..., 0])) <= {-1.0, 1.0}


@pytest.mark.parametrize("name", TINY)
def test_deterministic_given_the_generator(name, observations):
    designer = TINY[name]()
    first = designer.act(observations, [np.random.default_rng(7), np.random.default_rng(8)])
    again = designer.act(observations.copy(), [np.random.default_rng(7), np.random.default_rng(8)])
    np.testing.assert_array_equal(first, again)


@pytest.mark.parametrize("name", TINY)
def test_batch_equals_single_calls(name, observations):
    designer = TINY[name]()
    batch = designer.act(observations, [np.random.default_rng(1), np.random.default_rng(2)])
    singles = [designer.act(observations[b : b + 1], [np.random.default_rng(1 + b)])[0] for b in range(2)]
    np.testing.assert_array_equal(batch, np.stack(singles))


@pytest.mark.parametrize("name", TINY)
def test_reads_only_the_filled_rows(name, observations):
    obs = observations[:1].copy()
    before = obs.copy()
    designer = TINY[name]()
    action = designer.act(obs, [np.random.default_rng(3)])
    np.testing.assert_array_equal(obs, before)  # the observation is not written to
    empty = obs[0, :, 0, 2] == 0
    obs[0, empty, :, :2] = 123.0  # garbage in the unfilled rows changes nothing
    np.testing.assert_array_equal(designer.act(obs, [np.random.default_rng(3)]), action)


def test_ss_finite_targets_one_end_of_the_uncertain_edge():
    particles = _edge_only_uncertainty()
    for seed in range(3):
        action = SSFiniteDesigner(n_outcomes=8).design_from_particles(particles, np.random.default_rng(seed))
        targets = set(np.flatnonzero(action[:, 0] > 0))
        assert targets in ({0}, {1})  # one endpoint; both ends, or the bystanders, reveal nothing
        assert abs(action[min(targets), 1]) == 1.0


def test_diffcbed_targets_exactly_one_end_of_the_uncertain_edge():
    particles = _edge_only_uncertainty()
    designer = DiffCBEDDesigner(n_outcomes=4, n_steps=30, n_restarts=2)
    for seed in range(3):
        action = designer.design_from_particles(particles, np.random.default_rng(seed))
        assert (action[:2, 0] > 0).sum() == 1
        hit = int(np.flatnonzero(action[:2, 0] > 0)[0])
        assert abs(action[hit, 1]) > 0.5  # a large value separates the two directions best


def test_information_prefers_an_informative_design_over_none():
    particles = _edge_only_uncertainty()
    eps = np.random.default_rng(0).standard_normal((2, 16, D))
    targets = np.zeros((5, D), dtype=bool)
    targets[1, 0] = targets[2, 1] = targets[3, [0, 1]] = targets[4, 2] = True
    info = particle_information(particles, targets, 1.0 * targets, eps)
    assert info[0] == pytest.approx(0.0, abs=1e-9)  # observational: the two particles are equivalent
    assert info[3] == pytest.approx(0.0, abs=1e-9) and info[4] == pytest.approx(0.0, abs=1e-9)
    assert info[1] > 0.05 and info[2] > 0.05
    assert np.all(info <= np.log(2) + 1e-9)


def test_gies_particles_merge_duplicates(observations):
    values, intervened = history(observations[0])
    assert values.shape == intervened.shape == (21, D)
    for weighting in ("uniform", "likelihood"):
        p = gies_particles(np.random.default_rng(0), values, intervened, n_boot=4, weighting=weighting)
        assert len(np.unique(p.dags.reshape(len(p.dags), -1), axis=0)) == len(p.dags) <= 4
        assert np.exp(p.log_prior).sum() == pytest.approx(1.0)
        assert p.weights.shape == (len(p.dags), D, D) and p.noise.shape == (len(p.dags), D)
    with pytest.raises(ValueError, match="unknown weighting 'bic'; valid choices: uniform, likelihood"):
        gies_particles(np.random.default_rng(0), values, intervened, weighting="bic")


def test_for_config_reads_value_scale_and_rows_per_step():
    config = CausalLinearConfig(num_nodes=D, value_scale=2.0, samples_per_step=2)
    for cls in (SSFiniteDesigner, DiffCBEDDesigner):
        designer = cls.for_config(config, n_boot=2)
        assert (designer.value_scale, designer.k, designer.n_boot) == (2.0, 2, 2)
    action = SSFiniteDesigner.for_config(config, n_outcomes=4).design_from_particles(
        _edge_only_uncertainty(), np.random.default_rng(0)
    )
    assert set(np.flatnonzero(action[:, 0] > 0)) in ({0}, {1})


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"n_boot": 0}, "n_boot must be an integer >= 1"),
        ({"n_outcomes": 2.5}, "n_outcomes must be an integer >= 1"),
        ({"max_targets": 0}, "max_targets must be an integer >= 1"),
        ({"values": (0.5, 2.0)}, r"values must be a non-empty grid of action values in \[-1, 1\]"),
        ({"values": ()}, "values must be a non-empty grid"),
        ({"min_gain": -1.0}, "min_gain must be a finite number >= 0"),
        ({"weighting": "bic"}, "unknown weighting 'bic'; valid choices: uniform, likelihood"),
        ({"value_scale": 0.0}, "value_scale must be a finite number > 0"),
    ],
)
def test_ss_finite_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SSFiniteDesigner(**kwargs)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"n_steps": 0}, "n_steps must be an integer >= 1"),
        ({"n_restarts": True}, "n_restarts must be an integer >= 1"),
        ({"n_eval_outcomes": -3}, "n_eval_outcomes must be an integer >= 1"),
        ({"max_targets": 0}, "max_targets must be an integer >= 1"),
        ({"temperature": 0.0}, "temperature must be a finite number > 0"),
        ({"learning_rate": float("nan")}, "learning_rate must be a finite number > 0"),
        ({"weighting": "bic"}, "unknown weighting 'bic'; valid choices: uniform, likelihood"),
    ],
)
def test_diffcbed_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        DiffCBEDDesigner(**kwargs)


@pytest.mark.parametrize("name", TINY)
def test_needs_one_generator_per_history(name, observations):
    with pytest.raises(ValueError, match="need one generator per history, got 1 for 2"):
        TINY[name]().act(observations, [np.random.default_rng(0)])


def test_diffcbed_caps_the_targets():
    action = DiffCBEDDesigner(n_outcomes=4, n_steps=10, n_restarts=2, max_targets=1).design_from_particles(
        _edge_only_uncertainty(), np.random.default_rng(0)
    )
    assert (action[:, 0] > 0).sum() <= 1


@pytest.mark.parametrize("name", TINY)
def test_refit_carries_resamples_along_an_episode(name):
    """With ``refit``, a designer that ran an episode from its start gives the same designs every time."""

    def run(designer):
        env = gym.make("CausalLinear-v0", num_nodes=D, n_initial=20, budget=3)
        obs, _ = env.reset(seed=4)
        rng, actions = np.random.default_rng(9), []
        for _ in range(3):
            actions.append(designer.act(obs[None], [rng])[0])
            obs, *_ = env.step(actions[-1])
        return np.stack(actions)

    first = run(TINY[name](refit=1))
    np.testing.assert_array_equal(run(TINY[name](refit=1)), first)
    assert np.all(np.abs(first) <= 1)
    with pytest.raises(ValueError, match=r"refit must be None or an integer in \[1, n_boot = 3\], got 4"):
        TINY[name](refit=4)
