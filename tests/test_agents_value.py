"""caasl_agents.value: the candidates, the value network, the designer in both modes, its files and the shipped one."""

from __future__ import annotations

import json

import gymnasium as gym
import numpy as np
import pytest
import torch as th

import caasl_gym
from caasl_agents.value import (
    ValueDesigner,
    ValueNet,
    available_value_designers,
    history_generator,
    load_value_designer,
    load_value_net,
    save_value_net,
)
from caasl_agents.value.designer import as_actions, candidate_sets, forward_path, history_posterior64
from caasl_agents.value.ensemble import combine
from caasl_agents.value.ensemble import main as ensemble_main
from caasl_agents.value.export import main as export_main
from caasl_agents.value.export import selection_rows
from caasl_agents.value.network import ValueEnsemble, build_value_net, gene_statistics
from caasl_agents.value.shipped import reward_model_of, shipped_value_path
from caasl_gym.registration import training_id

TINY = dict(num_nodes=4, n_initial=6, budget=2)
LINEAR = "CausalLinear-v0"


def tiny_designer(**kwargs) -> ValueDesigner:
    th.manual_seed(0)
    net = ValueNet(width=16, layers=1, heads=2, history=True)
    return ValueDesigner(net, reward_model_of(LINEAR, TINY), 3, **kwargs)


def history(seed: int = 0) -> np.ndarray:
    env = gym.make(LINEAR, **TINY)
    obs, _ = env.reset(seed=seed)
    return obs


def test_candidates_are_observational_singles_and_random_sets_of_two_or_more():
    sets = candidate_sets(np.random.default_rng(0), 5, 40, 4)
    assert sets.shape == (1 + 5 + 40, 5) and sets.dtype == bool
    assert not sets[0].any()
    np.testing.assert_array_equal(sets[1:6], np.eye(5, dtype=bool))
    sizes = sets[6:].sum(1)
    assert sizes.min() == 2 and sizes.max() == 4  # never the null experiment with max_size = d - 1
    actions = as_actions(sets, np.random.default_rng(1))
    assert actions.shape == (46, 5, 2) and actions.dtype == np.float32
    np.testing.assert_array_equal(actions[..., 0] > 0, sets)
    assert np.all(np.abs(actions[..., 1]) <= 1)


def test_value_net_is_equivariant_to_gene_order_and_runs_at_any_d():
    th.manual_seed(0)
    net = ValueNet(width=16, layers=1, heads=2).eval()
    rng = np.random.default_rng(0)
    probs = th.as_tensor(rng.uniform(size=(3, 5, 5)), dtype=th.float32)
    counts = th.as_tensor(rng.integers(0, 3, size=(3, 5)), dtype=th.float32)
    sets = th.as_tensor(candidate_sets(rng, 5, 4, 5))[None].expand(3, -1, -1)
    perm = th.as_tensor(rng.permutation(5))

    def value_of(p, c, m):
        return net(gene_statistics(p.numpy(), c.numpy()), p, c, m)

    with th.no_grad():
        value = value_of(probs, counts, sets)
        permuted = value_of(probs[:, perm][:, :, perm], counts[:, perm], sets[:, :, perm])
        assert value_of(probs[:, :3, :3], counts[:, :3], sets[:, :, :3]).shape == (3, 10)
    assert value.shape == (3, 10)
    th.testing.assert_close(value, permuted, atol=1e-5, rtol=1e-5)


def test_forward_path_grows_by_the_best_variable_until_every_variable_is_a_target():
    weights = np.array([[0.0, 3.0, 1.0, 2.0], [2.0, 0.0, 1.0, 3.0]])  # row b's value: sum of its targets' weights

    def value_of(sets):  # (B, K, d) -> (B, K)
        return (sets * weights[:, None]).sum(-1)

    start = np.eye(4, dtype=bool)[[0, 1]]
    path, values = forward_path(value_of, start)
    assert path.shape == (2, 3, 4) and values.shape == (2, 3)
    np.testing.assert_array_equal(path[0], [[1, 1, 0, 0], [1, 1, 0, 1], [1, 1, 1, 1]])
    np.testing.assert_array_equal(path[1], [[0, 1, 0, 1], [1, 1, 0, 1], [1, 1, 1, 1]])
    np.testing.assert_allclose(values, [[3, 5, 6], [3, 5, 6]])
    empty, none = forward_path(value_of, np.ones((2, 4), bool))
    assert empty.shape == (2, 0, 4) and none.shape == (2, 0)


def test_deterministic_designs_are_a_function_of_the_history_and_sampled_ones_vary():
    designer = tiny_designer()
    obs = history()
    first, state = designer.predict(obs, deterministic=True)
    assert state is None and first.shape == (4, 2) and first.dtype == np.float32
    np.testing.assert_array_equal(tiny_designer(seed=5).predict(obs, deterministic=True)[0], first)
    np.testing.assert_array_equal(history_generator(obs).random(3), history_generator(obs.copy()).random(3))
    assert not np.array_equal(history_generator(obs).random(3), history_generator(history(1)).random(3))
    batch, _ = designer.predict(np.stack([obs, history(1)]), deterministic=True)
    np.testing.assert_array_equal(batch[0], first)  # batching does not change a history's design
    strategy = tiny_designer(deterministic=True)
    np.testing.assert_array_equal(strategy.act(obs[None], [np.random.default_rng(9)])[0], first)
    sampled = [tiny_designer(seed=s).predict(obs)[0] for s in range(4)]
    np.testing.assert_array_equal(tiny_designer(seed=3).predict(obs)[0], sampled[3])  # seeded: reproducible
    for actions in (first, *sampled):
        assert set(np.unique(actions[:, 0])) <= {-1.0, 1.0} and (actions[:, 1] == 1.0).all()


class TableNet(ValueNet):
    """A fixed random value per target set of 4 variables: the best candidate depends on which sets are drawn."""

    def __init__(self) -> None:
        super().__init__(width=4, layers=1, heads=1)
        self.table = th.as_tensor(np.random.default_rng(0).normal(size=16), dtype=th.float32)

    def forward(self, gene, probs, counts, sets, obs=None, context=None):
        return self.table[(sets.long() * 2 ** th.arange(4)).sum(-1)]


def test_sampled_designs_draw_their_candidates_from_the_generator():
    designer = tiny_designer()
    designer.net = TableNet()
    obs = history()
    designs = {designer.predict(obs)[0].tobytes() for _ in range(12)}
    assert len(designs) > 1
    assert len({designer.predict(obs, deterministic=True)[0].tobytes() for _ in range(3)}) == 1


class SizeNet(ValueNet):
    """Values a target set by its size: the larger, the better."""

    def __init__(self) -> None:
        super().__init__(width=4, layers=1, heads=1)

    def forward(self, gene, probs, counts, sets, obs=None, context=None):
        return sets.float().sum(-1)


@pytest.mark.parametrize("full_sets", [True, False])
def test_without_full_sets_no_design_targets_every_variable(full_sets):
    designer = tiny_designer(full_sets=full_sets, forward=True, seed=0)
    designer.net = SizeNet()
    obs = np.stack([history(s) for s in range(6)])
    targets = designer.predict(obs)[0][..., 0] > 0  # (6, 4)
    sizes = targets.sum(-1)
    assert (sizes == (4 if full_sets else 3)).all()
    assert candidate_sets(np.random.default_rng(0), 2, 5, 1).shape == (3, 2)  # d = 2 without full sets: no random


def test_at_another_d_than_native_d_the_designer_plays_uniform_random_targets():
    obs = np.stack([history(s) for s in range(40)])  # d = 4
    native = tiny_designer(native_d=4, forward=True, seed=0)
    native.net = SizeNet()
    assert (native.predict(obs)[0][..., 0] > 0).all()  # its own choice: the largest set
    other = tiny_designer(native_d=10, seed=0)
    other.net = SizeNet()
    targets = other.predict(obs)[0][..., 0] > 0  # (40, 4)
    assert 0.3 < targets.mean() < 0.7 and len({t.tobytes() for t in targets}) > 4
    again = tiny_designer(native_d=10, seed=1)
    np.testing.assert_array_equal(again.predict(obs, deterministic=True)[0], other.predict(obs, deterministic=True)[0])
    with pytest.raises(ValueError, match="native_d must be >= 1"):
        ValueDesigner(other.net, other.model, 3, native_d=0)


def test_predict_names_bad_observations():
    designer = tiny_designer()
    with pytest.raises(ValueError, match=r"shape \(N, d, 3\) or \(B, N, d, 3\), got \(6, 4\)"):
        designer.predict(np.zeros((6, 4)))
    bad = history()
    bad[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN or infinite"):
        designer.predict(bad)
    with pytest.raises(ValueError, match="n_random must be >= 0"):
        ValueDesigner(designer.net, designer.model, -1)
    with pytest.raises(ValueError, match="max_size must be >= 2"):
        ValueDesigner(designer.net, designer.model, 3, max_size=1)


def test_a_saved_net_loads_bit_for_bit_and_a_damaged_file_is_named(tmp_path):
    designer = tiny_designer()
    path = tmp_path / "v.pt"
    sidecar = save_value_net(
        designer.net, path, dict(command="python -m x", n_random=3, curve={"mse": np.float32(0.5)})
    )
    net, info = load_value_net(path)
    assert info["net"] == designer.net.options and info["curve"] == {"mse": 0.5} and info["n_random"] == 3
    for a, b in zip(net.state_dict().values(), designer.net.state_dict().values()):
        th.testing.assert_close(a, b, rtol=0, atol=0)
    assert load_value_designer(LINEAR, path=path).full_sets  # a sidecar without the key: every size
    sidecar.write_text(json.dumps({**json.loads(sidecar.read_text()), "full_sets": False}))
    assert not load_value_designer(LINEAR, path=path).full_sets
    sidecar.write_text(json.dumps({**json.loads(sidecar.read_text()), "n_random": None}))
    with pytest.raises(ValueError, match="has no designer options: expected an integer n_random"):
        load_value_designer(LINEAR, path=path)
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(ValueError, match=r"does not match its sidecar .*regenerate it with python -m x"):
        load_value_net(path)
    sidecar.write_text("{not json")
    with pytest.raises(ValueError, match="is not a value network's sidecar"):
        load_value_net(path)
    sidecar.unlink()
    with pytest.raises(ValueError, match=r"v.json is missing"):
        load_value_net(path)
    with pytest.raises(ValueError, match=r"no value designer shipped for 'CausalLinear-v0'.*ids with one: none"):
        load_value_designer(LINEAR, directory=tmp_path)


SHIPPED = available_value_designers()
SHIPPED_IDS = [i for i in caasl_gym.ALL_IDS if training_id(i) in SHIPPED]


@pytest.mark.parametrize("env_id", SHIPPED_IDS)
def test_the_shipped_designer_plays_valid_designs_on_every_id_of_its_prior(env_id):
    env = gym.make(env_id)
    obs, _ = env.reset(seed=0)
    for deterministic in (False, True):
        designer = load_value_designer(env_id, deterministic=deterministic, seed=0)
        action, _ = designer.predict(obs, deterministic=deterministic)
        assert action.shape == env.action_space.shape and env.action_space.contains(action)
        assert designer.name == ("CAASL-value-deterministic" if deterministic else "CAASL-value")
    info = json.loads(shipped_value_path(env_id).with_suffix(".json").read_text())
    assert {"command", "sha256", "net", "n_random", "validation"} <= set(info)
    assert designer.full_sets == info.get("full_sets", True) and designer.native_d == info.get("native_d")


def test_export_ships_a_net_with_its_options_and_scores_and_keeps_its_bytes(tmp_path):
    designer = tiny_designer()
    source = tmp_path / "runs" / "v.pt"
    save_value_net(designer.net, source, dict(env_id=LINEAR, command="python -m x", n_random=3, value=1.0))
    select = tmp_path / "select.csv"
    select.write_text(
        "env_id,candidate,designs,score,gain_vs_random,gain_ci95,diff_vs_incumbent,diff_ci95\n"
        f"{LINEAR},shipped,sampled,80,1.0,0.5,,\n{LINEAR},value,sampled,81,2.0,0.5,1.0,0.4\n"
        f"{LINEAR},value,deterministic,81,2.5,0.5,1.5,0.4\n"
    )
    evaluation = tmp_path / "evaluation"
    evaluation.mkdir()
    (evaluation / "summary.csv").write_text(
        "env_id,strategy,t,n,score,gain,gain_ci95,auprc\n"
        f"{LINEAR},CAASL-value,0,100,70,0,0,0.5\n{LINEAR},CAASL-value,10,100,85,3.8,0.6,0.9\n"
        f"{LINEAR},CAASL-value-deterministic,10,100,85.1,3.9,0.6,0.91\n{LINEAR},Random,10,100,81,0,0,0.87\n"
    )
    out = tmp_path / "shipped"
    args = [str(source), "--out", str(out), "--n-random", "7", "--full-sets", "false", "--value", "none"]
    args += ["--native-d", "4"]
    args += ["--note", "compute=1 h"]
    other = tmp_path / "select_other.csv"
    other.write_text(select.read_text().replace("CausalLinear-v0", "CausalLinear-OOD-D20-v0").replace("value", "v2"))
    selection = ["--selection", str(select), f"v2={other}"]
    sidecar = export_main([*args, "--label", "value", *selection, "--test", str(evaluation)])
    assert sidecar == out / f"{LINEAR}.value.json"
    assert (out / f"{LINEAR}.value.pt").read_bytes() == source.read_bytes()
    info = json.loads(sidecar.read_text())
    assert info["n_random"] == 7 and info["full_sets"] is False and info["compute"] == "1 h"
    assert info["value"] is None
    assert info["command"] == "python -m x" and info["export_command"].startswith("python -m caasl_agents.value")
    assert info["validation"][LINEAR]["deterministic"]["diff_vs_incumbent"] == 1.5
    assert info["validation"]["CausalLinear-OOD-D20-v0"]["sampled"]["gain_vs_random"] == 2.0
    expected = dict(score=85.0, gain_vs_random=3.8, gain_ci95=0.6, auprc=0.9, episodes=100)
    assert info["test"][str(evaluation)][LINEAR]["sampled"] == expected
    shipped = load_value_designer(LINEAR, directory=out)
    assert shipped.n_random == 7 and not shipped.full_sets and shipped.value is None and shipped.native_d == 4
    with pytest.raises(SystemExit):
        export_main([*args, "--label", "other", "--selection", str(select)])  # no such candidate
    with pytest.raises(ValueError, match="has no candidate 'other'; its candidates: \\['shipped', 'value'\\]"):
        selection_rows(select, "other")


def tiny_net(seed: int, **options) -> ValueNet:
    th.manual_seed(seed)
    return ValueNet(**{**dict(width=16, layers=1, heads=2, history=True), **options}).eval()


def test_an_ensemble_plays_its_members_mean_value():
    members = [tiny_net(0), tiny_net(1)]
    single, ensemble = tiny_designer(), tiny_designer()
    ensemble.net = ValueEnsemble(members)
    obs = history()[None]
    probs, counts = (th.as_tensor(x, dtype=th.float32) for x in history_posterior64(single.model, obs))
    gene = gene_statistics(probs.numpy(), counts.numpy())
    sets = th.as_tensor(candidate_sets(np.random.default_rng(0), 4, 5, 4)[None])
    obs = th.as_tensor(obs)
    with th.no_grad():
        values = [m(gene, probs, counts, sets, obs) for m in members]
        mean = sum(values) / 2
        th.testing.assert_close(ensemble.net(gene, probs, counts, sets, obs), mean)
        context = ensemble.net.history_context(obs)  # (M, S, 1, d, w)
        th.testing.assert_close(ensemble.net(gene, probs, counts, sets, context=context), mean)
        # the ranking is that of the members' centred values, and a candidate's value does not depend on the other
        # candidates of the call (a forward path compares its rounds, each scored in its own call, with them)
        centred = sum(v - v.mean(1, keepdim=True) for v in values) / 2
        assert th.equal(mean.argsort(1), centred.argsort(1))
        th.testing.assert_close(ensemble.net(gene, probs, counts, sets[:, 3:5], obs), mean[:, 3:5])
    assert ensemble.net.options == {**members[0].options, "members": 2} and ensemble.net.reads_history
    # an ensemble of one plays the same designs as its member
    single.net, ensemble.net = members[0], ValueEnsemble(members[:1])
    for seed in range(3):
        np.testing.assert_array_equal(single.predict(history(seed), deterministic=True)[0],
                                      ensemble.predict(history(seed), deterministic=True)[0])  # fmt: skip
    with pytest.raises(ValueError, match="share one architecture"):
        ValueEnsemble([tiny_net(0), tiny_net(0, width=8)])
    with pytest.raises(ValueError, match="at least one member"):
        ValueEnsemble([])
    with pytest.raises(ValueError, match="reads the history: pass obs"):
        ensemble.net(gene, probs, counts, sets)


@pytest.mark.parametrize("members", [0, -1, 1.5, True, "2"])
def test_build_value_net_names_a_bad_number_of_members(members):
    with pytest.raises(ValueError, match="members must be a positive integer"):
        build_value_net({"width": 16, "members": members})
    assert isinstance(build_value_net({"width": 16, "members": 2}), ValueEnsemble)
    with pytest.raises(ValueError, match="do not build a ValueNet"):
        build_value_net({"depth": 3})


def test_combine_saves_an_ensemble_that_loads_as_one_network(tmp_path):
    sources = []
    for seed in range(3):
        sources.append(tmp_path / f"v{seed}.pt")
        info = dict(env_id=LINEAR, command=f"python -m x --seed {seed}", n_random=3, value=1.0, seed=seed)
        save_value_net(tiny_net(seed), sources[-1], info)
    save = tmp_path / "ens.pt"
    sidecar = ensemble_main([*map(str, sources), "--save", str(save)])
    info = json.loads(sidecar.read_text())
    assert info["net"]["members"] == 3 and info["n_random"] == 3 and info["env_id"] == LINEAR
    assert [m["seed"] for m in info["members"]] == [0, 1, 2] and info["command"].startswith("python -m caasl_agents")
    net, _ = load_value_net(save)
    assert isinstance(net, ValueEnsemble)
    for member, seed in zip(net.members, range(3)):
        for a, b in zip(member.state_dict().values(), tiny_net(seed).state_dict().values()):
            th.testing.assert_close(a, b, rtol=0, atol=0)
    designer = load_value_designer(LINEAR, env_kwargs=TINY, path=save, deterministic=True)
    env = gym.make(LINEAR, **TINY)
    assert env.action_space.contains(designer.predict(history(), deterministic=True)[0])
    with pytest.raises(ValueError, match="at least two networks"):
        combine(sources[:1], save)
    with pytest.raises(ValueError, match="is an ensemble already"):
        combine([save, sources[0]], tmp_path / "e2.pt")
    other = tmp_path / "other.pt"
    save_value_net(tiny_net(3), other, dict(env_id="SergioKnockout-v0", n_random=3))
    with pytest.raises(ValueError, match="different ids"):
        combine([sources[0], other], tmp_path / "e3.pt")
    save_value_net(tiny_net(3, width=8), other, dict(env_id=LINEAR, n_random=3))
    with pytest.raises(ValueError, match="share one architecture"):
        combine([sources[0], other], tmp_path / "e4.pt")
