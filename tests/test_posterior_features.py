"""Posterior features of the policies' encoders: the statistics, their cache, the encoders and a saved policy."""

import gymnasium as gym
import numpy as np
import pytest
import torch as th
from gymnasium import spaces

import caasl_gym  # noqa: F401  (registers the ids)
from caasl_agents.common.posterior_features import FEATURE_NAMES, PosteriorFeatures, posterior_features
from caasl_agents.common.torch_layers import AlternatingAttentionEncoder, TransformerExtractor
from caasl_agents.train_config import TrainConfig
from caasl_gym.baselines.posterior_targets import PosteriorTargets
from caasl_gym.envs.scoring import resolve_reward_model

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def sergio_histories(n_steps: int = 2, seed: int = 0) -> np.ndarray:
    """``(2, N, 10, 3)`` SergioKnockout-v0 histories after ``n_steps`` random designs."""
    batch = []
    for k in range(2):
        env = gym.make("SergioKnockout-v0")
        obs, _ = env.reset(seed=seed + k)
        env.action_space.seed(seed + k)
        for _ in range(n_steps):
            obs, *_ = env.step(env.action_space.sample())
        batch.append(obs)
        env.close()
    return np.stack(batch)


@pytest.fixture(scope="module")
def histories() -> np.ndarray:
    return sergio_histories()


def test_statistics_are_the_sums_of_the_reward_models_edge_probabilities(histories):
    model = resolve_reward_model("sergio")
    filled = histories[:, :, 0, 2] > 0
    probs = model.edge_probabilities(histories[..., 0], histories[..., 1] > 0, filled)  # (B, d, d), i -> j
    counts = (histories[..., 1] * histories[..., 2]).sum(axis=1)
    stats = PosteriorFeatures("sergio").statistics(histories.astype(np.float64))
    assert stats.shape == (2, 10, len(FEATURE_NAMES))
    column = {name: stats[..., k] for k, name in enumerate(FEATURE_NAMES)}
    np.testing.assert_allclose(column["in_mass"], probs.sum(axis=1))
    np.testing.assert_allclose(column["out_uncertainty"], (probs * (1 - probs)).sum(axis=2))
    np.testing.assert_allclose(column["log_targeted"], np.log1p(counts))
    # the Posterior-parents baseline's score is one of the features, and its choice is where the ratio is 1
    parents = PosteriorTargets(model).scores(histories)
    np.testing.assert_allclose(column["in_mass_per_target"], parents, rtol=1e-6)
    vs_max = column["in_mass_per_target_vs_max"]
    np.testing.assert_allclose(vs_max.max(axis=1), 1.0)
    np.testing.assert_array_equal(vs_max.argmax(axis=1), parents.argmax(axis=1))
    assert np.all(column["in_uncertainty_per_target_vs_max"] <= 1.0)


def test_a_history_without_filled_rows_gets_zeros(histories):
    obs = histories.copy()
    obs[1] = 0.0
    stats = PosteriorFeatures("sergio").statistics(obs.astype(np.float64))
    assert np.all(stats[1] == 0.0)
    np.testing.assert_allclose(stats[0], PosteriorFeatures("sergio").statistics(histories[:1].astype(np.float64))[0])


def test_the_cache_returns_the_same_features_only_for_the_same_unmodified_tensor(histories):
    features = PosteriorFeatures("sergio")
    calls = []
    compute = features.statistics
    features.statistics = lambda x: calls.append(x.shape) or compute(x)
    obs = th.tensor(histories)  # a copy: modified below
    first = features(obs)
    again = features(obs)
    assert len(calls) == 1
    th.testing.assert_close(first, again)
    features(obs.clone())  # another tensor with the same values: computed again
    assert len(calls) == 2
    obs[0, 0, 0, 0] += 50.0  # modified in place: computed again, and different
    changed = features(obs)
    assert len(calls) == 3
    assert not th.equal(changed, first)
    with th.inference_mode():
        inference = th.as_tensor(histories)
        th.testing.assert_close(features(inference), first)


def test_a_copied_or_pickled_encoder_shares_the_models_features(histories):
    import copy
    import pickle

    encoder = AlternatingAttentionEncoder(8, 1, 2, 1, value_transform="log1p_standardize", posterior="sergio")
    obs = th.as_tensor(histories)
    with th.no_grad():
        expected = encoder(obs)
        for clone in (copy.deepcopy(encoder), pickle.loads(pickle.dumps(encoder))):
            assert clone.posterior is posterior_features("sergio")
            th.testing.assert_close(clone(obs), expected)


def test_unknown_model_names_fail_clearly():
    with pytest.raises(ValueError, match="unknown reward model 'nope'"):
        PosteriorFeatures("nope")
    with pytest.raises(ValueError, match="reward model name"):
        PosteriorFeatures("")


@pytest.mark.parametrize(
    ("name", "message"),
    [("linear", "is a linear model, but SergioKnockout-v0 is sergio"), ("nope", "unknown reward model"),
     ("exact", "not supported")],
)  # fmt: skip
def test_train_config_checks_the_posterior_model(name, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(env="SergioKnockout-v0", posterior_features=name)
    kwargs = TrainConfig(env="SergioKnockout-v0", posterior_features="sergio").policy_kwargs()
    assert kwargs["features_extractor_kwargs"]["posterior"] == "sergio"
    assert "posterior" not in TrainConfig(env="SergioKnockout-v0").policy_kwargs()["features_extractor_kwargs"]


def test_encoder_with_posterior_stays_equivariant_and_runs_at_any_d(histories):
    th.manual_seed(0)
    encoder = AlternatingAttentionEncoder(16, 1, 2, 2, value_transform="log1p_standardize", posterior="sergio")
    plain = AlternatingAttentionEncoder(16, 1, 2, 2, value_transform="log1p_standardize")
    plain.load_state_dict({k: v for k, v in encoder.state_dict().items() if not k.startswith("posterior_proj")})
    obs = th.as_tensor(histories)
    perm = th.randperm(10)
    with th.no_grad():
        out = encoder(obs)
        assert not th.allclose(out, plain(obs))
        th.testing.assert_close(encoder(obs[:, :, perm]), out[:, :, perm], atol=1e-4, rtol=0)
        assert encoder(obs[:, :, :6]).shape == (1, 2, 6, 16)
        encoder.posterior_proj.weight.zero_()  # without the posterior term it is the plain encoder
        encoder.posterior_proj.bias.zero_()
        th.testing.assert_close(encoder(obs), plain(obs))
    assert not any("model" in k for k in encoder.state_dict())  # the reward model is not part of the weights


def test_an_encoder_reading_a_subset_is_the_full_encoder_with_the_other_columns_unused(histories):
    subset = ["in_uncertainty", "log_targeted", "in_mass_per_target_vs_max"]
    th.manual_seed(0)
    part = AlternatingAttentionEncoder(16, 1, 2, 2, value_transform="log1p_standardize", posterior="sergio",
                                       posterior_stats=subset[::-1])  # fmt: skip
    assert part.posterior_proj.weight.shape == (1, 3, 16)  # (members, statistics, embedding)
    full = AlternatingAttentionEncoder(16, 1, 2, 2, value_transform="log1p_standardize", posterior="sergio")
    state = part.state_dict()
    columns = [FEATURE_NAMES.index(name) for name in subset]  # the subset is read in FEATURE_NAMES order
    wide = th.zeros(1, len(FEATURE_NAMES), 16)
    wide[:, columns] = state["posterior_proj.weight"]
    full.load_state_dict({**state, "posterior_proj.weight": wide})
    obs = th.as_tensor(histories)
    with th.no_grad():
        th.testing.assert_close(part(obs), full(obs))
        assert part(obs[:, :, :6]).shape == (1, 2, 6, 16)


@pytest.mark.parametrize(
    ("stats", "features", "message"),
    [(["in_mass", "nope"], "sergio", "unknown posterior statistics \\['nope'\\]; valid choices: in_mass"),
     (["in_mass", "in_mass"], "sergio", "must not repeat"),
     (["in_mass"], "", "posterior_stats needs posterior_features")],
)  # fmt: skip
def test_train_config_checks_the_posterior_statistics(stats, features, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(env="SergioKnockout-v0", posterior_features=features, posterior_stats=stats)
    kwargs = TrainConfig(env="SergioKnockout-v0", posterior_features="sergio", posterior_stats=["out_mass", "in_mass"])
    assert kwargs.policy_kwargs()["features_extractor_kwargs"]["posterior_stats"] == ["in_mass", "out_mass"]
    kwargs = TrainConfig(env="SergioKnockout-v0", posterior_features="sergio").policy_kwargs()
    assert "posterior_stats" not in kwargs["features_extractor_kwargs"]  # all of them, as zips saved before


def test_extractor_passes_the_posterior_on(histories):
    space = spaces.Box(0, np.inf, histories.shape[1:], np.float32)
    extractor = TransformerExtractor(space, features_dim=8, n_layers=1, n_heads=2, posterior="sergio")
    assert extractor.encoder.posterior is posterior_features("sergio")
    assert extractor(th.as_tensor(histories)).shape == (2, 10, 8)


@pytest.mark.parametrize("stats", [[], ["out_uncertainty", "log_targeted"]])
def test_a_policy_with_posterior_features_trains_saves_and_loads(tmp_path, histories, stats):
    from caasl_agents.common.vec_env import make_vec_env
    from caasl_agents.redq import REDQ

    cfg = TrainConfig(env="SergioKnockout-v0", posterior_features="sergio", posterior_stats=stats,
                      batch_size=8, learning_starts=8,
                      n_critics=2, critic_encoder="shared", embed_dim=8, n_layers=1, n_heads=2, ff_mult=1,
                      n_envs=2, pi_arch=[16], qf_arch=[16])  # fmt: skip
    venv = make_vec_env(cfg.env, 2, seed=0)
    model = REDQ("TransformerPolicy", venv, **cfg.model_kwargs())
    model.learn(12)
    assert model.critic.encoder.posterior is model.actor.features_extractor.encoder.posterior
    model.save(tmp_path / "m.zip")
    loaded = REDQ.load(tmp_path / "m.zip", device="cpu")
    assert loaded.policy.actor.features_extractor.encoder.posterior.name == "sergio"
    n_stats = len(stats) or len(FEATURE_NAMES)
    for encoder in (loaded.policy.actor.features_extractor.encoder, loaded.critic.encoder):
        assert encoder.posterior_proj.weight.shape[1] == n_stats
    a, _ = model.predict(histories, deterministic=True)
    b, _ = loaded.predict(histories, deterministic=True)
    np.testing.assert_array_equal(a, b)
    venv.close()
