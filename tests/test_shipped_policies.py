"""The policies shipped as package data: intact, reproducible from their sidecar, usable on every id."""

import hashlib
import shlex

import gymnasium as gym
import numpy as np
import pytest

import caasl_gym
from caasl_agents import available_pretrained, load_pretrained, predict_any_d
from caasl_agents.common.cli import parse_config
from caasl_agents.evaluation import gain_of
from caasl_agents.imitate import ImitateConfig
from caasl_agents.pretrained import PACKAGE_DIR, pretrained_info
from caasl_agents.train import TrainConfig
from caasl_gym.registration import training_id

SHIPPED = available_pretrained()


def test_the_paper_training_priors_have_policies():
    assert {"CausalLinear-v0", "SergioKnockout-v0"} <= set(SHIPPED)


@pytest.mark.parametrize("env_id", SHIPPED)
def test_sidecar_matches_the_file_and_its_command_parses(env_id):
    info = pretrained_info(env_id)
    data = (PACKAGE_DIR / f"{env_id}.zip").read_bytes()
    assert hashlib.sha256(data).hexdigest() == info["sha256"] and len(data) == info["size_bytes"]
    assert len(data) < 5_000_000  # a few MB at most
    argv = shlex.split(info["command"])
    if argv[2] == "caasl_agents.imitate":  # a behaviour clone: its own CLI, no environment steps
        cfg, _ = parse_config(ImitateConfig, argv[3:])
        assert cfg.env == env_id and info["num_timesteps"] == 0 and info["imitation"]["demo_seeds"] == cfg.demo_seeds
    else:
        cfg, _ = parse_config(TrainConfig, argv[3:])
        assert cfg.env == env_id and cfg.total_timesteps == info["num_timesteps"] and cfg.seed == info["seed"]
    assert info["eval"]["episodes"] >= 100 and np.isfinite(gain_of(info["eval"])[0])  # sidecars of any vintage


@pytest.mark.parametrize("env_id", caasl_gym.ALL_IDS)
def test_shipped_policy_designs_for_every_id(env_id):
    """Every registered id, in or out of distribution, gets valid designs from its prior's policy."""
    base = training_id(env_id)
    model = load_pretrained(base)
    env = gym.make(env_id, reward_model="linear-small") if base == "CausalLinear-v0" else gym.make(env_id)
    obs, _ = env.reset(seed=0)
    action = predict_any_d(model, obs, deterministic=False, rng=np.random.default_rng(0))
    assert action.shape == env.action_space.shape and env.action_space.contains(action)
    env.step(action)
    env.close()


def test_policy_designs_benchmark_counts_targets_per_step():
    from benchmarks.policy_designs import designs

    df = designs("SergioKnockout-v0", n_envs=2)
    assert df.t.tolist() == list(range(10)) and (df.d == 10).all()
    assert ((df.fraction_targeted >= 0) & (df.fraction_targeted <= 1)).all()
    np.testing.assert_allclose(df.targets_per_step, df.fraction_targeted * 10)
    assert df.mean_abs_value.isna().all()  # knockouts have no value
    assert (df.fraction_full == 0).all()  # the shipped policy never designs the null experiment
    value = designs("CausalLinear-v0", n_envs=2, mode="deterministic", designer="value")
    assert (value.designer == "value").all() and (value.mean_abs_value.dropna() == 1.0).all()
    with pytest.raises(ValueError, match="unknown designer 'greedy'; valid choices: policy, value"):
        designs("CausalLinear-v0", n_envs=2, designer="greedy")


@pytest.mark.parametrize("env_id", SHIPPED)
def test_shipped_policies_load_with_a_deterministic_design_that_targets(env_id):
    """Zips saved before ``deterministic_design`` existed load with the coverage rule: on a history without
    targets the deterministic design is the round(sum p_i) likeliest variables (the SERGIO policy's tanh(mean)
    targeted none); after a step, the variables it targeted are discounted."""
    import torch as th

    from caasl_agents.redq.designs import target_probabilities

    model = load_pretrained(env_id)
    assert model.policy.deterministic_design == "coverage"
    env = gym.make(env_id, reward_model="linear-small") if env_id == "CausalLinear-v0" else gym.make(env_id)
    obs, _ = env.reset(seed=0)
    action = predict_any_d(model, obs)
    np.testing.assert_allclose(model.predict(obs, deterministic=True)[0], action, atol=1e-6)
    with th.no_grad():
        p = target_probabilities(*model.actor.get_action_dist_params(th.as_tensor(obs[None]))[:2], 2)[0].numpy()
    chosen = action[:, 0] > 0
    assert chosen.sum() == np.floor(p.sum() + 0.5) >= 1 and p[chosen].min() >= p[~chosen].max()
    obs, *_ = env.step(action)
    with th.no_grad():
        p = target_probabilities(*model.actor.get_action_dist_params(th.as_tensor(obs[None]))[:2], 2)[0].numpy()
    priority = p / (1.0 + chosen)  # one sample per step: each target of step 0 counts once
    again = predict_any_d(model, obs)[:, 0] > 0
    assert again.sum() == np.floor(p.sum() + 0.5) and priority[again].min() >= priority[~again].max()
    env.close()


def test_policy_designs_benchmark_reports_deterministic_designs():
    from benchmarks.policy_designs import designs

    df = designs("SergioKnockout-v0", n_envs=2, mode="deterministic")
    assert (df.designs == "deterministic").all() and (df.fraction_empty < 1).all()  # tanh(mean) targeted none
    np.testing.assert_allclose(df.targets_per_step, df.fraction_targeted * 10)
    assert np.isnan(df.fraction_repeated[0]) and df.fraction_repeated[1:].between(0, 1).all()
    assert df.fraction_repeated[1:].mean() < 1  # coverage rotates the targets (top-k repeated its design)
    with pytest.raises(ValueError, match="unknown mode 'mode'; valid choices: sampled, deterministic"):
        designs("SergioKnockout-v0", n_envs=2, mode="mode")


def test_design_rules_benchmark_scores_every_rule_paired_with_random():
    from benchmarks.design_rules import rule_table
    from caasl_agents.evaluation import PolicyStrategy
    from caasl_gym.evaluation import VALIDATION, evaluate

    table = rule_table("SergioKnockout-v0", 2, ("coverage", "mean")).set_index("designs")
    assert list(table.index) == ["sampled", "coverage", "mean"] and np.isfinite(table.gain_vs_random).all()
    default = evaluate("SergioKnockout-v0", [PolicyStrategy(load_pretrained("SergioKnockout-v0"), True)], 2,
                       VALIDATION.start)  # fmt: skip
    np.testing.assert_allclose(table.loc["coverage", "score"], default[default.t == default.t.max()].score.mean())


def test_zero_shot_rate_benchmark_pairs_each_rate_with_random_at_an_unseen_d():
    from benchmarks.zero_shot_rate import main, parse_rate, rate_table
    from caasl_agents.evaluation import PolicyStrategy
    from caasl_gym.evaluation import VALIDATION, evaluate

    kwargs = {"num_nodes": 6}  # the SERGIO policy was trained at d = 10
    table = rate_table("SergioKnockout-v0", [None, 0.5], 2, kwargs)
    assert list(zip(table.zero_shot_rate, table.designs)) == [
        ("own", "sampled"), ("own", "deterministic"), ("0.5", "sampled"), ("0.5", "deterministic")
    ]  # fmt: skip
    model = load_pretrained("SergioKnockout-v0")
    model.policy.zero_shot_rate = None
    own = evaluate("SergioKnockout-v0", [PolicyStrategy(model, True)], 2, VALIDATION.start, kwargs)
    np.testing.assert_allclose(table.score[1], own[own.t == own.t.max()].score.mean())
    assert table.score[1] != table.score[3]  # the rescaled rate designs differently at d = 6
    assert parse_rate("own") is None and parse_rate("0.7") == 0.7
    with pytest.raises(SystemExit):
        main(["--rates", "1.5"])
