"""benchmarks.select_policy: candidates paired with Random and with the incumbent on fresh validation seeds."""

import numpy as np
import pytest

from benchmarks.select_policy import DEFAULT_OFFSET, parse_candidate, selection_table
from caasl_agents.pretrained import PACKAGE_DIR
from caasl_gym.evaluation import TEST, VALIDATION


def test_candidates_parse_and_bad_ones_name_the_form():
    assert parse_candidate("shipped") == ("shipped", None)
    assert parse_candidate("best=runs/a/model.zip") == ("best", "runs/a/model.zip")
    for bad in ["runs/a/model.zip", "=x.zip", "a/b=x.zip", "best="]:
        with pytest.raises(ValueError, match="a candidate is 'shipped' or LABEL=PATH"):
            parse_candidate(bad)


def test_a_copy_of_the_incumbent_differs_by_exactly_zero():
    copy = ("copy", str(PACKAGE_DIR / "SergioKnockout-v0.zip"))
    table = selection_table("SergioKnockout-v0", [("shipped", None), copy], 3, VALIDATION.start + DEFAULT_OFFSET,
                            baselines=("RoundRobin",))  # fmt: skip
    assert table.candidate.tolist() == ["shipped", "shipped", "copy", "copy", "RoundRobin"]
    assert table.designs.tolist() == ["sampled", "deterministic"] * 2 + ["-"]
    assert table.diff_vs_incumbent.iloc[:2].isna().all() and table.diff_vs_incumbent.iloc[4:].isna().all()
    np.testing.assert_array_equal(table.diff_vs_incumbent.iloc[2:4], 0.0)  # the same policy, the same episodes
    np.testing.assert_array_equal(table.score.iloc[:2], table.score.iloc[2:4])
    assert np.isfinite(table.gain_vs_random).all()


def test_seeds_outside_validation_and_duplicate_labels_are_refused():
    with pytest.raises(ValueError, match=r"selection seeds .* must lie in the validation family"):
        selection_table("SergioKnockout-v0", [("shipped", None)], 2, TEST.start)
    with pytest.raises(ValueError, match="candidate labels must be distinct"):
        selection_table("SergioKnockout-v0", [("shipped", None), ("shipped", None)], 2, VALIDATION.start)


def test_a_value_network_file_is_a_candidate_in_both_modes(tmp_path):
    import torch as th

    from caasl_agents.value import ValueNet, save_value_net

    th.manual_seed(0)
    save_value_net(ValueNet(width=8, layers=1, heads=1), tmp_path / "v.pt", dict(n_random=2, value=1.0))
    table = selection_table("CausalLinear-v0", [("shipped", None), ("value", str(tmp_path / "v.pt"))], 2,
                            VALIDATION.start + DEFAULT_OFFSET)  # fmt: skip
    assert table.candidate.tolist() == ["shipped", "shipped", "value", "value"]
    assert np.isfinite(table.diff_vs_incumbent.iloc[2:]).all() and np.isfinite(table.gain_vs_random).all()
