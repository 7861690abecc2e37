"""benchmarks.one_step_value: candidates, the privileged collection and its resume, the value network, the designer."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch as th

from benchmarks import one_step_value as osv
from caasl_gym.evaluation import VALIDATION, rollout

TINY = dict(num_nodes=4, n_initial=6, budget=2)
ENV = "SergioKnockout-v0"


def test_candidates_are_observational_singles_and_random_sets_of_two_or_more():
    sets = osv.candidate_sets(np.random.default_rng(0), 5, 40, 4)
    assert sets.shape == (1 + 5 + 40, 5) and sets.dtype == bool
    assert not sets[0].any()
    np.testing.assert_array_equal(sets[1:6], np.eye(5, dtype=bool))
    sizes = sets[6:].sum(1)
    assert sizes.min() == 2 and sizes.max() == 4  # never the null experiment with max_size = d - 1
    actions = osv.as_actions(sets, np.random.default_rng(1))
    assert actions.shape == (46, 5, 2) and actions.dtype == np.float32
    np.testing.assert_array_equal(actions[..., 0] > 0, sets)
    assert np.all(np.abs(actions[..., 1]) <= 1)


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


def test_value_net_is_equivariant_to_gene_order_and_runs_at_any_d():
    th.manual_seed(0)
    net = osv.ValueNet(width=16, layers=1, heads=2).eval()
    rng = np.random.default_rng(0)
    probs = th.as_tensor(rng.uniform(size=(3, 5, 5)), dtype=th.float32)
    counts = th.as_tensor(rng.integers(0, 3, size=(3, 5)), dtype=th.float32)
    sets = th.as_tensor(osv.candidate_sets(rng, 5, 4, 5))[None].expand(3, -1, -1)
    perm = th.as_tensor(rng.permutation(5))

    def value_of(p, c, m):
        return net(osv.gene_statistics(p.numpy(), c.numpy()), p, c, m)

    with th.no_grad():
        value = value_of(probs, counts, sets)
        permuted = value_of(probs[:, perm][:, :, perm], counts[:, perm], sets[:, :, perm])
        assert value_of(probs[:, :3, :3], counts[:, :3], sets[:, :, :3]).shape == (3, 10)
    assert value.shape == (3, 10)
    th.testing.assert_close(value, permuted, atol=1e-5, rtol=1e-5)


def test_training_writes_a_curve_and_the_designer_plays_valid_designs():
    rng = np.random.default_rng(0)
    sets = np.stack([osv.candidate_sets(rng, 4, 3, 4) for _ in range(40)])
    data = dict(probs=rng.uniform(size=(40, 4, 4)).astype(np.float32), counts=np.zeros((40, 4), np.float32),
                sets=sets, scores=(70 + sets.sum(-1) * 0.1).astype(np.float32))  # fmt: skip
    net, curve = osv.train(data, 2, seed=0, batch=8)
    assert list(curve.epoch) == [1, 2] and np.isfinite(curve.heldout_mse).all()
    model = osv.reward_model_of(ENV, TINY)
    designers = [
        osv.OneStepValueDesigner(net, model, 3, None, "all"),
        osv.OneStepValueDesigner(net, model, 3, 3, "no null"),
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
    table = osv.gains_table(frame, acts).set_index("strategy")
    assert table.loc["x", "gain_vs_random"] == pytest.approx(2.5)
    assert table.loc["x", "vs_posterior_parents"] == pytest.approx(1.5)
    assert table.loc["x", "null_share"] == 1.0 and table.loc["Posterior-parents", "targets_per_design"] == 0
