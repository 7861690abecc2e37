"""benchmarks.one_step_value: the collections and their resume, the training, the gains table, the designers in rollouts
(the network and the designer themselves: test_agents_value.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch as th

from benchmarks import one_step_value as osv
from caasl_gym.evaluation import VALIDATION, rollout

TINY = dict(num_nodes=4, n_initial=6, budget=2)
ENV = "SergioKnockout-v0"
LINEAR = "CausalLinear-v0"


def test_collection_scores_every_candidate_and_resumes(tmp_path, monkeypatch):
    data = osv.collect(ENV, tmp_path, 4, 3, 1, TINY, chunk=2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["chunk_0000000_c3.npz", "chunk_0000002_c3.npz"]
    states, c = 4 * TINY["budget"], 1 + 4 + 3
    assert data["probs"].shape == (states, 4, 4) and data["counts"].shape == (states, 4)
    assert data["sets"].shape == (states, c, 4) and data["scores"].shape == (states, c)
    assert np.isfinite(data["scores"]).all() and (data["scores"] > 0).all()
    assert (data["counts"][::4] == 0).all()  # the first state of each chunk: nothing targeted yet

    def fail(*args):
        raise AssertionError("a collected chunk was collected again")

    monkeypatch.setattr(osv, "collect_chunk", fail)
    again = osv.collect(ENV, tmp_path, 4, 3, 1, TINY, chunk=2)
    np.testing.assert_array_equal(again["scores"], data["scores"])
    with pytest.raises(ValueError, match="multiple of 2"):
        osv.collect(ENV, tmp_path, 3, 3, 1, TINY, chunk=2)


def test_training_writes_a_curve_and_the_designer_plays_valid_designs():
    rng = np.random.default_rng(0)
    sets = np.stack([osv.candidate_sets(rng, 4, 3, 4) for _ in range(40)])
    data = dict(probs=rng.uniform(size=(40, 4, 4)).astype(np.float32), counts=np.zeros((40, 4), np.float32),
                sets=sets, scores=(70 + sets.sum(-1) * 0.1).astype(np.float32))  # fmt: skip
    net, curve = osv.train(data, 2, seed=0, batch=8)
    assert list(curve.epoch) == [1, 2] and np.isfinite(curve.heldout_mse).all()
    model = osv.reward_model_of(ENV, TINY)
    designers = [
        osv.ValueDesigner(net, model, 3, value=None, name="all"),
        osv.ValueDesigner(net, model, 3, 3, value=None, name="no null"),
    ]
    for designer in designers:
        run = rollout(ENV, designer, 3, VALIDATION.start, TINY, record_actions=True)
        assert run.actions.shape == (3, 2, 4, 2) and np.isfinite(run.score).all()
    # the scores grow with the number of targets, so a trained value prefers large sets, but never all four here
    assert not (run.actions[..., 0] > 0).all(-1).any()


def test_gains_table_pairs_with_random_and_posterior_parents():
    names = np.repeat(["Random", "Posterior-parents", "x"], 2)
    frame = pd.DataFrame(
        dict(env_id="e", t=1, episode=np.tile([0, 1], 3), strategy=names, score=[1.0, 2.0, 2.0, 3.0, 4.0, 4.0])
    )
    acts = {"Posterior-parents": -np.ones((2, 1, 3, 2)), "x": np.ones((2, 1, 3, 2))}
    table = osv.gains_table(frame, acts, "Posterior-parents").set_index("strategy")
    assert table.loc["x", "gain_vs_random"] == pytest.approx(2.5)
    assert table.loc["x", "vs_posterior_parents"] == pytest.approx(1.5)
    assert table.loc["x", "null_share"] == 1.0 and table.loc["Posterior-parents", "targets_per_design"] == 0


def test_greedy_choice_follows_the_path_while_it_improves_and_keeps_a_better_base_candidate():
    d = 3
    base = np.array([0.1, 0.5, 0.2, 0.3, 0.4])  # observational, 3 singles, 1 random set
    assert osv.greedy_choice(base, np.array([0.6, 0.9]), d) == 6  # grows twice: the path's second set
    assert osv.greedy_choice(base, np.array([0.6, 0.55]), d) == 5  # stops once a round does not improve
    assert osv.greedy_choice(base, np.array([0.45, 0.9]), d) == 1  # the first round fails: the best single
    assert osv.greedy_choice(np.array([0.1, 0.5, 0.2, 0.3, 0.8]), np.array([0.6, 0.7]), d) == 4  # a better base set


def test_linear_collection_records_the_teachers_criterion_of_every_candidate_and_its_path(tmp_path):
    data = osv.collect(LINEAR, tmp_path, 2, 3, 1, TINY, chunk=2)
    states, c = 2 * TINY["budget"], 1 + 4 + 3 + 3  # base candidates, then the path's sets of 2, 3 and 4 targets
    assert data["sets"].shape == (states, c, 4) and data["scores"].shape == (states, c)
    np.testing.assert_array_equal(data["sets"][:, -3:].sum(-1), np.tile([2, 3, 4], (states, 1)))
    assert np.isfinite(data["scores"]).all()
    assert not data["sets"][:, 0].any() and (data["probs"] >= 0).all() and (data["probs"] <= 1).all()
    np.testing.assert_allclose(data["scores"][:, -1], 0.0, atol=1e-9)  # every variable a target: no information
    again = osv.collect(LINEAR, tmp_path / "again", 2, 3, 1, TINY, chunk=2)
    np.testing.assert_array_equal(again["scores"], data["scores"])  # deterministic under the episode seeds
    fixed = osv.fixed_candidates(data, 3)  # drops the path: its scores are maxima of the criterion that grew it
    assert fixed["sets"].shape == (states, 1 + 4 + 3, 4) and fixed["scores"].shape == (states, 1 + 4 + 3)
    np.testing.assert_array_equal(fixed["scores"], data["scores"][:, :8])
    assert fixed["probs"] is data["probs"] and fixed["obs"] is data["obs"]


def test_linear_designer_plays_value_one_and_can_grow_a_forward_path():
    th.manual_seed(0)
    net = osv.ValueNet(width=16, layers=1, heads=2).eval()
    model = osv.reward_model_of(LINEAR, TINY)
    for forward in (False, True):
        designer = osv.ValueDesigner(net, model, 3, name="v", forward=forward)
        run = rollout(LINEAR, designer, 2, VALIDATION.start, TINY, record_actions=True)
        targets, values = run.actions[..., 0] > 0, run.actions[..., 1]
        assert run.actions.shape == (2, 2, 4, 2) and np.isfinite(run.score).all()
        assert (values == 1.0).all() and targets.any()


def test_a_history_reading_value_net_needs_the_histories_and_stays_equivariant(tmp_path):
    th.manual_seed(0)
    net = osv.ValueNet(width=16, layers=1, heads=2, history=True).eval()
    rng = np.random.default_rng(0)
    probs = th.as_tensor(rng.uniform(size=(2, 4, 4)), dtype=th.float32)
    counts = th.zeros(2, 4)
    sets = th.as_tensor(osv.candidate_sets(rng, 4, 3, 4))[None].expand(2, -1, -1)
    obs = th.zeros(2, 6, 4, 3)  # six observational rows per history
    obs[..., 0], obs[..., 2] = th.as_tensor(rng.normal(size=(2, 6, 4)), dtype=th.float32), 1.0
    gene = osv.gene_statistics(probs.numpy(), counts.numpy())
    perm = th.as_tensor([2, 0, 3, 1])
    with th.no_grad():
        value = net(gene, probs, counts, sets, obs)
        permuted = net(gene[:, perm], probs[:, perm][:, :, perm], counts[:, perm], sets[:, :, perm], obs[:, :, perm])
        other = net(gene, probs, counts, sets, obs * 2.0 + 1.0)
        with pytest.raises(ValueError, match="reads the history"):
            net(gene, probs, counts, sets)
    th.testing.assert_close(value, permuted, atol=1e-5, rtol=1e-5)
    assert not th.allclose(value, other)  # the values depend on the history, not only on its posterior

    data = osv.collect(LINEAR, tmp_path, 10, 3, 1, TINY, chunk=5)  # 20 states, 2 held out
    assert data["obs"].shape[0] == len(data["scores"]) and data["obs"].shape[2:] == (4, 3)
    trained, curve = osv.train(data, 1, seed=0, batch=2, history=True)
    designer = osv.ValueDesigner(trained, osv.reward_model_of(LINEAR, TINY), 3, forward=True)
    run = rollout(LINEAR, designer, 2, VALIDATION.start, TINY, record_actions=True)
    assert np.isfinite(run.score).all() and np.isfinite(curve.heldout_mse).all()
    data.pop("obs")
    with pytest.raises(ValueError, match="needs data collected with the histories"):
        osv.train(data, 1, seed=0, history=True)


def test_main_with_no_validation_episodes_trains_saves_and_writes_only_the_curve(tmp_path, monkeypatch):
    import benchmarks._common as common

    rng = np.random.default_rng(1)
    sets = np.stack([osv.candidate_sets(rng, 10, 3, 10) for _ in range(30)])
    data = dict(probs=rng.uniform(size=(30, 10, 10)).astype(np.float32), counts=np.zeros((30, 10), np.float32),
                sets=sets, scores=(70 + sets.sum(-1) * 0.1).astype(np.float32))  # fmt: skip
    monkeypatch.setattr(osv, "collect", lambda *args, **kwargs: data)
    monkeypatch.setattr(common, "RESULTS_DIR", tmp_path / "results")

    def fail(*args, **kwargs):
        raise AssertionError("--n-envs 0 ran validation episodes")

    monkeypatch.setattr(osv, "rollout", fail)
    argv = ["--env", ENV, "--train-episodes", "50", "--epochs", "1", "--n-envs", "0", "--out", "member"]
    curve = osv.main([*argv, "--save", str(tmp_path / "member.pt")])
    assert list(curve.epoch) == [1]
    assert (tmp_path / "member.pt").exists() and (tmp_path / "member.json").exists()
    assert sorted(p.name for p in (tmp_path / "results").iterdir()) == ["member_training.csv", "member_training.md"]
    with pytest.raises(SystemExit):
        osv.main([*argv[:-2], "--n-envs", "-1"])
