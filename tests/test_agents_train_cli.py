"""python -m caasl_agents.train: help, presets, end-to-end run, checkpoints and resume, one-line errors."""

import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch as th

from caasl_agents import REDQ
from caasl_agents.common.checkpoint import latest_checkpoint, load_replay_buffer
from caasl_agents.common.cli import field_docs
from caasl_agents.train import PRESETS, TrainConfig, main, resolve_preset

TOY = "caasl_agents.common.envs:caasl_agents/ToyDesign-v0"
RECORDS = Path(__file__).resolve().parents[1] / "benchmarks" / "results" / "training_runs"
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
    assert "cpu preset: 'shared'" in " ".join(text.split())  # the help shows what the cpu preset changes


def test_presets():
    defaults = TrainConfig()
    assert set(PRESETS["cpu"]) == set(PRESETS["gpu"])
    assert all(getattr(defaults, k) == v for k, v in PRESETS["gpu"].items())  # gpu: the field defaults
    cpu = resolve_preset(TrainConfig(preset="cpu", batch_size=32), {"preset", "batch_size"})
    assert cpu.preset == "cpu" and cpu.batch_size == 32 and cpu.n_critics == 5 and cpu.critic_encoder == "shared"
    assert resolve_preset(TrainConfig(preset="gpu"), {"preset"}) == dataclasses.replace(defaults, preset="gpu")
    # without the given fields: those that differ from the defaults count as given
    assert resolve_preset(TrainConfig(preset="cpu", embed_dim=8)).embed_dim == 8
    with pytest.raises(ValueError, match=r"critic_subset_size \(6\) > n_critics \(5\) \(with preset cpu"):
        resolve_preset(TrainConfig(preset="cpu", critic_subset_size=6), {"critic_subset_size"})


def test_auto_preset_follows_the_training_device(monkeypatch):
    monkeypatch.setattr(th.cuda, "is_available", lambda: False)
    assert resolve_preset(TrainConfig(), set()).preset == "cpu"
    with pytest.raises(ValueError, match="--device cuda: no CUDA device here"):
        resolve_preset(TrainConfig(device="cuda"), {"device"})
    monkeypatch.setattr(th.cuda, "is_available", lambda: True)
    assert resolve_preset(TrainConfig(), set()).preset == "gpu"
    assert resolve_preset(TrainConfig(device="cpu"), {"device"}).preset == "cpu"  # CUDA present, training on CPU
    with pytest.raises(ValueError, match="device must be auto, cpu, cuda"):
        resolve_preset(TrainConfig(device="tpu"), {"device"})


def test_cpu_preset_is_the_recipe_of_the_shipped_redq_policy():
    # the REDQ policy shipped until the clones replaced it (its sidecar is kept with the results)
    shipped = json.loads((RECORDS / "SergioKnockout-v0-redq-pooled-sidecar.json").read_text())["config"]
    assert {k: shipped[k] for k in PRESETS["cpu"] if k != "total_timesteps"} == {
        k: v for k, v in PRESETS["cpu"].items() if k != "total_timesteps"
    }


def test_train_end_to_end_then_resume(tmp_path, capsys):
    run_dir = main(["--env", TOY, "--total-timesteps", "48", "--checkpoint-freq", "24", "--seed", "3",
                    "--run-root", str(tmp_path), *TINY])  # fmt: skip
    assert run_dir.parent == tmp_path and run_dir.name.startswith("caasl_agents.common.envs-caasl_agents-Toy")
    assert run_dir.name.split("__")[1] == "3"
    config = json.loads((run_dir / "config.json").read_text())
    assert config["total_timesteps"] == 48 and config["n_critics"] == 2
    assert config["preset"] in ("cpu", "gpu") and config["ff_mult"] == PRESETS[config["preset"]]["ff_mult"]
    ckpt = run_dir / "checkpoints"
    assert {p.name for p in ckpt.glob("model_*_steps.zip")} == {"model_24_steps.zip", "model_48_steps.zip"}
    assert {p.name for p in ckpt.iterdir()} - {p.name for p in ckpt.glob("model_*_steps.zip")} == {
        "latest.json",
        "replay_buffer_48.npz",
        "state_48.pkl",
    }  # only the latest checkpoint's buffer and state
    assert (run_dir / "logs" / "session-0" / "progress.csv").is_file()
    assert list((run_dir / "logs" / "session-0").glob("events.out.tfevents*"))
    table = pd.read_csv(run_dir / "eval.csv")
    assert table["episodes"].tolist() == [8] and table["seed_base"].tolist() == [1_000_000]
    np.testing.assert_allclose(table.score - table.random_score, table.gain)
    out = capsys.readouterr().out
    assert "Held-out evaluation" in out and f"preset {config['preset']} (auto: " in out
    # the final evaluation also reaches the CSV and TensorBoard logs, at the last step
    log = pd.read_csv(run_dir / "logs" / "session-0" / "progress.csv")
    np.testing.assert_allclose(log["eval/gain"].dropna(), table.gain)
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run_dir / "logs" / "session-0")).Reload()
    assert [(e.step, e.value) for e in events.Scalars("eval/gain")] == [(48, pytest.approx(table.gain[0]))]

    # resume: continue from the 48-step checkpoint and its replay buffer up to 72 steps
    with pytest.raises(SystemExit):
        main(["--resume", str(run_dir), "--total-timesteps", "72", "--batch-size", "8"])
    assert "cannot change batch_size when resuming" in capsys.readouterr().err
    resumed = main(["--resume", str(run_dir), "--total-timesteps", "72", "--eval-episodes", "0",
                    "--no-progress-bar"])  # fmt: skip
    assert resumed == run_dir
    assert f"preset {config['preset']} (from " in capsys.readouterr().out
    model = REDQ.load(run_dir / "model.zip", device="cpu")
    assert model.num_timesteps == 72
    model_path, buffer_path, steps = latest_checkpoint(ckpt)
    assert steps == 72 and model_path.name == "model_72_steps.zip" and buffer_path.name == "replay_buffer_72.npz"
    load_replay_buffer(model.replay_buffer, buffer_path)
    assert model.replay_buffer.size() == 72 // 4  # every round of both sessions
    assert (run_dir / "logs" / "session-1" / "progress.csv").is_file()
    assert json.loads((run_dir / "config.json").read_text())["total_timesteps"] == 48  # first session's


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--critic-encoder", "per-critic"], "argument --critic-encoder: invalid choice: 'per-critic'"),
        (["--env-kwargs", "{num_nodes: 3}"], "argument --env-kwargs: not valid JSON"),
        (["--no-such-option", "1"], "unrecognized arguments: --no-such-option 1"),
        (["--n-critics", "2", "--critic-subset-size", "3"], "critic_subset_size (3) > n_critics (2)"),
        (["--total-timesteps", "0"], "total_timesteps must be >= 1, got 0"),
        (["--embed-dim", "10", "--n-heads", "4"], "embed_dim (10) must be divisible by n_heads (4)"),
        (["--eval-seed", "2"], "validation"),  # not a validation seed (it overlaps the training seeds 0..3)
        (["--eval-seed", "10000000"], "validation"),  # a test seed
        (["--env-kwargs", '{"no_such_kwarg": 1}'], "no_such_kwarg"),
        (["--env", "NoSuchEnv-v0"], "NoSuchEnv"),
        (["--checkpoint-minutes", "-1"], "checkpoint_minutes must be >= 0"),
        (["--zero-shot-targets", "random"], "unknown zero_shot_targets 'random'; valid choices: policy, uniform"),
        (["--posterior-stats", "in_mass"], "posterior_stats needs posterior_features"),
    ],
)
def test_bad_arguments_print_one_line_and_leave_no_run_folder(tmp_path, capsys, argv, message):
    with pytest.raises(SystemExit) as exit_info:
        main(["--env", TOY, "--total-timesteps", "8", "--run-root", str(tmp_path), *TINY, *argv])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("python -m caasl_agents.train: error: ") and message in err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert not list(tmp_path.iterdir())  # a failed start leaves no run folder


def test_zero_shot_targets_reaches_the_policy():
    assert TrainConfig(zero_shot_targets="uniform").policy_kwargs()["zero_shot_targets"] == "uniform"
    assert "zero_shot_targets" not in TrainConfig().policy_kwargs()  # the default, as configs saved before


def test_library_errors_raise(tmp_path):
    """train() (the library entry point) raises; only main() turns errors into one line."""
    from caasl_agents.train import train

    with pytest.raises(ValueError, match="validation"):
        train(TrainConfig(env=TOY, eval_seed=2, run_root=str(tmp_path)))
    with pytest.raises(ValueError, match="critic_subset_size"):
        TrainConfig(n_critics=2, critic_subset_size=3)


def test_a_run_that_fails_before_its_first_checkpoint_leaves_no_run_folder(tmp_path, monkeypatch):
    def fail(self, *args, **kwargs):
        raise RuntimeError("boom in the first gradient step")

    monkeypatch.setattr(REDQ, "train", fail)
    with pytest.raises(RuntimeError, match="boom"):
        main(["--env", TOY, "--total-timesteps", "48", "--run-root", str(tmp_path), *TINY])
    assert not list(tmp_path.iterdir())


def test_resume_without_checkpoint_says_so(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["--resume", str(tmp_path / "missing")])
    assert "not a run folder (no config.json)" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--resume", "latest", "--env", TOY, "--run-root", str(tmp_path)])
    assert "--resume latest: no run matching" in capsys.readouterr().err


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


def test_init_policy_starts_the_actor_from_a_policy_zip(tmp_path, capsys):
    source_dir = main(["--env", TOY, "--total-timesteps", "48", "--run-root", str(tmp_path / "a"), *TINY])
    source = REDQ.load(source_dir / "model.zip")
    # learning starts at 16 transitions: a run of 8 takes no gradient step, so its actor is the source's
    run_dir = main(["--env", TOY, "--total-timesteps", "8", "--run-root", str(tmp_path / "b"), *TINY,
                    "--init-policy", str(source_dir / "model.zip")])  # fmt: skip
    started = REDQ.load(run_dir / "model.zip")
    assert all(th.equal(v, started.actor.state_dict()[k]) for k, v in source.actor.state_dict().items())
    assert json.loads((run_dir / "config.json").read_text())["init_policy"] == str(source_dir / "model.zip")
    fresh_dir = main(["--env", TOY, "--total-timesteps", "8", "--run-root", str(tmp_path / "c"), *TINY])
    fresh = REDQ.load(fresh_dir / "model.zip")  # the same seed without --init-policy: the source's own start
    assert not all(th.equal(v, fresh.actor.state_dict()[k]) for k, v in source.actor.state_dict().items())
    capsys.readouterr()

    for argv, message in [
        (["--init-policy", str(tmp_path / "none.zip")], "no such file"),
        (["--init-policy", str(source_dir / "model.zip"), "--pi-arch", "32"], "does not fit this configuration"),
        (["--actor-warmup", "-1"], "actor_warmup must be >= 0"),
    ]:
        with pytest.raises(SystemExit) as exit_info:
            main(["--env", TOY, "--total-timesteps", "8", "--run-root", str(tmp_path / "d"), *TINY, *argv])
        err = capsys.readouterr().err
        assert exit_info.value.code == 2 and message in err and err.count("\n") == 1, err
        assert not (tmp_path / "d").exists() or not list((tmp_path / "d").iterdir())
