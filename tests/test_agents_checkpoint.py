"""Checkpoints: the filled part of the replay buffer, atomic writes, exact resume after a crash, SIGINT / SIGTERM."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest
import torch as th
from stable_baselines3.common.buffers import ReplayBuffer

from caasl_agents import REDQ, make_vec_env
from caasl_agents.common.checkpoint import (
    atomic_write,
    checkpoint_record,
    load_replay_buffer,
    save_checkpoint,
    save_replay_buffer,
)
from caasl_agents.common.envs import TOY_ENV_ID
from caasl_agents.train import main

TOY = "caasl_agents.common.envs:caasl_agents/ToyDesign-v0"
TINY = [
    "--env", TOY, "--n-envs", "4", "--learning-starts", "16", "--batch-size", "16", "--buffer-size", "400",
    "--n-critics", "2", "--embed-dim", "8", "--n-layers", "1", "--n-heads", "2", "--pi-arch", "16",
    "--qf-arch", "16", "--gradient-steps", "1", "--eval-episodes", "0", "--no-progress-bar", "--torch-threads", "1",
]  # fmt: skip


@pytest.fixture(autouse=True)
def _restore_threads():
    threads = th.get_num_threads()
    yield
    th.set_num_threads(threads)


def _buffer(optimize: bool, size: int = 10) -> ReplayBuffer:
    env = make_vec_env(TOY_ENV_ID, 2, seed=0)
    return ReplayBuffer(size, env.observation_space, env.action_space, n_envs=2, optimize_memory_usage=optimize,
                        handle_timeout_termination=not optimize)  # fmt: skip


def _fill(buffer: ReplayBuffer, n: int, rng: np.random.Generator) -> None:
    obs_shape, act_shape = buffer.obs_shape, (buffer.action_dim,)
    for _ in range(n):
        buffer.add(rng.normal(size=(2, *obs_shape)), rng.normal(size=(2, *obs_shape)),
                   rng.uniform(-1, 1, (2, *act_shape)), rng.normal(size=2), rng.uniform(size=2) < 0.3,
                   [{}, {}])  # fmt: skip


@pytest.mark.parametrize("optimize", [True, False])
@pytest.mark.parametrize("n", [0, 3, 10, 13])
def test_replay_buffer_round_trip_is_exact(tmp_path, optimize, n):
    source, target = _buffer(optimize), _buffer(optimize)
    _fill(source, n, np.random.default_rng(n))
    _fill(target, 4, np.random.default_rng(99))  # a used buffer is overwritten entirely
    save_replay_buffer(source, tmp_path / "b.npz")
    load_replay_buffer(target, tmp_path / "b.npz")
    assert (target.pos, target.full) == (source.pos, source.full)
    for name, value in vars(source).items():
        if isinstance(value, np.ndarray):
            np.testing.assert_array_equal(getattr(target, name), value, err_msg=name)


def test_replay_buffer_file_holds_only_the_filled_rows(tmp_path):
    big = _buffer(True, size=50_000)
    _fill(big, 4, np.random.default_rng(0))
    save_replay_buffer(big, tmp_path / "b.npz")
    assert (tmp_path / "b.npz").stat().st_size < 10_000  # 5 rows of 2 toy observations, not 50,000
    message = r"holds a buffer of 50000 transitions \(25000 rows x 2 copies\), this model's of 10"
    with pytest.raises(ValueError, match=message):
        load_replay_buffer(_buffer(True), tmp_path / "b.npz")
    (tmp_path / "bad.npz").write_bytes(b"not a buffer")
    with pytest.raises(ValueError, match=r"bad.npz is not a saved replay buffer"):
        load_replay_buffer(_buffer(True), tmp_path / "bad.npz")


def test_atomic_write_keeps_the_old_file_when_a_write_fails(tmp_path):
    path = tmp_path / "latest.json"
    atomic_write(path, lambda f: f.write(b"old"))

    def half_then_fail(file):
        file.write(b"ne")
        raise KeyboardInterrupt  # a kill in the middle of the write

    with pytest.raises(KeyboardInterrupt):
        atomic_write(path, half_then_fail)
    assert path.read_bytes() == b"old"


def test_stale_checkpoint_files_are_removed(tmp_path):
    kwargs = dict(n_critics=2, features_extractor_kwargs=dict(features_dim=8, n_layers=1))
    model = REDQ("TransformerPolicy", make_vec_env(TOY_ENV_ID, 2, seed=0), buffer_size=50, seed=0, policy_kwargs=kwargs)
    model.learn(8)
    (tmp_path / "replay_buffer.pkl").write_bytes(b"a buffer of the old format")
    (tmp_path / "state_4.pkl.tmp").write_bytes(b"an interrupted write")
    save_checkpoint(model, tmp_path, keep=False)
    model.learn(4, reset_num_timesteps=False)
    save_checkpoint(model, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "latest.json", "model_12_steps.zip", "replay_buffer_12.npz", "state_12.pkl"
    ]  # fmt: skip
    record = checkpoint_record(tmp_path)
    assert (record["num_timesteps"], record["episodes"], record["gradient_steps"]) == (12, 4, model._n_updates)


def _arrays(path):
    with np.load(path) as data:
        return {k: data[k] for k in data.files}


def _params(model):
    return {k: v.clone() for k, v in model.policy.state_dict().items()}


def test_killed_and_resumed_run_equals_the_uninterrupted_one(tmp_path, monkeypatch):
    """A crash after the 20-step checkpoint, then --resume: the same checkpoint, the same run to the end."""
    argv = [*TINY, "--total-timesteps", "48", "--checkpoint-freq", "20"]
    whole = main([*argv, "--run-root", str(tmp_path / "whole")])

    train = REDQ.train

    def crash_at_32(self, *args, **kwargs):  # as kill -9 would: nothing saved after the last checkpoint
        if self.num_timesteps >= 32:
            raise RuntimeError("killed")
        return train(self, *args, **kwargs)

    monkeypatch.setattr(REDQ, "train", crash_at_32)
    with pytest.raises(RuntimeError, match="killed"):
        main([*argv, "--run-root", str(tmp_path / "killed")])
    monkeypatch.setattr(REDQ, "train", train)
    (killed,) = (tmp_path / "killed").iterdir()
    ckpt = killed / "checkpoints"
    assert sorted(p.name for p in ckpt.iterdir()) == ["latest.json", "model_20_steps.zip", "replay_buffer_20.npz",
                                                      "state_20.pkl"]  # fmt: skip
    # at the checkpoint: identical replay contents and counters (the whole run kept its 20-step model)
    record = checkpoint_record(ckpt)
    assert record["num_timesteps"] == 20
    model_20 = REDQ.load(whole / "checkpoints" / "model_20_steps.zip", device="cpu")
    assert (record["episodes"], record["gradient_steps"]) == (model_20._episode_num, model_20._n_updates)
    killed_model = REDQ.load(ckpt / "model_20_steps.zip", device="cpu")
    assert killed_model.replay_buffer is not None
    load_replay_buffer(killed_model.replay_buffer, ckpt / "replay_buffer_20.npz")
    assert killed_model.replay_buffer.size() == 20 // 4  # every round's transitions, the last one included
    np.testing.assert_array_equal(killed_model._last_obs, model_20._last_obs)
    for name, value in _params(model_20).items():
        assert th.equal(killed_model.policy.state_dict()[name], value), name
    log = pd.read_csv(killed / "logs" / "session-0" / "progress.csv")
    assert log["time/total_timesteps"].max() > 20  # the killed run logged past its checkpoint

    main(["--resume", str(killed)])
    final_whole = REDQ.load(whole / "model.zip", device="cpu")
    final_resumed = REDQ.load(killed / "model.zip", device="cpu")
    assert (final_resumed.num_timesteps, final_resumed._episode_num, final_resumed._n_updates) == (
        final_whole.num_timesteps, final_whole._episode_num, final_whole._n_updates
    )  # fmt: skip
    for name, value in _params(final_whole).items():
        assert th.equal(final_resumed.policy.state_dict()[name], value), name
    assert {k: v.tolist() for k, v in _arrays(whole / "checkpoints" / "replay_buffer_48.npz").items()} == {
        k: v.tolist() for k, v in _arrays(ckpt / "replay_buffer_48.npz").items()
    }
    # the rows logged after the checkpoint are dropped: both sessions together log what the whole run did
    steps = [pd.read_csv(killed / "logs" / f"session-{k}" / "progress.csv")["time/total_timesteps"] for k in (0, 1)]
    whole_steps = pd.read_csv(whole / "logs" / "session-0" / "progress.csv")["time/total_timesteps"]
    assert pd.concat(steps).tolist() == whole_steps.tolist()


def _spawn(tmp_path, *argv):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, "-m", "caasl_agents.train", *TINY, "--buffer-size", "4000", "--run-root",
               str(tmp_path), *argv]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    assert process.stdout is not None
    for line in process.stdout:  # wait for training to start
        if line.startswith("run folder"):
            break
    return process


@pytest.mark.parametrize("signum", [signal.SIGINT, pytest.param(signal.SIGTERM, marks=pytest.mark.slow)])
def test_a_signal_writes_a_final_checkpoint_and_exits_cleanly(tmp_path, signum):
    process = _spawn(tmp_path, "--total-timesteps", "1000000")
    time.sleep(0.5)
    process.send_signal(signum)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 128 + signum, err
    assert "Traceback" not in err and f"{signal.Signals(signum).name}: stopped at " in err and "--resume" in err
    (run_dir,) = tmp_path.iterdir()
    record = checkpoint_record(run_dir / "checkpoints")
    assert record["num_timesteps"] > 0 and record["model"].startswith("resume_")
    assert not (run_dir / "model.zip").exists()  # training did not finish
    steps = record["num_timesteps"]
    assert main(["--resume", str(run_dir), "--total-timesteps", str(steps + 8)]) == run_dir
    assert REDQ.load(run_dir / "model.zip", device="cpu").num_timesteps == steps + 8


@pytest.mark.parametrize("minutes", [0, 1e-9])
def test_checkpoints_by_wall_time(tmp_path, monkeypatch, minutes):
    """--checkpoint-minutes: a checkpoint at the first round boundary after the interval (1e-9: every round)."""
    import caasl_agents.common.callbacks as callbacks

    saved = []

    def recording(model, save_dir, save_replay_buffer=True, keep=True):
        saved.append((model.num_timesteps, keep))
        return save_checkpoint(model, save_dir, save_replay_buffer, keep)

    monkeypatch.setattr(callbacks, "save_checkpoint", recording)
    run_dir = main([*TINY, "--total-timesteps", "24", "--checkpoint-freq", "12", "--checkpoint-minutes", str(minutes),
                    "--run-root", str(tmp_path)])  # fmt: skip
    by_time = [(steps, False) for steps in (4, 8, 16, 20)] if minutes else []
    assert saved == sorted([*by_time, (12, True)])  # 24: the final checkpoint after learn()
    names = sorted(p.name for p in (run_dir / "checkpoints").iterdir())
    assert names == ["latest.json", "model_12_steps.zip", "model_24_steps.zip", "replay_buffer_24.npz", "state_24.pkl"]
    assert json.loads((run_dir / "config.json").read_text())["checkpoint_minutes"] == minutes


@pytest.mark.slow
def test_kill_9_at_any_moment_then_resume_equals_the_uninterrupted_run(tmp_path):
    """SIGKILL a run that checkpoints every round at a random moment; resumed, it ends as the uninterrupted run."""
    argv = ["--total-timesteps", "400", "--checkpoint-freq", "4", "--buffer-size", "4000"]
    resumed = 0
    for delay in (0.3, 1.1, 2.3):
        process = _spawn(tmp_path / f"killed-{delay}", *argv)
        time.sleep(delay)
        process.kill()
        process.wait(timeout=60)
        (run_dir,) = (tmp_path / f"killed-{delay}").iterdir()
        if not (run_dir / "checkpoints" / "latest.json").is_file():  # killed before the first checkpoint
            continue
        main(["--resume", str(run_dir)])
        resumed += 1
        whole = tmp_path / "whole"
        if not whole.exists():
            main([*TINY, *argv, "--run-root", str(whole)])
        (whole_run,) = whole.iterdir()
        expected, actual = REDQ.load(whole_run / "model.zip"), REDQ.load(run_dir / "model.zip")
        for name, value in _params(expected).items():
            assert th.equal(actual.policy.state_dict()[name], value), (delay, name)
    assert resumed


def test_a_checkpoint_from_before_exact_resume_still_resumes(tmp_path, capsys):
    """Format 1 (a pickled replay_buffer.pkl, no state, a config.json without the newer fields): fresh episodes."""
    run_dir = main([*TINY, "--total-timesteps", "20", "--checkpoint-freq", "20", "--run-root", str(tmp_path)])
    ckpt = run_dir / "checkpoints"
    model = REDQ.load(ckpt / "model_20_steps.zip", device="cpu")
    load_replay_buffer(model.replay_buffer, ckpt / "replay_buffer_20.npz")
    model.save_replay_buffer(ckpt / "replay_buffer.pkl")
    for name in ("replay_buffer_20.npz", "state_20.pkl"):
        (ckpt / name).unlink()
    old = {"model": "model_20_steps.zip", "num_timesteps": 20, "replay_buffer": "replay_buffer.pkl"}
    (ckpt / "latest.json").write_text(json.dumps(old))
    config = json.loads((run_dir / "config.json").read_text())
    (run_dir / "config.json").write_text(json.dumps({k: v for k, v in config.items()
                                                     if k not in ("preset", "checkpoint_minutes")}))  # fmt: skip
    main(["--resume", str(run_dir), "--total-timesteps", "28"])
    out = capsys.readouterr().out
    assert "configuration from" in out and "predates exact resume: resuming with fresh episodes (seed 4)" in out
    record = checkpoint_record(ckpt)
    assert record["num_timesteps"] == 28 and record["state"] == "state_28.pkl"
    assert not (ckpt / "replay_buffer.pkl").exists()  # replaced by the new format
    resumed = REDQ.load(run_dir / "model.zip", device="cpu")
    load_replay_buffer(resumed.replay_buffer, ckpt / "replay_buffer_28.npz")
    assert resumed.replay_buffer.size() == 7 and resumed.replay_buffer.dones[4].all()  # cut mid-episode at the old end
