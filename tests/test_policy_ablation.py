"""benchmarks.policy_ablation: statistics averaged over the variables, and half-policy designs."""

import numpy as np
import pytest
import torch as th

from benchmarks.policy_ablation import (
    HalfPolicy,
    MeanOverVariables,
    RandomSigns,
    ablation_table,
    without_statistics,
)
from caasl_agents.common.posterior_features import FEATURE_NAMES
from caasl_agents.evaluation import PolicyStrategy
from caasl_gym.evaluation import VALIDATION

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def pf_policy(tmp_path_factory):
    """A tiny SergioKnockout-v0 policy that reads three posterior statistics (trained a few steps, saved, loaded)."""
    from caasl_agents.common.vec_env import make_vec_env
    from caasl_agents.redq import REDQ
    from caasl_agents.train_config import TrainConfig

    th.manual_seed(0)
    cfg = TrainConfig(env="SergioKnockout-v0", posterior_features="sergio", batch_size=8, learning_starts=8,
                      posterior_stats=["in_mass", "out_mass", "log_targeted"], n_critics=2, critic_encoder="shared",
                      embed_dim=8, n_layers=1, n_heads=2, ff_mult=1, n_envs=2, pi_arch=[16], qf_arch=[16])  # fmt: skip
    venv = make_vec_env(cfg.env, 2, seed=0)
    model = REDQ("TransformerPolicy", venv, **cfg.model_kwargs())
    model.learn(12)
    venv.close()
    path = tmp_path_factory.mktemp("pf") / "model.zip"
    model.save(path)
    return REDQ.load(path, device="cpu")


def test_mean_over_variables_flattens_only_the_named_columns():
    stats = th.arange(2 * 3 * len(FEATURE_NAMES), dtype=th.float64).reshape(2, 3, -1) ** 1.5
    out = MeanOverVariables(lambda obs: stats, ["out_mass", "in_mass"])(None)
    for k, name in enumerate(FEATURE_NAMES):
        if name in ("in_mass", "out_mass"):
            th.testing.assert_close(out[..., k], stats[..., k].mean(dim=1, keepdim=True).expand(2, 3))
        else:
            th.testing.assert_close(out[..., k], stats[..., k])
    assert not th.equal(out, stats)  # the input is not modified in place: it was cloned
    with pytest.raises(ValueError, match="unknown posterior statistics"):
        MeanOverVariables(lambda obs: stats, ["nope"])


def test_without_statistics_changes_the_copy_only(pf_policy):
    obs = np.random.default_rng(0).uniform(0, 3, size=(1, 60, 10, 3)).astype(np.float32)
    obs[..., 1] = obs[..., 1] > 2.5
    obs[:, :20, :, 2], obs[:, 20:, :, 2] = 1.0, 0.0
    before = PolicyStrategy(pf_policy, True).act(obs, [np.random.default_rng(1)])
    variant = without_statistics(pf_policy, ["in_mass", "out_mass"])
    mean = variant.actor.get_action_dist_params(th.as_tensor(obs))[0]
    assert not th.allclose(mean, pf_policy.policy.actor.get_action_dist_params(th.as_tensor(obs))[0])
    np.testing.assert_array_equal(PolicyStrategy(pf_policy, True).act(obs, [np.random.default_rng(1)]), before)
    with pytest.raises(ValueError, match="does not read \\['in_uncertainty'\\]; it reads: in_mass, out_mass, log"):
        without_statistics(pf_policy, ["in_uncertainty"])


def test_half_policies_keep_their_half_of_the_policy_design(pf_policy):
    obs = np.zeros((2, 60, 10, 3), dtype=np.float32)
    obs[:, :20, :, 2] = 1.0
    obs[:, :20, :, 0] = np.random.default_rng(0).poisson(3.0, size=(2, 20, 10))
    full = PolicyStrategy(pf_policy).act(obs, [np.random.default_rng(s) for s in (3, 4)])
    for part, column in (("targets", 0), ("values", 1)):
        half = HalfPolicy(pf_policy, part).act(obs, [np.random.default_rng(s) for s in (3, 4)])
        np.testing.assert_array_equal(half[..., column], full[..., column])
        assert not np.allclose(half[..., 1 - column], full[..., 1 - column])
        assert half.min() >= -1 and half.max() <= 1
    with pytest.raises(ValueError, match="keep must be one of targets, values"):
        HalfPolicy(pf_policy, "both")


def test_random_signs_keep_the_targets_and_the_size_of_the_values(pf_policy):
    obs = np.zeros((2, 60, 10, 3), dtype=np.float32)
    obs[:, :20, :, 2] = 1.0
    obs[:, :20, :, 0] = np.random.default_rng(0).poisson(3.0, size=(2, 20, 10))
    for deterministic in (False, True):
        full = PolicyStrategy(pf_policy, deterministic).act(obs, [np.random.default_rng(s) for s in (3, 4)])
        signed = RandomSigns(pf_policy, deterministic).act(obs, [np.random.default_rng(s) for s in (3, 4)])
        np.testing.assert_array_equal(signed[..., 0], full[..., 0])
        np.testing.assert_array_equal(np.abs(signed[..., 1]), np.abs(full[..., 1]))
        assert 0 < (np.sign(signed[..., 1]) != np.sign(full[..., 1])).sum() < signed[..., 1].size


def test_the_table_has_a_row_per_variant_and_mode(pf_policy):
    table = ablation_table(pf_policy, "SergioKnockout-v0", [["in_mass"]], 2, VALIDATION.start + 200_000)
    assert table.variant.tolist() == (["policy"] * 2 + ["without in_mass"] * 2 + ["targets only", "values only"]
                                      + ["random signs"] * 2)  # fmt: skip
    assert table.designs.tolist() == ["sampled", "deterministic"] * 2 + ["sampled"] * 3 + ["deterministic"]
    assert np.isfinite(table.gain_vs_random).all()
    with pytest.raises(ValueError, match="ablation seeds"):
        ablation_table(pf_policy, "SergioKnockout-v0", [], 2, 0)
