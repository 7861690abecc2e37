"""benchmarks.probe_share: runs of the same episodes are joined only when their Random scores agree."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from benchmarks.evaluate import probe_share
from benchmarks.probe_share import join_runs
from caasl_gym.evaluation.probe import PROBE_NAME


def _run(folder, scores: dict[str, np.ndarray]):
    folder.mkdir()
    rows = [dict(env_id="X-v0", strategy=s, episode=i, seed=10_000_000 + i, t=2, score=v)
            for s, values in scores.items() for i, v in enumerate(values)]  # fmt: skip
    pd.DataFrame(rows).to_csv(folder / "episodes.csv", index=False)
    return folder


def test_the_new_policy_gets_its_share_of_the_probe_run_on_the_same_episodes(tmp_path):
    random = np.array([10.0, 11.0, 12.0, 13.0])
    a = _run(tmp_path / "a", {"CAASL": random + np.array([1, 2, 1, 2]), "Random": random})
    b = _run(tmp_path / "b", {PROBE_NAME: random + 2 * np.array([1, 2, 1, 2]), "Random": random,
                              "CAASL": random})  # an older policy of that run: the first run's wins  # fmt: skip
    joined = join_runs([a, b])
    assert sorted(joined.strategy.unique()) == sorted(["CAASL", "Random", PROBE_NAME])
    share = probe_share(joined).set_index("strategy").loc["CAASL"]
    assert share.share == pytest.approx(0.5) and share.share_low <= 0.5 <= share.share_high


def test_runs_of_other_episodes_are_refused(tmp_path):
    a = _run(tmp_path / "a", {"CAASL": np.ones(3), "Random": np.zeros(3)})
    b = _run(tmp_path / "b", {PROBE_NAME: np.ones(3), "Random": np.array([0.0, 0.0, 0.5])})
    with pytest.raises(ValueError, match="did not play the same environments"):
        join_runs([a, b])
    c = _run(tmp_path / "c", {PROBE_NAME: np.ones(3), "Random": np.array([0.0, 0.0, 3e-6])})
    assert set(join_runs([a, c]).strategy) == {"CAASL", "Random", PROBE_NAME}  # float32 noise of a batched reward
    d = _run(tmp_path / "d", {PROBE_NAME: np.ones(3), "Random": np.array([0.0, 0.0, 1e-3])})
    with pytest.raises(ValueError, match="did not play the same environments"):
        join_runs([a, d])
    with pytest.raises(ValueError, match=r"no episodes\.csv"):
        join_runs([a, tmp_path])
