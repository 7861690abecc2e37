"""benchmarks.learning_curve: one paired evaluation per checkpoint of a training run."""

import numpy as np
import pytest
import torch as th

from benchmarks.learning_curve import curve, plot
from caasl_agents.pretrained.export import checkpoints


@pytest.fixture(scope="module")
def run_dir(train_toy):
    threads = th.get_num_threads()
    yield train_toy("--checkpoint-freq", "16", "--seed", "2")
    th.set_num_threads(threads)


def test_checkpoints_are_listed_by_steps(run_dir, tmp_path):
    assert [s for s, _ in checkpoints(run_dir)] == [16, 32, 48]
    with pytest.raises(FileNotFoundError, match="no checkpoints"):
        checkpoints(tmp_path)


def test_curve_is_paired_and_plotted(run_dir, tmp_path):
    df = curve(run_dir, n_episodes=5, every=2)
    assert df.env_steps.tolist() == [16, 48] and (df.seed == 2).all()  # every 2nd checkpoint, and always the last
    assert df.random_score.nunique() == 1  # the same Random episodes for every checkpoint
    assert np.isfinite(df[["score", "gain", "gain_ci95"]].to_numpy()).all()
    np.testing.assert_allclose(df.score - df.random_score, df.gain)  # the gain is paired: S(h_T) - S_Random(h_T)
    assert df.gradient_steps.tolist()[0] == 0 and df.gradient_steps.tolist()[-1] > 0  # learning starts at 16
    pytest.importorskip("matplotlib")
    assert plot(df, tmp_path / "curve.png").stat().st_size > 0


def test_curve_in_both_modes_on_validation_seeds(run_dir, tmp_path):
    from caasl_gym.evaluation import VALIDATION

    df = curve(run_dir, n_episodes=3, every=3, seed_base=VALIDATION.start, modes=("sampled", "deterministic"))
    assert df.designs.tolist() == ["sampled", "deterministic"] * 2 and (df.run == run_dir.name).all()
    test = curve(run_dir, n_episodes=3, every=3)
    assert not np.allclose(df.random_score, test.random_score.iloc[0])  # other episodes than the test seeds
    with pytest.raises(ValueError, match="unknown design modes \\['greedy'\\]; valid choices: sampled, deterministic"):
        curve(run_dir, n_episodes=3, modes=("greedy",))
    pytest.importorskip("matplotlib")
    assert plot(df, tmp_path / "both.png").stat().st_size > 0


def test_a_run_started_from_a_policy_has_that_policy_at_step_0(run_dir, train_toy):
    from caasl_agents.evaluation import policy_record
    from caasl_agents.redq import REDQ
    from caasl_gym.evaluation import TEST

    source = run_dir / "model.zip"
    tuned = train_toy("--checkpoint-freq", "48", "--seed", "3", "--init-policy", str(source), "--actor-warmup", "8")
    df = curve(tuned, n_episodes=4)
    assert df.env_steps.tolist() == [0, 48] and df.gradient_steps.tolist()[0] == 0
    start = policy_record(REDQ.load(source), df.env_id.iloc[0], 4, TEST.start, {"num_nodes": 3})
    assert df.score.iloc[0] == pytest.approx(start["score"])
