"""The posterior-statistic targets heuristic: which variables it picks, coverage, validation, every domain."""

import gymnasium as gym
import numpy as np
import pytest

import caasl_gym  # noqa: F401  (registers the ids)
from caasl_gym.baselines.posterior_targets import CRITERIA, PosteriorTargets
from caasl_gym.evaluation import VALIDATION, rollout
from caasl_gym.registration import config_for


class FixedPosterior:
    """A reward model stand-in whose edge probabilities ignore the data."""

    def __init__(self, probs: np.ndarray) -> None:
        self.probs = probs
        self.calls: list[tuple] = []

    def edge_probabilities(self, values, intervened, mask=None):
        self.calls.append((values.shape, intervened.dtype, None if mask is None else mask.shape))
        return np.broadcast_to(self.probs, (len(values), *self.probs.shape)).copy()


def _obs(batch: int, d: int, targeted: dict[int, int] | None = None) -> np.ndarray:
    """``(batch, 6, d, 3)`` histories with 4 filled rows; row ``r`` targets variable ``targeted[r]``."""
    obs = np.zeros((batch, 6, d, 3), dtype=np.float32)
    obs[:, :4, :, 2] = 1.0
    obs[:, :4, :, 0] = 0.5
    for row, var in (targeted or {}).items():
        obs[:, row, var, 1] = 1.0
    return obs


# p[i, j] = P(i -> j): variable 2 has the most expected parents, variable 1 the most uncertain parent set
PROBS = np.array([[0.0, 0.5, 0.9, 0.0], [0.0, 0.0, 0.9, 0.0], [0.0, 0.5, 0.0, 0.0], [0.1, 0.5, 0.9, 0.0]])
RNGS = [np.random.default_rng(0), np.random.default_rng(1)]


@pytest.mark.parametrize(("criterion", "chosen"), [("parents", 2), ("uncertainty", 1)])
def test_targets_the_variable_with_the_largest_statistic(criterion, chosen):
    model = FixedPosterior(PROBS)
    actions = PosteriorTargets(model, criterion).act(_obs(2, 4), RNGS)
    assert actions.shape == (2, 4, 2) and actions.dtype == np.float32
    np.testing.assert_array_equal(actions[..., 0] > 0, np.eye(4, dtype=bool)[[chosen, chosen]])
    assert np.all(np.abs(actions[..., 1]) <= 1)
    (values_shape, dtype, mask_shape) = model.calls[0]
    assert values_shape == (2, 6, 4) and dtype == np.bool_ and mask_shape == (2, 6)  # the filled rows only


def test_coverage_discounts_variables_already_targeted():
    designer = PosteriorTargets(FixedPosterior(PROBS), "parents")
    # variable 2 (score 2.7) targeted in two rows: 2.7 / 3 = 0.9 < 1.5, variable 1's undiscounted score
    actions = designer.act(_obs(2, 4, {0: 2, 1: 2}), RNGS)
    assert np.all(actions[:, 1, 0] > 0) and np.all((actions[..., 0] > 0).sum(axis=1) == 1)


def test_k_targets_and_the_values_come_from_each_episode_generator():
    designer = PosteriorTargets(FixedPosterior(PROBS), "parents", k=2)
    first = designer.act(_obs(2, 4), [np.random.default_rng(3), np.random.default_rng(4)])
    np.testing.assert_array_equal(first[0, :, 0] > 0, [False, True, True, False])
    again = designer.act(_obs(2, 4), [np.random.default_rng(3), np.random.default_rng(9)])
    np.testing.assert_array_equal(first[0], again[0])
    assert not np.array_equal(first[1, :, 1], again[1, :, 1])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"criterion": "entropy"}, "unknown criterion 'entropy'; valid choices: parents, uncertainty"),
        ({"k": 0}, "k must be an integer >= 1"),
        ({"k": 1.5}, "k must be an integer >= 1"),
    ],
)
def test_bad_arguments_name_the_problem(kwargs, match):
    with pytest.raises(ValueError, match=match):
        PosteriorTargets(FixedPosterior(PROBS), **kwargs)


def test_a_model_without_edge_probabilities_is_refused():
    with pytest.raises(ValueError, match="edge_probabilities"):
        PosteriorTargets(object())


def test_more_targets_than_variables_is_refused():
    with pytest.raises(ValueError, match="k = 5 targets per step exceeds the 4 variables"):
        PosteriorTargets(FixedPosterior(PROBS), k=5).act(_obs(1, 4), RNGS[:1])


@pytest.mark.parametrize("env_id", ["CausalLinear-v0", "SergioKnockout-v0"])
@pytest.mark.parametrize("criterion", CRITERIA)
def test_runs_on_the_env_reward_model_single_targets_and_repeatable(env_id, criterion):
    kwargs = {"num_nodes": 4, "n_initial": 10, "budget": 3}
    if env_id == "CausalLinear-v0":
        kwargs["reward_model"] = "linear"  # the shipped amortized model, fast at any d
    designer = PosteriorTargets.for_config(config_for(env_id, **kwargs), criterion=criterion)
    first = rollout(env_id, designer, 2, VALIDATION.start, kwargs, record_actions=True)
    again = rollout(env_id, designer, 2, VALIDATION.start, kwargs, record_actions=True)
    np.testing.assert_array_equal(first.score, again.score)
    targets = first.actions[..., 0] > 0
    assert np.all(targets.sum(axis=-1) == 1)


def test_registered_ids_accept_it_as_a_strategy():
    venv = gym.make_vec("SergioKnockout-v0", num_envs=1, num_nodes=3, n_initial=5, budget=2)
    obs, _ = venv.reset(seed=0)
    designer = PosteriorTargets.for_config(config_for("SergioKnockout-v0", num_nodes=3))
    obs, *_ = venv.step(designer.act(obs, RNGS[:1]))
    assert obs[0, :, 0, 2].sum() == 6
    venv.close()


def test_a_batch_designs_as_its_histories_one_by_one():
    venv = gym.make_vec("SergioKnockout-v0", num_envs=2, num_nodes=5, n_initial=8, budget=3)
    obs, _ = venv.reset(seed=3)
    obs, *_ = venv.step(np.random.default_rng(0).uniform(-1, 1, venv.action_space.shape))
    venv.close()
    designer = PosteriorTargets.for_config(config_for("SergioKnockout-v0", num_nodes=5), criterion="uncertainty")
    batch = designer.act(obs, [np.random.default_rng(1), np.random.default_rng(2)])
    single = [designer.act(obs[b : b + 1], [np.random.default_rng(1 + b)])[0] for b in range(2)]
    np.testing.assert_array_equal(batch, np.stack(single))
