"""benchmarks.null_experiment: the designs; an experiment that sets every variable leaves the exact posterior."""

from __future__ import annotations

import numpy as np

from benchmarks.null_experiment import DESIGNS, design_candidates, null_table, score_changes
from caasl_gym.evaluation import VALIDATION

SMALL = dict(num_nodes=4, n_initial=6, budget=3)


def test_designs_are_all_targets_none_and_one():
    cands = design_candidates([np.random.default_rng(s) for s in range(5)], 4)
    assert cands.shape == (5, len(DESIGNS), 4, 2) and cands.dtype == np.float32
    np.testing.assert_array_equal((cands[..., 0] > 0).sum(-1), np.tile([4, 0, 1], (5, 1)))
    assert np.all(np.abs(cands[..., 1]) <= 1)


def test_the_exact_posterior_ignores_the_null_experiment_and_learns_from_real_ones():
    changes = score_changes("CausalLinear-v0", 8, VALIDATION.start, {**SMALL, "reward_model": "exact"})
    assert changes.shape == (8, 3, 3)
    np.testing.assert_allclose(changes[..., 0], 0.0, atol=1e-9)  # every variable set: no information
    assert np.abs(changes[..., 1:]).max() > 1e-3  # the observational and single-target rows do move it


def test_table_has_a_row_per_id_model_and_design():
    table = null_table(["CausalLinear-v0"], ["default", "exact"], 3, VALIDATION.start, SMALL)
    assert list(table.reward_model) == ["default"] * 3 + ["exact"] * 3 and list(table.design) == list(DESIGNS) * 2
    null = table[table.design == "null experiment"]
    np.testing.assert_allclose(null.change_per_design, 0.0, atol=1e-9)  # the default d = 4 reward is exact too
    assert (null.positive_share == 0).all() and np.isfinite(table.ci95).all()
