"""caasl_gym.reward.IgnoreFullInterventions: rows that intervene on every variable leave the posterior as it is."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from benchmarks.null_experiment import null_table, score_changes
from caasl_gym.evaluation import VALIDATION
from caasl_gym.reward import IgnoreFullInterventions, RewardWeightsError, load_reward_model

TINY = dict(num_nodes=4, n_initial=6, budget=2)


def sergio_history(env_kwargs=TINY, seed=0):
    """A SergioKnockout-v0 history ``(1, N, d, 3)`` after one step that knocks out the first gene only (a fixed
    design: a sampled one would knock out every gene, the case under test, one time in 2^d)."""
    env = gym.make("SergioKnockout-v0", **env_kwargs)
    env.reset(seed=seed)
    action = np.stack([-np.ones(env.action_space.shape[0]), np.zeros(env.action_space.shape[0])], -1)
    action[0, 0] = 1.0
    obs, *_ = env.step(action.astype(np.float32))
    env.close()
    return obs[None]


def test_full_knockout_rows_are_padding_and_other_rows_are_left_alone():
    sergio = load_reward_model("sergio")
    guarded = IgnoreFullInterventions(sergio)
    assert guarded.domain == sergio.domain
    obs = sergio_history()
    filled = obs[..., 0, 2] > 0
    values, intervened = obs[..., 0], obs[..., 1] > 0
    np.testing.assert_array_equal(
        guarded.edge_probabilities(values, intervened, filled), sergio.edge_probabilities(values, intervened, filled)
    )
    # append three rows that knock out every gene (all-zero counts): the guarded posterior does not move
    n = int(filled.sum())
    more_values = np.concatenate([values[:, :n], np.zeros((1, 3, 4))], axis=1)
    more_iv = np.concatenate([intervened[:, :n], np.ones((1, 3, 4), bool)], axis=1)
    before = sergio.edge_probabilities(values[:, :n], intervened[:, :n])
    np.testing.assert_allclose(guarded.edge_probabilities(more_values, more_iv), before, atol=1e-5)
    assert np.abs(sergio.edge_probabilities(more_values, more_iv) - before).max() > 1e-4  # the flaw it guards
    # a history of such rows only keeps them
    only = guarded.edge_probabilities(np.zeros((1, 2, 4)), np.ones((1, 2, 4), bool))
    assert only.shape == (1, 4, 4) and np.isfinite(only).all()


def test_bad_input_names_the_problem():
    with pytest.raises(ValueError, match="edge_probabilities"):
        IgnoreFullInterventions(object())
    guarded = IgnoreFullInterventions(load_reward_model("sergio"))
    with pytest.raises(ValueError, match="shape of values"):
        guarded.edge_probabilities(np.zeros((1, 3, 4)), np.zeros((1, 3, 5), bool))
    with pytest.raises(ValueError, match=r"mask must have shape \(1, 3\)"):
        guarded.edge_probabilities(np.zeros((1, 3, 4)), np.zeros((1, 3, 4), bool), np.ones((1, 2), bool))


def test_a_guarded_env_pays_nothing_for_the_null_experiment():
    guarded = IgnoreFullInterventions(load_reward_model("sergio"))
    changes = score_changes("SergioKnockout-v0", 4, VALIDATION.start, {**TINY, "reward_model": guarded})
    np.testing.assert_allclose(changes[..., 0], 0.0, atol=1e-5)
    table = null_table(["SergioKnockout-v0"], ["default"], 3, VALIDATION.start, TINY, guard=True)
    assert list(table.reward_model.unique()) == ["default", "default, guarded"]
    null = table[(table.design == "null experiment") & (table.reward_model == "default, guarded")]
    assert abs(float(null.change_per_design.iloc[0])) < 1e-5


def test_a_guarded_shipped_model_by_name_works_in_json_env_kwargs():
    guarded = load_reward_model("sergio-guarded")
    assert isinstance(guarded, IgnoreFullInterventions) and guarded.domain == "sergio"
    env = gym.make("SergioKnockout-v0", reward_model="sergio-guarded", **TINY)
    assert "sergio-guarded" in env.spec.to_json()
    env.reset(seed=3)
    full = np.stack([np.ones(4), np.zeros(4)], axis=-1).astype(np.float32)
    _, reward, *_ = env.step(full)
    env.close()
    assert abs(reward) < 1e-5
    with pytest.raises(RewardWeightsError, match=r"a shipped name \+ .-guarded."):
        load_reward_model("nope-guarded")
