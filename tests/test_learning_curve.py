"""benchmarks.learning_curve: one paired evaluation per checkpoint of a training run."""

import numpy as np
import pytest
import torch as th

from benchmarks.learning_curve import curve, plot
from caasl_agents.pretrained.export import checkpoints
from caasl_agents.train import main as train_main

TOY = "caasl_agents.common.envs:caasl_agents/ToyDesign-v0"


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    threads = th.get_num_threads()
    path = train_main([
        "--env", TOY, "--total-timesteps", "48", "--checkpoint-freq", "16", "--seed", "2",
        "--run-root", str(tmp_path_factory.mktemp("runs")), "--n-envs", "4", "--learning-starts", "16",
        "--batch-size", "16", "--buffer-size", "400", "--n-critics", "2", "--embed-dim", "8", "--n-layers", "1",
        "--n-heads", "2", "--pi-arch", "16", "--qf-arch", "16", "--gradient-steps", "1", "--eval-episodes", "0",
        "--no-progress-bar", "--torch-threads", "1", "--env-kwargs", '{"num_nodes": 3}',
    ])  # fmt: skip
    yield path
    th.set_num_threads(threads)


def test_checkpoints_are_listed_by_steps(run_dir, tmp_path):
    assert [s for s, _ in checkpoints(run_dir)] == [16, 32, 48]
    with pytest.raises(FileNotFoundError, match="no checkpoints"):
        checkpoints(tmp_path)


def test_curve_is_paired_and_plotted(run_dir, tmp_path):
    df = curve(run_dir, n_episodes=5, every=2)
    assert df.env_steps.tolist() == [16, 48] and (df.seed == 2).all()  # every 2nd checkpoint, and always the last
    assert df.random_return.nunique() == 1  # the same Random episodes for every checkpoint
    assert np.isfinite(df[["caasl_return", "diff_vs_random", "diff_ci95"]].to_numpy()).all()
    np.testing.assert_allclose(df.caasl_return - df.random_return, df.diff_vs_random)
    assert df.gradient_steps.tolist()[0] == 0 and df.gradient_steps.tolist()[-1] > 0  # learning starts at 16
    pytest.importorskip("matplotlib")
    assert plot(df, tmp_path / "curve.png").stat().st_size > 0
