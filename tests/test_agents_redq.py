"""REDQ: argument checks, batched critic ensemble, learning signal, save/load, any-d prediction."""

import gymnasium as gym
import numpy as np
import pytest
import torch as th

from caasl_agents import REDQ, make_vec_env, predict_any_d
from caasl_agents.common.envs import TOY_ENV_ID
from caasl_agents.redq.policies import MlpEnsembleCritic, TransformerEnsembleCritic

TINY_POLICY = dict(features_extractor_kwargs=dict(features_dim=16, n_layers=1, n_heads=2), net_arch=[32, 32])

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def make_model(policy="TransformerPolicy", n_envs=2, seed=0, policy_kwargs=None, **kwargs):
    env = make_vec_env(TOY_ENV_ID, n_envs, seed=seed)
    policy_kwargs = {**(TINY_POLICY if policy == "TransformerPolicy" else {}), **(policy_kwargs or {})}
    defaults = dict(buffer_size=1_000, learning_starts=16, batch_size=16, gamma=0.9, seed=seed, device="cpu")
    return REDQ(policy, env, policy_kwargs=policy_kwargs, **{**defaults, **kwargs})


def mean_return(policy_fn, n=64, seed=123):
    venv = gym.make_vec(TOY_ENV_ID, num_envs=n, vectorization_mode="sync")
    obs, _ = venv.reset(seed=seed)
    total = np.zeros(n)
    for _ in range(3):
        obs, rewards, *_ = venv.step(policy_fn(obs))
        total += rewards
    return total.mean()


@pytest.mark.parametrize("subset", [0, 3, 11])
def test_bad_critic_subset_size_raises(subset):
    with pytest.raises(ValueError, match="critic_subset_size"):
        make_model(critic_subset_size=subset, policy_kwargs=dict(n_critics=2 if subset == 3 else 10))


def test_other_bad_arguments_raise():
    with pytest.raises(ValueError, match="actor_q_reduction"):
        make_model(actor_q_reduction="median")
    with pytest.raises(ValueError, match="policy_delay"):
        make_model(policy_delay=0)
    with pytest.raises(ValueError, match="actor_warmup"):
        make_model(actor_warmup=-1)
    with pytest.raises(ValueError, match="critic_encoder"):
        make_model(policy_kwargs=dict(critic_encoder="per-critic"))
    with pytest.raises(ValueError, match="n_critics"):
        make_model(policy_kwargs=dict(n_critics=0))


@pytest.mark.parametrize(
    ("policy", "policy_kwargs"),
    [
        ("TransformerPolicy", dict(critic_encoder="separate")),
        ("TransformerPolicy", dict(critic_encoder="shared")),
        ("TransformerPolicy", dict(share_features_extractor=True)),
        ("TransformerPolicy", dict(critic_encoder="separate", critic_pooling=True)),
        ("MlpPolicy", dict(net_arch=[32, 32])),
    ],
)
def test_batched_critics_match_loop_and_train(policy, policy_kwargs):
    model = make_model(policy, policy_kwargs={"n_critics": 4, **policy_kwargs}, critic_subset_size=3)
    critic = model.critic
    expected_class = TransformerEnsembleCritic if policy == "TransformerPolicy" else MlpEnsembleCritic
    assert isinstance(critic, expected_class)
    obs = th.as_tensor(model.env.reset())
    actions = th.rand(obs.shape[0], 6) * 2 - 1
    with th.no_grad():
        q = critic(obs, actions)
        th.testing.assert_close(critic.forward_looped(obs, actions), q, atol=1e-5, rtol=0)
        members = th.tensor([2, 0])
        th.testing.assert_close(critic(obs, actions, members), q[:, members], atol=1e-5, rtol=0)
    assert q.shape == (2, 4) and not th.allclose(q[:, 0], q[:, 1])
    before = [p.detach().clone() for p in critic.q_heads.parameters()]
    model.learn(40)
    assert model._n_updates > 0
    assert all(not th.equal(a, b) for a, b in zip(before, critic.q_heads.parameters()))


@th.no_grad()
def test_pooled_critic_adds_a_whole_design_term_and_is_saved(tmp_path):
    model = make_model(policy_kwargs=dict(critic_encoder="shared", critic_pooling=True))
    critic = model.critic
    obs = th.as_tensor(model.env.reset())
    actions = th.rand(obs.shape[0], 6) * 2 - 1
    features = critic.encode(obs)
    per_variable = th.cat([features, actions.reshape(1, -1, 3, 2)], dim=-1)  # (1, B, d, D + k)
    additive = critic.q_heads(per_variable).squeeze(-1).sum(-1)
    pooled = critic.pool_heads(per_variable.mean(dim=2)).squeeze(-1)
    th.testing.assert_close(critic(obs, actions), (additive + pooled).transpose(0, 1))
    assert make_model().critic.pool_heads is None  # off by default (and in zips saved before it existed)
    model.save(tmp_path / "pooled.zip")
    loaded = REDQ.load(tmp_path / "pooled.zip", device="cpu")
    assert loaded.policy.critic_pooling and loaded.critic.pool_heads is not None
    th.testing.assert_close(loaded.critic(obs, actions), critic(obs, actions))


def test_subsets_are_distinct_and_seeded():
    models = [make_model(seed=s, policy_kwargs=dict(critic_encoder="shared")) for s in (3, 3, 4)]
    draws = [[m._sample_members() for _ in range(5)] for m in models]
    assert all(len(set(m.tolist())) == 2 and 0 <= m.min() and m.max() < 10 for m in draws[0])
    assert all(th.equal(a, b) for a, b in zip(draws[0], draws[1]))
    assert not all(th.equal(a, b) for a, b in zip(draws[0], draws[2]))


def test_policy_delay_none_and_min_reduction_and_critic_learning_rate():
    model = make_model(
        policy_delay=None,
        actor_q_reduction="min",
        critic_learning_rate=1e-4,
        learning_rate=1e-3,
        gradient_steps=3,
        policy_kwargs=dict(critic_encoder="shared"),
    )
    model.learn(40)
    assert model.critic.optimizer.param_groups[0]["lr"] == pytest.approx(1e-4)
    assert model.actor.optimizer.param_groups[0]["lr"] == pytest.approx(1e-3)


def test_actor_warmup_trains_the_critics_alone_first():
    model = make_model(actor_warmup=12, gradient_steps=4, policy_kwargs=dict(critic_encoder="shared"))
    actor_start = {k: v.clone() for k, v in model.actor.state_dict().items()}
    critic_start = {k: v.clone() for k, v in model.critic.state_dict().items()}
    model.learn(16 + 2 * 3)  # learning starts at 16 transitions; then 3 rounds of 2 envs: 12 gradient steps
    assert model._n_updates == 12
    assert all(th.equal(v, model.actor.state_dict()[k]) for k, v in actor_start.items())
    assert not all(th.equal(v, model.critic.state_dict()[k]) for k, v in critic_start.items())
    assert model.log_ent_coef is not None and model.log_ent_coef.item() == 0.0  # "auto": starts at 1, untouched
    model.train(gradient_steps=1)  # the 13th step: the actor's first
    assert not all(th.equal(v, model.actor.state_dict()[k]) for k, v in actor_start.items())
    assert model.log_ent_coef.item() != 0.0


def test_save_load_gives_identical_predictions(tmp_path):
    model = make_model(policy_kwargs=dict(n_critics=3), critic_subset_size=2)
    model.learn(40)
    obs = model.env.reset()
    expected, _ = model.predict(obs, deterministic=True)
    model.save(tmp_path / "model.zip")
    loaded = REDQ.load(tmp_path / "model.zip", device="cpu")
    actual, _ = loaded.predict(obs, deterministic=True)
    np.testing.assert_array_equal(actual, expected)
    assert actual.shape == (2, 3, 2)
    assert loaded.critic_subset_size == 2 and loaded.critic.n_critics == 3
    for a, b in zip(model.policy.state_dict().values(), loaded.policy.state_dict().values()):
        assert th.equal(a, b)
    loaded.set_env(make_vec_env(TOY_ENV_ID, 2, seed=1))
    loaded.learn(20, reset_num_timesteps=False)  # keeps training after loading


def test_predict_any_d_runs_at_other_sizes():
    model = make_model()
    obs = model.env.reset()
    # same actions as SB3's predict (which rescales from [-1, 1] to the box, a float rounding)
    expected = model.predict(obs, deterministic=True)[0]
    np.testing.assert_allclose(predict_any_d(model, obs), expected, atol=1e-6)
    big = np.zeros((2, 9, 7, 3), np.float32)
    big[:, :4] = np.random.default_rng(0).normal(size=(2, 4, 7, 3))
    big[:, :4, :, 2] = 1.0
    actions = predict_any_d(model, big)
    assert actions.shape == (2, 7, 2) and np.all(np.abs(actions) <= 1)
    assert predict_any_d(model.policy, big[0], deterministic=False).shape == (7, 2)
    with pytest.raises(ValueError, match="expected an observation"):
        predict_any_d(model, big[..., :2])


def test_predict_any_d_samples_reproducibly_from_the_given_rng():
    model = make_model()
    obs = model.env.reset()
    first = predict_any_d(model, obs, deterministic=False, rng=np.random.default_rng(3))
    again = predict_any_d(model, obs, deterministic=False, rng=np.random.default_rng(3))
    other = predict_any_d(model, obs, deterministic=False, rng=np.random.default_rng(4))
    np.testing.assert_array_equal(first, again)
    assert not np.allclose(first, other) and np.all(np.abs(first) <= 1)
    # the sample is tanh(mean + std * eps): with the noise of rng 3 it matches the actor's parameters
    mean, log_std, _ = model.actor.get_action_dist_params(th.as_tensor(obs))
    eps = np.random.default_rng(3).standard_normal(mean.shape)
    expected = np.tanh(mean.detach().numpy() + np.exp(log_std.detach().numpy()) * eps).reshape(first.shape)
    np.testing.assert_allclose(first, expected, atol=1e-5)


def test_redq_learns_toy_design_task():
    """A few hundred REDQ steps beat Random by a wide margin (optimum 3, Random about 0.2)."""
    model = make_model(
        n_envs=4,
        learning_starts=100,
        batch_size=32,
        gradient_steps=2,
        learning_rate=1e-3,
        ent_coef="auto_0.05",
        policy_kwargs=dict(n_critics=5, critic_encoder="shared"),
    )
    model.learn(600)
    rng = np.random.default_rng(0)
    random_return = mean_return(lambda o: rng.uniform(-1, 1, (len(o), 3, 2)))
    policy_return = mean_return(lambda o: model.predict(o, deterministic=True)[0])
    assert policy_return > random_return + 1.2, (policy_return, random_return)


@pytest.mark.slow
def test_redq_learns_with_separate_encoders_and_ten_critics():
    model = make_model(
        n_envs=4,
        learning_starts=100,
        batch_size=64,
        gradient_steps=4,
        learning_rate=1e-3,
        ent_coef="auto_0.05",
    )
    model.learn(1200)
    policy_return = mean_return(lambda o: model.predict(o, deterministic=True)[0])
    assert policy_return > 2.0, policy_return


# ---------------------------------------------------------------- deterministic designs (caasl_agents.redq.designs)
def hand_built(means0, log_std=0.0, value_mean=0.5):
    """Actor outputs ``(B, d·2)`` with target means ``means0`` ``(B, d)``, one log std and one value mean."""
    means0 = th.as_tensor(means0, dtype=th.float32)
    mean = th.stack([means0, th.full_like(means0, value_mean)], dim=-1).flatten(1)
    return mean, th.full_like(mean, log_std)


def targets_of(action, d):
    return (np.asarray(action).reshape(-1, d, 2)[..., 0] > 0).tolist()


def test_deterministic_design_targets_the_round_of_sum_p_likeliest_variables():
    from caasl_agents.redq.designs import deterministic_action, target_probabilities

    # row 0: p = Phi(m) = .31 .62 .16 .42 .21 (sum 1.72, k = 2); row 1: all .31 (sum 1.54, k = 2, ties to the
    # lower index); row 2: all .0013 (sum < 1/2, k = 0: the observational design)
    mean, log_std = hand_built([[-0.5, 0.3, -1.0, -0.2, -0.8], [-0.5] * 5, [-3.0] * 5])
    p = target_probabilities(mean, log_std, 2).numpy()
    np.testing.assert_allclose(p[0], [0.3085, 0.6179, 0.1587, 0.4207, 0.2119], atol=1e-4)
    topk = deterministic_action(mean, log_std, 2, "top-k")
    assert targets_of(topk, 5) == [[0, 1, 0, 1, 0], [1, 1, 0, 0, 0], [0, 0, 0, 0, 0]]
    assert set(np.abs(topk.numpy().reshape(3, 5, 2)[..., 0]).ravel()) == {1.0}  # column 0 is +-1
    np.testing.assert_allclose(topk.reshape(3, 5, 2)[..., 1], np.tanh(0.5), rtol=1e-6)  # values: tanh(mean)
    nonempty = deterministic_action(mean, log_std, 2, "top-k-nonempty")
    assert targets_of(nonempty, 5)[2] == [1, 0, 0, 0, 0] and targets_of(nonempty, 5)[:2] == targets_of(topk, 5)[:2]
    old = deterministic_action(mean, log_std, 2, "mean")  # SB3's tanh(mean): only p > 1/2
    np.testing.assert_array_equal(old, th.tanh(mean))
    assert targets_of(old, 5) == [[0, 1, 0, 0, 0], [0] * 5, [0] * 5]
    # a wider Gaussian moves p towards 1/2 and so the number of targets: std 4 gives p = .45 .53 .40 .48 .42, k = 2
    assert sum(targets_of(deterministic_action(mean[:1], log_std[:1] + np.log(4.0), 2, "top-k"), 5)[0]) == 2
    with pytest.raises(ValueError, match="unknown deterministic_design 'argmax'; valid choices: coverage, top-k"):
        deterministic_action(mean, log_std, 2, "argmax")


def test_coverage_design_discounts_the_likeliest_targets_by_how_often_the_history_targeted_them():
    from caasl_agents.redq.designs import deterministic_action, target_counts

    # p = .31 .62 .16 .42 .21 (k = 2) in every row
    mean, log_std = hand_built([[-0.5, 0.3, -1.0, -0.2, -0.8]] * 4)
    counts = th.tensor([[0, 0, 0, 0, 0], [0, 2, 0, 0, 0], [1, 3, 0, 1, 0], [0, 0, 0, 0, 0.0]])
    coverage = deterministic_action(mean, log_std, 2, "coverage", counts)
    assert targets_of(coverage, 5)[0] == targets_of(deterministic_action(mean, log_std, 2, "top-k"), 5)[0]
    # row 1: .31 .62/3 .16 .42 .21 picks 3 and 0; row 2: .31/2 .62/4 .16 .42/2 .21 picks 4 and 3
    assert targets_of(coverage, 5)[:3] == [[0, 1, 0, 1, 0], [1, 0, 0, 1, 0], [0, 0, 0, 1, 1]]
    np.testing.assert_array_equal(coverage.reshape(4, 5, 2)[..., 1], th.tanh(mean).reshape(4, 5, 2)[..., 1])
    # the counts come from the observation: indicator (channel 1) on filled rows (channel 2) only
    obs = th.zeros(1, 4, 3, 3)
    obs[0, :3, :, 2] = 1.0
    obs[0, 1, 0, 1] = obs[0, 2, 0, 1] = obs[0, 2, 2, 1] = 1.0
    obs[0, 3, 1, 1] = 1.0  # a padding row: not counted
    np.testing.assert_array_equal(target_counts(obs), [[2.0, 0.0, 1.0]])
    with pytest.raises(ValueError, match=r"'coverage' needs counts of shape \(4, 5\) \(B, d\), got None"):
        deterministic_action(mean, log_std, 2, "coverage")
    with pytest.raises(ValueError, match=r"got \(4, 3\)"):
        deterministic_action(mean, log_std, 2, "coverage", counts[:, :3])


def test_coverage_designs_rotate_when_the_marginals_do_not_change():
    """A policy with the same marginals at every step repeats one top-k design; coverage targets every variable."""
    from caasl_agents.redq.designs import deterministic_action

    mean, log_std = hand_built([[0.1, 0.0, -0.1, 0.05, -0.05, 0.02]])  # p ~ 1/2 each, k = 3
    counts, chosen = th.zeros(1, 6), []
    for _ in range(4):
        targets = deterministic_action(mean, log_std, 2, "coverage", counts).reshape(1, 6, 2)[..., 0] > 0
        chosen.append(targets[0].tolist())
        counts += targets.float()
    assert sum(chosen[0]) == 3 and chosen[1] == [not t for t in chosen[0]]  # the other half next
    assert counts.min() >= 1 and counts.max() - counts.min() <= 1


def test_sb3_predict_and_predict_any_d_give_the_design_at_any_d(monkeypatch):
    from caasl_agents.redq.designs import deterministic_action, target_counts

    model = make_model()
    obs = model.env.reset()
    np.testing.assert_allclose(predict_any_d(model, obs), model.predict(obs, deterministic=True)[0], atol=1e-6)
    # d = 20 (the toy model was trained at d = 3): batched, and the same as one history at a time
    big = np.zeros((3, 9, 20, 3), np.float32)
    big[:, :4] = np.random.default_rng(0).normal(size=(3, 4, 20, 3))
    big[:, :4, :, 2] = 1.0
    actions = predict_any_d(model, big)
    mean, log_std, _ = model.actor.get_action_dist_params(th.as_tensor(big))
    counts = target_counts(th.as_tensor(big))
    expected = deterministic_action(mean, log_std, 2, "coverage", counts).detach().numpy().reshape(3, 20, 2)
    np.testing.assert_array_equal(actions, expected)
    np.testing.assert_allclose(np.stack([predict_any_d(model, o) for o in big]), actions, atol=1e-6)
    # a hand-built actor output through SB3's predict: exactly the top-k targets
    built = hand_built([[-0.5, 0.3, -1.0], [-3.0, -3.0, -3.0]])
    monkeypatch.setattr(model.actor, "get_action_dist_params", lambda o: (*built, {}))
    action = model.predict(obs, deterministic=True)[0]
    assert targets_of(action, 3) == [[0, 1, 0], [0, 0, 0]]  # p = .31 .62 .16 (k = 1); all .0013 (k = 0)
    np.testing.assert_allclose(predict_any_d(model, obs), action, atol=1e-6)


def test_rescale_target_rate_sets_the_expected_number_of_targets_and_keeps_the_order():
    from caasl_agents.redq.designs import rescale_target_rate, target_probabilities

    mean, log_std = hand_built([[-0.5, 0.3, -1.0, -0.2, -0.8], [-3.0] * 5, [2.0, 1.0, 0.0, -1.0, -2.0]])
    log_std = log_std + th.tensor([[0.0], [0.5], [-0.3]]).repeat_interleave(10, dim=1)  # std differs per row
    for rate in (0.1, 0.5, 0.9):
        shifted = rescale_target_rate(mean, log_std, 2, rate)
        p, before = target_probabilities(shifted, log_std, 2), target_probabilities(mean, log_std, 2)
        np.testing.assert_allclose(p.sum(dim=1), rate * 5, atol=1e-4)
        np.testing.assert_array_equal(th.argsort(p, dim=1, stable=True), th.argsort(before, dim=1, stable=True))
        np.testing.assert_array_equal(shifted.reshape(3, 5, 2)[..., 1], mean.reshape(3, 5, 2)[..., 1])  # values
    with pytest.raises(ValueError, match=r"target rate must be in \(0, 1\), got 1.0"):
        rescale_target_rate(mean, log_std, 2, 1.0)


@th.no_grad()
def test_zero_shot_rate_applies_at_an_unseen_d_only_and_is_saved_with_the_model(tmp_path):
    from caasl_agents.redq.designs import target_probabilities

    model = make_model()  # trained at d = 3; default zero_shot_rate 1/2
    assert model.policy.zero_shot_rate == 0.5 and model.actor.train_num_nodes == 3
    own = make_model(policy_kwargs=dict(zero_shot_rate=None))
    own.policy.load_state_dict(model.policy.state_dict())
    obs = th.as_tensor(model.env.reset())
    np.testing.assert_array_equal(model.actor.get_action_dist_params(obs)[0], own.actor.get_action_dist_params(obs)[0])
    big = th.zeros(2, 9, 12, 3)
    big[:, :4] = th.as_tensor(np.random.default_rng(0).normal(size=(2, 4, 12, 3)), dtype=th.float32)
    big[:, :4, :, 2] = 1.0
    mean, log_std, _ = model.actor.get_action_dist_params(big)
    np.testing.assert_allclose(target_probabilities(mean, log_std, 2).sum(dim=1), 6.0, atol=1e-4)
    own_mean, own_log_std, _ = own.actor.get_action_dist_params(big)
    assert not th.allclose(target_probabilities(own_mean, own_log_std, 2).sum(dim=1), th.tensor(6.0))
    model.policy.zero_shot_rate = 0.25  # settable, and saved
    model.save(tmp_path / "quarter.zip")
    loaded = REDQ.load(tmp_path / "quarter.zip", device="cpu")
    assert loaded.policy.zero_shot_rate == loaded.actor.zero_shot_rate == 0.25
    mean, log_std, _ = loaded.actor.get_action_dist_params(big)
    np.testing.assert_allclose(target_probabilities(mean, log_std, 2).sum(dim=1), 3.0, atol=1e-4)
    for bad in (0.0, 1.0, -0.5, "half"):
        with pytest.raises(ValueError, match=r"zero_shot_rate must be None .* or in \(0, 1\)"):
            model.policy.zero_shot_rate = bad
    with pytest.raises(ValueError, match="zero_shot_rate must be None"):
        make_model(policy_kwargs=dict(zero_shot_rate=2))


def test_uniform_target_rate_gives_every_variable_one_probability_and_keeps_the_values():
    from caasl_agents.redq.designs import target_probabilities, uniform_target_rate

    mean, log_std = hand_built([[-0.5, 0.3, -1.0, -0.2, -0.8], [2.0, 1.0, 0.0, -1.0, -2.0]])
    log_std = log_std + th.tensor([[0.0], [0.5]]).repeat_interleave(10, dim=1)
    before = target_probabilities(mean, log_std, 2)
    for rate, expected in ((0.3, th.full((2, 1), 0.3)), (None, before.mean(dim=1, keepdim=True))):
        flat = uniform_target_rate(mean, log_std, 2, rate)
        p = target_probabilities(flat, log_std, 2)
        np.testing.assert_allclose(p, expected.expand(2, 5), atol=1e-5)
        np.testing.assert_array_equal(flat.reshape(2, 5, 2)[..., 1], mean.reshape(2, 5, 2)[..., 1])  # values
    with pytest.raises(ValueError, match=r"target rate must be in \(0, 1\), got 0.0"):
        uniform_target_rate(mean, log_std, 2, 0.0)


def test_shuffled_action_splits_the_variables_anew_for_each_history():
    from caasl_agents.redq.designs import history_orders, shuffled_action

    rng = np.random.default_rng(0)
    obs = th.as_tensor(rng.normal(size=(40, 5, 12, 3)), dtype=th.float32)
    orders = history_orders(obs)
    assert th.equal(th.sort(orders, dim=1).values, th.arange(12).expand(40, 12))  # permutations
    assert th.equal(history_orders(obs.clone()), orders)  # one history, one order
    mean = th.zeros(40, 24)  # p_i = 1/2 everywhere: six targets each
    action = shuffled_action(mean, th.zeros(40, 24), 2, obs).reshape(40, 12, 2)
    targets = action[..., 0] > 0
    assert th.equal(targets.sum(dim=1), th.full((40,), 6))
    first_six = th.zeros_like(targets).scatter_(1, orders[:, :6], True)
    assert th.equal(targets, first_six)
    # pairs are separated: every two variables are split (one a target, the other not) in some history
    split = (targets.unsqueeze(2) != targets.unsqueeze(1)).any(dim=0)
    assert split.sum() == 12 * 11
    assert len({tuple(t.tolist()) for t in targets}) > 30


@th.no_grad()
def test_zero_shot_targets_uniform_keeps_values_and_is_saved_with_the_model(tmp_path):
    from caasl_agents.redq.designs import target_probabilities

    model = make_model()  # trained at d = 3
    assert model.policy.zero_shot_targets == "policy"
    obs = th.as_tensor(model.env.reset())
    at_train_d = model.actor.get_action_dist_params(obs)[0]
    big = th.zeros(2, 9, 12, 3)
    big[:, :4] = th.as_tensor(np.random.default_rng(0).normal(size=(2, 4, 12, 3)), dtype=th.float32)
    big[:, :4, :, 2] = 1.0
    own_mean, log_std, _ = model.actor.get_action_dist_params(big)
    model.policy.zero_shot_targets = "uniform"
    np.testing.assert_array_equal(model.actor.get_action_dist_params(obs)[0], at_train_d)  # training d: unchanged
    mean, log_std, _ = model.actor.get_action_dist_params(big)
    np.testing.assert_allclose(target_probabilities(mean, log_std, 2), 0.5, atol=1e-5)
    np.testing.assert_array_equal(mean.reshape(2, 12, 2)[..., 1], own_mean.reshape(2, 12, 2)[..., 1])
    design = predict_any_d(model, big.numpy())  # deterministic: six targets in the history's own order
    assert (design[..., 0] > 0).sum(axis=1).tolist() == [6, 6]
    np.testing.assert_array_equal(predict_any_d(model, big.numpy()), design)
    model.save(tmp_path / "uniform.zip")
    loaded = REDQ.load(tmp_path / "uniform.zip", device="cpu")
    assert loaded.policy.zero_shot_targets == loaded.actor.zero_shot_targets == "uniform"
    np.testing.assert_array_equal(predict_any_d(loaded, big.numpy()), design)
    with pytest.raises(ValueError, match="unknown zero_shot_targets 'random'; valid choices: policy, uniform"):
        model.policy.zero_shot_targets = "random"
    with pytest.raises(ValueError, match="unknown zero_shot_targets"):
        make_model(policy_kwargs=dict(zero_shot_targets="x"))


def test_deterministic_design_is_a_policy_attribute_saved_with_the_model(tmp_path):
    model = make_model(policy_kwargs=dict(deterministic_design="mean"))
    assert model.policy.deterministic_design == model.actor.deterministic_design == "mean"
    obs = model.env.reset()
    mean, _, _ = model.actor.get_action_dist_params(th.as_tensor(obs))
    np.testing.assert_allclose(predict_any_d(model, obs), np.tanh(mean.detach().numpy()).reshape(obs.shape[0], 3, 2))
    model.save(tmp_path / "mean.zip")
    assert REDQ.load(tmp_path / "mean.zip", device="cpu").policy.deterministic_design == "mean"
    model.policy.deterministic_design = "top-k-nonempty"  # settable on a loaded policy, and saved as set
    assert model.actor.deterministic_design == "top-k-nonempty"
    model.save(tmp_path / "nonempty.zip")
    assert REDQ.load(tmp_path / "nonempty.zip", device="cpu").actor.deterministic_design == "top-k-nonempty"
    with pytest.raises(ValueError, match="valid choices: coverage, top-k, top-k-nonempty, mean"):
        model.policy.deterministic_design = "median"
    assert make_model().policy.deterministic_design == "coverage"  # the default (and that of zips saved before)
