"""python -m caasl_agents.train: help, end-to-end run, checkpoints and resume, argument errors."""

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest
import torch as th

from caasl_agents import REDQ
from caasl_agents.common.callbacks import latest_checkpoint
from caasl_agents.common.cli import field_docs
from caasl_agents.train import TrainConfig, main

TOY = "caasl_agents.common.envs:caasl_agents/ToyDesign-v0"
TINY = [
    "--n-envs", "4", "--learning-starts", "16", "--batch-size", "16", "--buffer-size", "400",
    "--n-critics", "2", "--embed-dim", "8", "--n-layers", "1", "--n-heads", "2", "--pi-arch", "16",
    "--qf-arch", "16", "--gradient-steps", "1", "--eval-episodes", "8", "--no-progress-bar",
    "--torch-threads", "1",
]  # fmt: skip


@pytest.fixture(autouse=True)
def _restore_threads():
    threads = th.get_num_threads()
    yield
    th.set_num_threads(threads)


def test_help_documents_every_field(capsys):
    docs = field_docs(TrainConfig)
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    assert "usage: python -m caasl_agents.train" in text
    for f in dataclasses.fields(TrainConfig):
        assert docs.get(f.name), f"field {f.name} has no docstring"
        assert "--" + f.name.replace("_", "-") in text


def test_train_end_to_end_then_resume(tmp_path, capsys):
    run_dir = main(["--env", TOY, "--total-timesteps", "48", "--checkpoint-freq", "24", "--seed", "3",
                    "--run-root", str(tmp_path), *TINY])  # fmt: skip
    assert run_dir.parent == tmp_path and run_dir.name.startswith("caasl_agents.common.envs-caasl_agents-Toy")
    assert run_dir.name.split("__")[1] == "3"
    config = json.loads((run_dir / "config.json").read_text())
    assert config["total_timesteps"] == 48 and config["n_critics"] == 2
    ckpt = run_dir / "checkpoints"
    assert {p.name for p in ckpt.glob("model_*_steps.zip")} == {"model_24_steps.zip", "model_48_steps.zip"}
    assert (ckpt / "replay_buffer.pkl").is_file()
    assert (run_dir / "logs" / "session-0" / "progress.csv").is_file()
    assert list((run_dir / "logs" / "session-0").glob("events.out.tfevents*"))
    table = pd.read_csv(run_dir / "eval.csv")
    assert table["episodes"].tolist() == [8] and table["seed_base"].tolist() == [1_000_000]
    np.testing.assert_allclose(table.score - table.random_score, table.gain)
    assert "Held-out evaluation" in capsys.readouterr().out

    # resume: continue from the 48-step checkpoint and its replay buffer up to 72 steps
    with pytest.raises(ValueError, match="cannot change batch_size"):
        main(["--resume", str(run_dir), "--total-timesteps", "72", "--batch-size", "8"])
    resumed = main(["--resume", str(run_dir), "--total-timesteps", "72", "--eval-episodes", "0",
                    "--no-progress-bar"])  # fmt: skip
    assert resumed == run_dir
    model = REDQ.load(run_dir / "model.zip", device="cpu")
    assert model.num_timesteps == 72
    model_path, buffer_path, steps = latest_checkpoint(ckpt)
    assert steps == 72 and model_path.name == "model_72_steps.zip"
    model.load_replay_buffer(buffer_path)
    assert model.replay_buffer.size() == 72 // 4  # 12 rows from the first session, 6 after resuming
    assert (run_dir / "logs" / "session-1" / "progress.csv").is_file()
    assert json.loads((run_dir / "config.json").read_text())["total_timesteps"] == 48  # first session's


@pytest.mark.parametrize(
    ("argv", "error"),
    [
        (["--critic-encoder", "per-critic"], SystemExit),
        (["--env-kwargs", "{num_nodes: 3}"], SystemExit),
        (["--no-such-option", "1"], SystemExit),
        (["--n-critics", "2", "--critic-subset-size", "3"], ValueError),
        (["--total-timesteps", "0"], ValueError),
        (["--embed-dim", "10", "--n-heads", "4"], ValueError),
        (["--eval-seed", "2"], ValueError),  # not a validation seed (it overlaps the training seeds 0..3)
        (["--eval-seed", "10000000"], ValueError),  # a test seed
        (["--env-kwargs", '{"no_such_kwarg": 1}'], TypeError),
    ],
)
def test_bad_arguments_raise(tmp_path, argv, error):
    with pytest.raises(error):
        main(["--env", TOY, "--total-timesteps", "8", "--run-root", str(tmp_path), *TINY, *argv])


def test_resume_without_checkpoint_raises(tmp_path):
    with pytest.raises(FileNotFoundError):
        main(["--resume", str(tmp_path / "missing")])
    with pytest.raises(FileNotFoundError):
        main(["--resume", "latest", "--env", TOY, "--run-root", str(tmp_path)])


def test_real_environment_id(tmp_path):
    """The CLI on a registered caasl_gym id (skipped until its reward-model weights ship)."""
    import gymnasium as gym

    import caasl_gym

    env_kwargs = {"num_nodes": 3, "n_initial": 4, "budget": 2}
    try:
        gym.make(caasl_gym.BASE_IDS[0], **env_kwargs).close()
    except Exception as err:
        pytest.skip(f"{caasl_gym.BASE_IDS[0]} unavailable: {err}")
    run_dir = main(["--env", caasl_gym.BASE_IDS[0], "--env-kwargs", json.dumps(env_kwargs),
                    "--total-timesteps", "32", "--run-root", str(tmp_path), *TINY])  # fmt: skip
    table = pd.read_csv(run_dir / "eval.csv")
    assert {"score", "score_ci95", "random_score", "gain", "gain_ci95", "design_seconds"} <= set(table.columns)
