import numpy as np
import pytest

from benchmarks.evaluate import evaluate, final_table, summarize
from benchmarks.strategies import ObservationalStrategy, RandomStrategy

SMALL = dict(num_nodes=4, n_initial=6, budget=3)


@pytest.fixture(scope="module")
def episodes():
    return evaluate(["CausalLinear-v0"], [RandomStrategy(), ObservationalStrategy()], n_envs=3, env_kwargs=SMALL)


def test_paired_episodes(episodes):
    assert len(episodes) == 2 * 3 * (SMALL["budget"] + 1)
    t0 = episodes[episodes.t == 0].pivot(index="episode", columns="strategy", values="score")
    # every strategy starts from the same hidden model and initial data
    np.testing.assert_allclose(t0["Random"], t0["Observational"])
    later = episodes[episodes.t == SMALL["budget"]].pivot(index="episode", columns="strategy", values="score")
    assert not np.allclose(later["Random"], later["Observational"])


def test_reproducible(episodes):
    again = evaluate(["CausalLinear-v0"], [RandomStrategy(), ObservationalStrategy()], n_envs=3, env_kwargs=SMALL)
    np.testing.assert_allclose(again.score, episodes.score)


def test_summary_and_table(episodes):
    summary = summarize(episodes)
    assert set(summary.strategy) == {"Random", "Observational"}
    obs_last = summary[(summary.strategy == "Observational") & (summary.t == SMALL["budget"])].iloc[0]
    assert np.isfinite(obs_last.score_ci95) and np.isfinite(obs_last.score_minus_random)
    table = final_table(summary)
    assert list(table.strategy) == ["Random", "Observational"] and (table["T"] == SMALL["budget"]).all()
