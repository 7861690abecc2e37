"""caasl_gym.evaluation: batched rollout, strategies, paired statistics and seed families."""

import itertools

import gymnasium as gym
import numpy as np
import pandas as pd
import pytest
import torch as th
from scipy import stats

from caasl_gym.evaluation import (
    FAMILIES,
    TEST,
    TRAIN,
    VALIDATION,
    ObservationalStrategy,
    RandomStrategy,
    Strategy,
    check_in_family,
    evaluate,
    family_of,
    final,
    mean_ci95,
    paired_difference,
    rollout,
    strategy_rngs,
    summarize,
)

SMALL = dict(num_nodes=4, n_initial=6, budget=3)
"""CausalLinear-v0 with d = 4 (the exact posterior, fast) and T = 3."""
TOY = "caasl_agents.common.envs:caasl_agents/ToyDesign-v0"


class RoundRobin:
    """Targets variable ``t mod d`` at step ``t`` with value 1 (a custom strategy, no randomness)."""

    name = "RoundRobin"

    def act(self, obs, rngs):
        B, _, d, _ = obs.shape
        t = int(obs[0, :, 0, 2].sum()) - SMALL["n_initial"]  # design steps so far (the same in every copy)
        action = -np.ones((B, d, 2), np.float32)
        action[:, t % d] = (1.0, 1.0)
        return action


@pytest.fixture(scope="module")
def policy_path(tmp_path_factory):
    from caasl_agents import REDQ, make_vec_env

    threads = th.get_num_threads()
    th.set_num_threads(1)
    path = tmp_path_factory.mktemp("policy") / "p.zip"
    env = make_vec_env("CausalLinear-v0", 2, seed=0, env_kwargs=SMALL)
    kwargs = dict(features_extractor_kwargs=dict(features_dim=8, n_layers=1, n_heads=2), n_critics=2)
    REDQ("TransformerPolicy", env, buffer_size=50, seed=0, device="cpu", policy_kwargs=kwargs).save(path)
    yield path
    th.set_num_threads(threads)


def test_results_do_not_depend_on_the_batch_size(policy_path):
    from caasl_agents import REDQ
    from caasl_agents.evaluation import PolicyStrategy

    model = REDQ.load(policy_path, device="cpu")
    for strategy in [RandomStrategy(), PolicyStrategy(model, deterministic=True), PolicyStrategy(model)]:
        one, four = (
            rollout("CausalLinear-v0", strategy, 5, TEST.start, SMALL, metrics=True, record_actions=True, chunk_size=c)
            for c in (1, 4)
        )
        np.testing.assert_array_equal(one.actions, four.actions)  # identical designs
        np.testing.assert_allclose(one.score, four.score, atol=1e-6, rtol=0)
        np.testing.assert_allclose(one.metrics["expected_shd"], four.metrics["expected_shd"], atol=1e-6, rtol=0)
        assert one.score.shape == (5, SMALL["budget"] + 1) and one.actions.shape == (5, SMALL["budget"], 4, 2)
        np.testing.assert_array_equal(one.seeds, TEST.start + np.arange(5))
    # batched=True: one forward pass per step; noise still drawn per copy, actions equal up to float batch effects
    # (compared with the sampled policy's rollout, the loop's last)
    batched = rollout("CausalLinear-v0", PolicyStrategy(model, batched=True), 5, TEST.start, SMALL, record_actions=True)
    np.testing.assert_allclose(batched.actions, one.actions, atol=1e-5)


def test_rollout_replays_single_env_episodes_with_per_episode_generators():
    """Episode i of the batched rollout is the single env seeded seed_base + i, run with its own generator."""
    out = rollout("CausalLinear-v0", RandomStrategy(), 3, TEST.start, SMALL)
    env = gym.make("CausalLinear-v0", **SMALL)
    for i, seed in enumerate(range(TEST.start, TEST.start + 3)):
        obs, info = env.reset(seed=seed)
        (rng,) = strategy_rngs([seed])
        scores, done = [info["score"]], False
        while not done:
            obs, _, terminated, truncated, info = env.step(RandomStrategy().act(obs[None], [rng])[0])
            scores.append(info["score"])
            done = terminated or truncated
        np.testing.assert_allclose(out.score[i], scores, atol=1e-6, rtol=0)
    env.close()


def test_paired_episodes_summary_and_gain():
    episodes = evaluate("CausalLinear-v0", [RandomStrategy(), ObservationalStrategy()], 4, TEST.start, SMALL)
    assert set(episodes.columns) >= {"env_id", "strategy", "episode", "seed", "t", "score", "design_seconds"}
    t0 = episodes[episodes.t == 0].pivot(index="episode", columns="strategy", values="score")
    np.testing.assert_array_equal(t0["Random"], t0["Observational"])  # same hidden models and initial data
    table = final(summarize(episodes)).set_index("strategy")
    last = episodes[episodes.t == SMALL["budget"]].pivot(index="episode", columns="strategy", values="score")
    gain = last["Observational"] - last["Random"]
    assert table.loc["Observational", "gain"] == pytest.approx(gain.mean())
    assert table.loc["Observational", "score"] == pytest.approx(last["Observational"].mean())
    assert np.isnan(table.loc["Random", "gain"]) and (table.t == SMALL["budget"]).all()
    assert (table.design_seconds >= 0).all() and (table.design_cpu_seconds >= 0).all()


def test_paired_statistics_by_hand():
    x = np.array([1.0, 2.0, 4.0, 7.0])
    ref = np.array([0.5, 2.5, 3.0, 5.0])
    diff = x - ref  # 0.5, -0.5, 1, 2: mean 0.75, sample sd sqrt(1.0833...)
    half = stats.t.ppf(0.975, 3) * np.sqrt(np.sum((diff - 0.75) ** 2) / 3) / 2
    assert paired_difference(x, ref) == pytest.approx((0.75, half))
    assert mean_ci95([3.0, np.nan, 5.0]) == pytest.approx((4.0, stats.t.ppf(0.975, 1) * np.sqrt(2) / np.sqrt(2)))
    assert np.isnan(mean_ci95([1.0])[1]) and np.isnan(mean_ci95([])[0])
    with pytest.raises(ValueError, match="same shape"):
        paired_difference(x, ref[:3])


def test_seed_families_are_disjoint_and_hold_the_committed_seeds():
    for a, b in itertools.pairwise(FAMILIES):
        assert a.start < a.stop <= b.start < b.stop  # ordered, non-empty, disjoint
    assert TRAIN.start == 0 and VALIDATION.start == 1_000_000 and TEST.start == 10_000_000
    assert family_of(0) is TRAIN and family_of(1_000_099) is VALIDATION and family_of(10_000_099) is TEST
    check_in_family(range(TEST.start, TEST.start + 100), TEST)  # the committed benchmarks' episodes
    with pytest.raises(ValueError, match=r"seeds 9999998..10000002 must lie in the validation family 1000000\.\."):
        check_in_family(range(9_999_998, 10_000_003), VALIDATION)
    with pytest.raises(ValueError, match="no seed family"):
        family_of(-1)


def test_train_cli_checks_the_seed_families(tmp_path):
    from caasl_agents.train import TrainConfig, _check_seeds

    assert _check_seeds(TrainConfig(seed=3, n_envs=4), session=2) == 11
    with pytest.raises(ValueError, match=r"evaluation seeds .* validation family"):
        _check_seeds(TrainConfig(eval_seed=TEST.start), 0)  # never select on the test episodes
    with pytest.raises(ValueError, match=r"training seeds .* train family"):
        _check_seeds(TrainConfig(seed=TRAIN.stop - 8, n_envs=16), 0)


def test_train_cli_evaluation_and_the_benchmarks_report_the_same_numbers(policy_path):
    """policy_record (train CLI, export, learning curves) equals benchmarks.evaluate on the same seeds."""
    from benchmarks.evaluate import run
    from caasl_agents import REDQ
    from caasl_agents.evaluation import policy_record

    model = REDQ.load(policy_path, device="cpu")
    record = policy_record(model, "CausalLinear-v0", 4, TEST.start, SMALL)
    episodes = run(["CausalLinear-v0"], [f"CAASL:{policy_path}", "Random"], 4, SMALL)
    bench = final(summarize(episodes)).set_index("strategy")
    for column in ["score", "score_ci95", "gain", "gain_ci95"]:
        assert record[column] == pytest.approx(bench.loc["CAASL", column], abs=1e-9)
    assert record["random_score"] == pytest.approx(bench.loc["Random", "score"], abs=1e-9)
    assert record["designs"] == "sampled" and record["seed_base"] == TEST.start


def test_a_custom_strategy_plugs_in():
    assert isinstance(RoundRobin(), Strategy)
    out = rollout("CausalLinear-v0", RoundRobin(), 2, VALIDATION.start, SMALL, record_actions=True)
    targets = out.actions[..., 0] > 0  # (n, T, d)
    np.testing.assert_array_equal(targets[0], np.eye(4, dtype=bool)[: SMALL["budget"]])
    assert out.design_seconds.shape == (2, SMALL["budget"]) and (out.design_seconds >= 0).all()
    assert out.design_cpu_seconds.shape == out.design_seconds.shape and (out.design_cpu_seconds >= 0).all()
    frame = out.frame("CausalLinear-v0")
    assert frame.design_seconds.isna().tolist() == [True, False, False, False] * 2
    assert frame.design_cpu_seconds.isna().tolist() == frame.design_seconds.isna().tolist()

    class WrongShape:
        name = "WrongShape"

        def act(self, obs, rngs):
            return np.zeros((obs.shape[0], obs.shape[2]))

    with pytest.raises(ValueError, match=r"'WrongShape' returned actions of shape \(2, 4\)"):
        rollout("CausalLinear-v0", WrongShape(), 2, TEST.start, SMALL)


def test_envs_without_a_native_vector_env_or_posterior():
    """The agents' toy env runs on SyncVectorEnv; its score is the reward so far, and it has no posterior."""
    import caasl_agents.common.envs  # noqa: F401  (registers the toy id)

    out = rollout(TOY, ObservationalStrategy(), 3, VALIDATION.start, {"num_nodes": 3})
    np.testing.assert_array_equal(out.score, 0.0)  # no targets, no reward
    assert rollout(TOY, RandomStrategy(), 3, VALIDATION.start, {"num_nodes": 3}).score[:, -1].max() > 0
    with pytest.raises(ValueError, match="metrics=True needs an env with edge_probabilities"):
        rollout(TOY, RandomStrategy(), 2, VALIDATION.start, {"num_nodes": 3}, metrics=True)
    with pytest.raises(ValueError, match="n_episodes and chunk_size must be >= 1"):
        rollout(TOY, RandomStrategy(), 0, VALIDATION.start)


def test_score_model_rescores_the_same_designs():
    """``score_model`` scores the histories of the env's default run with another posterior."""
    linear = {**SMALL, "reward_model": "linear"}
    default = evaluate("CausalLinear-v0", [RandomStrategy()], 2, TEST.start, linear, metrics=True)
    rescored = evaluate("CausalLinear-v0", [RandomStrategy()], 2, TEST.start, linear, metrics=True, score_model="exact")
    exact = {**SMALL, "reward_model": "exact"}
    exact = evaluate("CausalLinear-v0", [RandomStrategy()], 2, TEST.start, exact, metrics=True)
    columns = ["score", "expected_shd", "auprc", "edge_f1"]
    pd.testing.assert_frame_equal(rescored[columns], exact[columns])
    assert not np.allclose(rescored.score, default.score)


def test_round_robin_targets_each_variable_in_turn_at_any_samples_per_step():
    from caasl_gym.evaluation import RoundRobinStrategy

    for kwargs in (SMALL, {**SMALL, "samples_per_step": 2, "budget": 6}):
        out = rollout("CausalLinear-v0", RoundRobinStrategy(), 2, VALIDATION.start, kwargs, record_actions=True)
        targets = out.actions[..., 0] > 0  # (n, T, d)
        assert (targets.sum(-1) == 1).all()
        np.testing.assert_array_equal(targets[:, :, :].argmax(-1), [np.arange(kwargs["budget"]) % 4] * 2)
    assert np.abs(out.actions[..., 1]).max() <= 1.0
