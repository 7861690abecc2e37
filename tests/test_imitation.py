"""Demonstrations and behaviour cloning: resumable shards, a clone that reproduces its expert, the CLI."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch as th

from caasl_agents import predict_any_d
from caasl_agents.common.vec_env import make_vec_env
from caasl_agents.imitate import ImitateConfig, imitate, selected_epoch
from caasl_agents.imitation import (
    behaviour_clone,
    calibrate_decisions,
    clone_loss,
    collect_demonstrations,
    load_demonstrations,
)
from caasl_agents.pretrained.export import export
from caasl_agents.redq import REDQ
from caasl_agents.redq.designs import target_probabilities
from caasl_agents.train import TrainConfig

TINY = dict(num_nodes=4, n_initial=6, budget=3, reward_model="linear")
ARCH = dict(embed_dim=8, n_layers=1, n_heads=2, ff_mult=2, pi_arch=[16], qf_arch=[16], n_critics=2,
            critic_encoder="shared", buffer_size=100, learning_starts=10, batch_size=8)  # fmt: skip


class TargetUntried:
    """An expert a per-variable policy can learn: target (at value 0.5) the variables never targeted yet."""

    name = "TargetUntried"

    def act(self, obs, rngs):
        untried = obs[..., 1].max(axis=1) == 0  # (B, d)
        return np.stack([np.where(untried, 1.0, -0.5), np.full(untried.shape, 0.5)], axis=-1).astype(np.float32)


def test_demonstrations_are_sharded_and_resume(tmp_path):
    assert collect_demonstrations("CausalLinear-v0", TargetUntried(), range(0, 5), tmp_path, shard_episodes=2,
                                  env_kwargs=TINY, progress=False) == 3  # fmt: skip
    obs, actions = load_demonstrations(tmp_path)
    assert obs.shape == (15, 9, 4, 3) and actions.shape == (15, 4, 2)
    assert collect_demonstrations("CausalLinear-v0", TargetUntried(), range(0, 7), tmp_path, shard_episodes=2,
                                  env_kwargs=TINY, progress=False) == 1  # only episodes 6.. are new  # fmt: skip
    with pytest.raises(ValueError, match="train family"):
        collect_demonstrations("CausalLinear-v0", TargetUntried(), range(10_000_000, 10_000_002), tmp_path)


def test_dagger_shards_label_the_states_the_behaviour_visits(tmp_path):
    from caasl_gym.evaluation.strategies import RandomStrategy

    collect_demonstrations("CausalLinear-v0", TargetUntried(), range(0, 4), tmp_path, shard_episodes=2, env_kwargs=TINY,
                           progress=False, behaviour=RandomStrategy(), behaviour_id="random")  # fmt: skip
    with np.load(tmp_path / "demos_0000000.npz") as shard:
        obs, actions, played = shard["obs"], shard["actions"], shard["played"]
        assert str(shard["behaviour"]) == "random"
    np.testing.assert_array_equal(actions, TargetUntried().act(obs, None))  # the expert's labels of these states
    # the history holds the behaviour's designs: the row after the initial data of step 1 is the played step 0
    np.testing.assert_array_equal(obs[2:4, 6, :, 1] > 0, played[0:2, :, 0] > 0)
    assert not np.array_equal(played[..., 0] > 0, actions[..., 0] > 0)
    assert load_demonstrations(tmp_path)[1].shape == (12, 4, 2)
    with pytest.raises(ValueError, match="played by behaviour 'random', this collection by behaviour 'other'"):
        collect_demonstrations("CausalLinear-v0", TargetUntried(), range(0, 4), tmp_path, shard_episodes=2,
                               env_kwargs=TINY, progress=False, behaviour=RandomStrategy(),
                               behaviour_id="other")  # fmt: skip
    with pytest.raises(ValueError, match="this collection by the expert"):
        collect_demonstrations("CausalLinear-v0", TargetUntried(), range(0, 4), tmp_path, shard_episodes=2,
                               env_kwargs=TINY, progress=False)  # fmt: skip
    with pytest.raises(ValueError, match="needs a behaviour_id"):
        collect_demonstrations("CausalLinear-v0", TargetUntried(), range(0, 4), tmp_path, behaviour=RandomStrategy())


def test_the_clone_reproduces_its_expert(tmp_path):
    collect_demonstrations("CausalLinear-v0", TargetUntried(), range(0, 8), tmp_path, env_kwargs=TINY, progress=False)
    obs, actions = load_demonstrations(tmp_path)
    venv = make_vec_env("CausalLinear-v0", 1, seed=0, env_kwargs=TINY)
    model = REDQ("TransformerPolicy", venv, **TrainConfig(**ARCH).model_kwargs())
    history = behaviour_clone(model.policy, obs, actions, epochs=40, batch_size=8, learning_rate=3e-3,
                              rng=np.random.default_rng(0))  # fmt: skip
    assert history[-1]["train_nll"] < history[0]["train_nll"] - 1.0
    model.policy.deterministic_design = "mean"  # the Bernoulli modes, the rule calibrate_decisions is made for
    predicted = predict_any_d(model, obs[:5], deterministic=True)
    np.testing.assert_array_equal(predicted[..., 0] > 0, actions[:5, :, 0] > 0)
    shifted = REDQ("TransformerPolicy", venv, **TrainConfig(**ARCH).model_kwargs())  # untrained: p ~ 1/2 everywhere
    shifted.policy.deterministic_design = "mean"
    sparse = actions.copy()
    sparse[..., 0] = np.where(np.arange(4) == 0, 1.0, -1.0)  # the expert targets a quarter of the variables
    calibrate_decisions(shifted.policy, obs, sparse)
    share = (predict_any_d(shifted, obs, deterministic=True)[..., 0] > 0).mean()
    assert abs(share - 0.25) < 0.05
    targeted = actions[:5, :, 0] > 0
    np.testing.assert_allclose(predicted[:5, :, 1][targeted], 0.5, atol=0.1)


class FixedActor(th.nn.Module):
    """An actor stand-in with given Gaussian parameters ``(B, d·k)``."""

    def __init__(self, mean, log_std):
        super().__init__()
        self.mean, self.log_std = mean, log_std

    def get_action_dist_params(self, obs):
        return self.mean, self.log_std, {}


def test_the_bernoulli_target_loss_is_the_likelihood_of_the_sampled_design():
    # d = 2, k = 2: variable 0 targeted (value 0.5), variable 1 not (its value must not matter)
    mean = th.tensor([[0.3, 0.2, -0.4, 0.9]])
    log_std = th.tensor([[0.1, -0.2, 0.3, 0.0]])
    actions = th.tensor([[[1.0, 0.5], [-1.0, -0.7]]])
    p = th.distributions.Normal(0.0, 1.0).cdf(mean[0, [0, 2]] / log_std[0, [0, 2]].exp())
    value = th.distributions.Normal(mean[0, 1], log_std[0, 1].exp()).log_prob(th.atanh(th.tensor(0.5)))
    expected = -(th.log(p[0]) + th.log(1 - p[1]) + value)
    loss = clone_loss(FixedActor(mean, log_std), None, actions, target_loss="bernoulli")
    th.testing.assert_close(loss, expected)
    other = actions.clone()
    other[0, 1, 1] = 0.9  # a non-target's value
    th.testing.assert_close(clone_loss(FixedActor(mean, log_std), None, other, target_loss="bernoulli"), expected)
    assert not th.isclose(
        clone_loss(FixedActor(mean, log_std), None, other), clone_loss(FixedActor(mean, log_std), None, actions)
    )
    with pytest.raises(ValueError, match="unknown target_loss 'hinge'; valid choices: gaussian, bernoulli"):
        clone_loss(FixedActor(mean, log_std), None, actions, target_loss="hinge")
    with pytest.raises(ValueError, match="unknown target_loss"):
        ImitateConfig(env="SergioKnockout-v0", target_loss="hinge")


def test_the_bernoulli_clone_matches_its_experts_design_probabilities(tmp_path):
    collect_demonstrations("CausalLinear-v0", TargetUntried(), range(0, 8), tmp_path, env_kwargs=TINY, progress=False)
    obs, actions = load_demonstrations(tmp_path)
    venv = make_vec_env("CausalLinear-v0", 1, seed=0, env_kwargs=TINY)
    model = REDQ("TransformerPolicy", venv, **TrainConfig(**ARCH).model_kwargs())
    behaviour_clone(model.policy, obs, actions, epochs=40, batch_size=8, learning_rate=3e-3,
                    rng=np.random.default_rng(0), target_loss="bernoulli")  # fmt: skip
    with th.no_grad():
        mean, log_std, _ = model.policy.actor.get_action_dist_params(th.as_tensor(obs))
    p = target_probabilities(mean, log_std, 2).numpy()  # (S, d)
    targeted = actions[..., 0] > 0
    assert p[targeted].mean() > 0.8 and p[~targeted].mean() < 0.2
    venv.close()


def test_cli_writes_a_selected_run(tmp_path):
    cfg = ImitateConfig(env="CausalLinear-v0", env_kwargs={"num_nodes": 4, "n_initial": 6, "budget": 2},
                        run_root=str(tmp_path), demo_episodes=4, demo_seeds=[0, 10], expert_samples=2,
                        expert_candidates=6,
                        epochs=2, eval_every=1, eval_episodes=2, progress_bar=False, **ARCH)  # fmt: skip
    run = imitate(cfg)
    table = json.loads((run / "imitation.json").read_text())
    assert table["command"].startswith("python -m caasl_agents.imitate --env CausalLinear-v0")
    assert (run / "model.zip").is_file() and (run / "config.json").is_file()
    selection = (run / "selection.csv").read_text().splitlines()
    assert len(selection) == 1 + 2 * 2  # both action modes at both epochs
    record = export(run, out=tmp_path / "shipped", eval_episodes=2)
    assert record["command"] == table["command"] and record["imitation"]["demo_episodes"] == 4
    with pytest.raises(ValueError, match="another expert"):
        imitate(ImitateConfig(**{**cfg.__dict__, "expert_samples": 3}))
    # DAgger: the clone plays two more episodes, the expert labels them, and the next clone learns from all
    dagger = imitate(ImitateConfig(**{**cfg.__dict__, "dagger_policy": str(run / "model.zip"), "dagger_seeds": [20]}))
    record = json.loads((dagger / "imitation.json").read_text())
    assert "--dagger-policy" in record["command"] and len(record["dagger_policy_sha256"]) == 64
    with np.load(tmp_path / "demos" / "CausalLinear-v0" / "demos_0000020.npz") as shard:
        assert str(shard["behaviour"]) == f"sha256:{record['dagger_policy_sha256']}"
    with pytest.raises(ValueError, match="go together"):
        ImitateConfig(env="CausalLinear-v0", dagger_seeds=[1000])
    with pytest.raises(ValueError, match="do not overlap"):
        ImitateConfig(env="CausalLinear-v0", demo_episodes=10, demo_seeds=[0], dagger_seeds=[5],
                      dagger_policy=str(run / "model.zip"))  # fmt: skip
    with pytest.raises(ValueError, match="no such file"):
        ImitateConfig(env="CausalLinear-v0", dagger_seeds=[1000], dagger_policy=str(tmp_path / "none.zip"))


def test_the_selected_epoch_follows_select_on():
    table = pd.DataFrame({"epoch": [5, 5, 10, 10, 15, 15], "deterministic": [False, True] * 3,
                          "gain": [0.4, 0.1, 0.3, 0.5, 0.4, 0.0]})  # fmt: skip
    assert selected_epoch(table) == 5  # sampled: 0.4 at 5 and 15, the earlier one
    assert selected_epoch(table, "deterministic") == 10
    assert selected_epoch(table, "both") == 10  # means 0.25, 0.4, 0.2
    with pytest.raises(ValueError, match="unknown select_on 'best'; valid choices: sampled, deterministic, both"):
        ImitateConfig(env="SergioKnockout-v0", select_on="best")


def test_the_privileged_probe_teaches_the_designs_it_plays_in_a_rollout(tmp_path):
    """``--expert probe``: the demonstrations are the probe's designs on the same episodes as an evaluation
    rollout (it is bound to each shard's hidden models), on a domain without a greedy expert."""
    from caasl_gym.evaluation import PrivilegedProbe, rollout

    kwargs = dict(num_nodes=4, n_initial=6, budget=3)
    probe = PrivilegedProbe(n_random=3)
    collect_demonstrations("SergioKnockout-v0", probe, range(0, 4), tmp_path, shard_episodes=2, env_kwargs=kwargs,
                           progress=False)  # fmt: skip
    obs, actions = load_demonstrations(tmp_path)
    assert obs.shape == (4 * 3, 6 + 3, 4, 3) and actions.shape == (4 * 3, 4, 2)
    shards = [rollout("SergioKnockout-v0", probe, 2, s, kwargs, record_actions=True).actions for s in (0, 2)]
    played = np.concatenate([a.swapaxes(0, 1).reshape(-1, 4, 2) for a in shards])  # a shard is step-major
    np.testing.assert_array_equal(actions, played)
    with pytest.raises(ValueError, match="unknown expert 'oracle'; valid choices: greedy, probe"):
        ImitateConfig(env="SergioKnockout-v0", expert="oracle")
    with pytest.raises(ValueError, match="needs a linear id"):
        imitate(ImitateConfig(env="SergioKnockout-v0", run_root=str(tmp_path), progress_bar=False))


def test_the_posterior_expert_is_the_heuristic_on_the_env_reward_model():
    from caasl_agents.imitate import expert_for
    from caasl_gym.baselines.posterior_targets import PosteriorTargets
    from caasl_gym.envs.scoring import resolve_reward_model

    expert = expert_for(ImitateConfig(env="SergioKnockout-v0", expert="posterior-parents"))
    assert isinstance(expert, PosteriorTargets) and expert.criterion == "parents" and expert.k == 1
    assert expert.model is resolve_reward_model("sergio")
