"""python -m caasl_agents.tune: search spaces, trial configs, best.json through the train CLI's --config, the trial's
reports / early stop / resume (against a stand-in for ray.tune), and a 2-trial Ray sweep end to end."""

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch as th

from caasl_agents.train import _parse
from caasl_agents.train import main as train_main
from caasl_agents.train_config import load_config_file, resolve_preset
from caasl_agents.tuning.config import SweepConfig, best_json, load_sweep, save_sweep, trial_train_config
from caasl_agents.tuning.results import best_trial, trial_table
from caasl_agents.tuning.space import SPACES, load_space, parse_space, sample
from caasl_agents.tuning.trial import POINTER, ReportCallback, _run_folder, run_trial

ROOT = Path(__file__).resolve().parents[1]
TOY = "caasl_agents.common.envs:caasl_agents/ToyDesign-v0"
TINY = {"n_envs": 4, "learning_starts": 16, "batch_size": 16, "buffer_size": 400, "n_critics": 2, "embed_dim": 8,
        "n_layers": 1, "n_heads": 2, "pi_arch": [16], "qf_arch": [16], "gradient_steps": 1}  # fmt: skip
SPACE = {"learning_rate": {"loguniform": [1e-4, 1e-2]}, "gamma": {"uniform": [0.5, 0.9]}}


@pytest.fixture(autouse=True)
def _restore_threads():
    threads = th.get_num_threads()
    yield
    th.set_num_threads(threads)


@pytest.fixture
def tiny(tmp_path) -> SweepConfig:
    """A toy-sized sweep: 48 steps per trial, reports every 16 (the first one at learning_starts)."""
    base = tmp_path / "base.json"
    base.write_text(json.dumps(TINY))
    space = tmp_path / "space.json"
    space.write_text(json.dumps(SPACE))
    return SweepConfig(env=TOY, space=str(space), train_config=str(base), num_samples=2, total_timesteps=48,
                       report_every=16, eval_episodes=8, storage_path=str(tmp_path / "store"), verbose=0)  # fmt: skip


# -- search spaces ------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(SPACES))
def test_named_spaces_draw_valid_configurations(name):
    space, spec = load_space(name)
    assert spec == SPACES[name]
    assert {"learning_rate", "critic_learning_rate", "n_critics", "critic_subset_size", "gradient_steps",
            "batch_size", "gamma", "embed_dim"} <= set(space)  # fmt: skip
    sweep = SweepConfig(space=name, preset="gpu" if name == "paper" else "cpu")
    from caasl_agents.tune import check_space

    check_space(sweep, space, draws=200)
    a, b = sample(space, np.random.default_rng(5)), sample(space, np.random.default_rng(5))
    assert a == b and a != sample(space, np.random.default_rng(6))  # explicit generator: reproducible draws


def test_space_files_and_their_errors(tmp_path):
    path = tmp_path / "space.json"
    path.write_text(json.dumps({"n_critics": {"choice": [2, 4]}, "n_layers": {"randint": [1, 3]}, "tau": 0.01,
                                "qf_arch": [32, 32]}))  # fmt: skip
    space, _ = load_space(path)
    assert {k: p.kind for k, p in space.items()} == {"n_critics": "choice", "n_layers": "randint",
                                                     "tau": "constant", "qf_arch": "constant"}  # fmt: skip
    draws = [sample(space, np.random.default_rng(s)) for s in range(20)]
    assert {d["n_layers"] for d in draws} == {1, 2} and {d["n_critics"] for d in draws} == {2, 4}
    bad = {
        "no_such_field": ({"no_such_field": 1}, "valid: seed, n_envs"),
        "fixed": ({"total_timesteps": {"choice": [1, 2]}}, "total_timesteps: set by the sweep's own options"),
        "kind": ({"gamma": {"normal": [0, 1]}}, "use one key of uniform, loguniform, randint, choice"),
        "bounds": ({"gamma": {"uniform": [0.9, 0.5]}}, "needs low < high"),
        "log": ({"learning_rate": {"loguniform": [0, 1]}}, "loguniform needs low > 0"),
        "float on int": ({"n_critics": {"uniform": [2, 5]}}, "use choice or randint"),
        "type": ({"batch_size": {"choice": [32, "64"]}}, "choice values must be of type"),
    }
    for label, (spec, message) in bad.items():
        with pytest.raises(ValueError, match="search space") as info:
            parse_space(spec)
        assert message in str(info.value), label
    with pytest.raises(ValueError, match="neither a named space"):
        load_space("no-such-space")
    pytest.importorskip("yaml")
    yaml_path = tmp_path / "space.yaml"
    yaml_path.write_text("gamma:\n  uniform: [0.5, 0.9]\nbatch_size: 32\n")
    assert load_space(yaml_path)[1] == {"gamma": {"uniform": [0.5, 0.9]}, "batch_size": 32}


def test_a_space_whose_draws_are_invalid_fails_before_the_sweep(tmp_path):
    from caasl_agents.tune import check_space

    space = parse_space({"n_critics": {"choice": [1, 2]}, "critic_subset_size": 2})
    with pytest.raises(ValueError, match=r"is no valid configuration: critic_subset_size \(2\) > n_critics \(1\)"):
        check_space(SweepConfig(), space)


# -- trial configurations and best.json ---------------------------------------------------------------------
def test_trial_config_takes_the_draw_over_the_base_and_the_sweep_over_both(tiny, tmp_path):
    sweep = dataclasses.replace(tiny, cpus_per_trial=2.5, seed=7)
    cfg, given = trial_train_config(sweep, {"learning_rate": 3e-3, "n_critics": 3}, tmp_path / "runs")
    assert (cfg.env, cfg.seed, cfg.total_timesteps, cfg.checkpoint_freq) == (TOY, 7, 48, 16)
    assert (cfg.learning_rate, cfg.n_critics, cfg.batch_size, cfg.torch_threads) == (3e-3, 3, 16, 2)
    assert (cfg.device, cfg.preset, cfg.progress_bar, cfg.run_root) == ("cpu", "cpu", False, str(tmp_path / "runs"))
    assert {"learning_rate", "n_critics", "batch_size", "seed", "torch_threads"} <= given
    resolved = resolve_preset(cfg, given)
    assert resolved.ff_mult == 2 and resolved.batch_size == 16  # the cpu preset fills what nothing set
    assert SweepConfig(gpus_per_trial=0.25).device == "cuda" and SweepConfig(cpus_per_trial=0.5).torch_threads == 1
    with pytest.raises(ValueError, match="validation"):
        SweepConfig(eval_seed=10_000_000)  # a test seed
    with pytest.raises(ValueError, match="report_every"):
        SweepConfig(total_timesteps=100, report_every=200)


def test_best_json_round_trips_through_the_train_cli_config(tiny, tmp_path, capsys):
    cfg = resolve_preset(*trial_train_config(tiny, {"learning_rate": 2e-3, "gamma": 0.7}))
    path = tmp_path / "best.json"
    path.write_text(json.dumps(best_json(cfg)))
    parsed, given = _parse(["--config", str(path)])
    assert best_json(resolve_preset(parsed, given)) == best_json(cfg)  # every field but the run-only ones
    assert "resume" not in load_config_file(path) and "run_root" not in load_config_file(path)
    override, _ = _parse(["--config", str(path), "--seed", "3", "--gamma", "0.8"])  # the command line wins
    assert (override.seed, override.gamma, override.learning_rate) == (3, 0.8, 2e-3)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"gamma": 0.9, "learning_rat": 1e-3}))
    with pytest.raises(SystemExit) as info:
        train_main(["--config", str(bad)])
    err = capsys.readouterr().err
    assert info.value.code == 2 and err.count("\n") == 1
    assert "unknown option(s) learning_rat; valid: env, env_kwargs, seed" in err
    bad.write_text(json.dumps({"n_critics": "5"}))
    with pytest.raises(ValueError, match="n_critics must be of type"):
        load_config_file(bad)


def test_resume_keeps_the_sweep_configuration(tiny, tmp_path):
    folder = tmp_path / "sweep"
    folder.mkdir()
    save_sweep(tiny, folder, SPACE, TINY)
    resumed, spec, values = load_sweep(folder, SweepConfig(num_cpus=1), {"num_cpus", "resume"})
    assert spec == SPACE and values == TINY and resumed.num_cpus == 1 and resumed.total_timesteps == 48
    with pytest.raises(ValueError, match="cannot change num_samples when resuming"):
        load_sweep(folder, SweepConfig(num_samples=9), {"num_samples"})


def test_trial_table_and_best_trial():
    reports = pd.DataFrame({"trial_id": ["a", "a", "b", "c", "c"], "timesteps": [16, 32, 16, 16, 32],
                            "gain": [0.1, 0.3, 0.9, 0.2, 0.5], "gain_ci95": 0.1, "trial_wall_s": 1.0,
                            "run_dir": "x"})  # fmt: skip
    params = pd.DataFrame({"gamma": [0.5, 0.6, 0.7], "error": ["", "", ""]}, index=pd.Index(["a", "b", "c"]))
    trials = trial_table(reports, params, total_timesteps=32)
    assert trials.trial_id.tolist() == ["c", "a", "b"]  # the furthest first, then by last gain
    assert trials.status.tolist() == ["completed", "completed", "stopped early"]
    assert trials.loc[2, "gain@16"] == 0.9 and np.isnan(trials.loc[2, "gain@32"])
    assert best_trial(trials).trial_id == "c"  # b's 0.9 came at 16 steps: it was stopped there


# -- the trial, against a stand-in for ray.tune ----------------------------------------------------------------
class FakeTune:
    """``get_context``, ``get_checkpoint``, ``Checkpoint`` and ``report`` of ``ray.tune``, in this process.

    ``report`` keeps each checkpoint's pointer; with ``stop_at`` it ends the ``stop_at``-th report as a stopped
    Ray trial does (``SystemExit`` from the blocked report)."""

    def __init__(self, trial_id: str, pointer: dict | None = None, stop_at: int = 0):
        self.trial_id, self.pointer, self.stop_at = trial_id, pointer, stop_at
        self.reports: list[dict] = []

    def get_context(self):
        return SimpleNamespace(get_trial_id=lambda: self.trial_id)

    def get_checkpoint(self):
        if self.pointer is None:
            return None
        pointer = self.pointer

        class _Dir:
            def __enter__(self_inner):
                self.dir = Path(self.tmp) / "restored"
                self.dir.mkdir(exist_ok=True)
                (self.dir / POINTER).write_text(json.dumps(pointer))
                return str(self.dir)

            def __exit__(self_inner, *exc):
                return None

        return SimpleNamespace(as_directory=_Dir)

    class Checkpoint:
        @staticmethod
        def from_directory(path):
            return json.loads((Path(path) / POINTER).read_text())

    def report(self, metrics, checkpoint=None):
        self.reports.append({**metrics, "pointer": checkpoint})
        if self.stop_at and len(self.reports) == self.stop_at:
            raise SystemExit(0)


def _run_fake(monkeypatch, tmp_path, sweep, fake):
    fake.tmp = str(tmp_path)
    monkeypatch.setitem(sys.modules, "ray", SimpleNamespace(tune=fake))
    monkeypatch.setitem(sys.modules, "ray.tune", fake)
    run_trial({"learning_rate": 2e-3, "gamma": 0.7}, dataclasses.asdict(sweep), str(tmp_path / "sweep"), TINY)
    return fake.reports


def test_trial_reports_validation_gains_with_pinned_threads(monkeypatch, tmp_path, tiny):
    sweep = dataclasses.replace(tiny, cpus_per_trial=1.5)  # floor: 1 thread
    th.set_num_threads(2)
    reports = _run_fake(monkeypatch, tmp_path, sweep, FakeTune("t0"))
    assert [r["timesteps"] for r in reports] == [16, 32, 48]
    assert {r["torch_threads"] for r in reports} == {1} and {r["seed_base"] for r in reports} == {1_000_000}
    assert {r["episodes"] for r in reports} == {8}  # the validation episodes 1000000 + i
    run_dir = Path(reports[-1]["run_dir"])
    assert run_dir.parent == tmp_path / "sweep" / "trials" / "t0"
    assert reports[-1]["gain"] == pytest.approx(pd.read_csv(run_dir / "eval.csv").gain[0])  # the train CLI's
    assert reports[1]["pointer"] == {"run_dir": str(run_dir), "timesteps": 32,
                                     "trial_wall_s": reports[1]["trial_wall_s"]}  # fmt: skip
    config = json.loads((run_dir / "config.json").read_text())
    assert (config["learning_rate"], config["gamma"], config["torch_threads"]) == (2e-3, 0.7, 1)


def test_a_stopped_trial_leaves_its_checkpoint_and_resumes_exactly(monkeypatch, tmp_path, tiny):
    whole = _run_fake(monkeypatch, tmp_path / "whole", tiny, FakeTune("t0"))
    stopped = _run_fake(monkeypatch, tmp_path, tiny, FakeTune("t0", stop_at=2))
    assert [r["timesteps"] for r in stopped] == [16, 32]  # the scheduler stopped it at the second report
    run_dir = Path(stopped[-1]["run_dir"])
    assert not (run_dir / "model.zip").exists()
    assert json.loads((run_dir / "checkpoints" / "latest.json").read_text())["num_timesteps"] == 32
    # as after a crash whose driver had recorded only the first report: the run folder's checkpoint is further
    resumed = _run_fake(monkeypatch, tmp_path, tiny, FakeTune("t0", pointer=stopped[0]["pointer"]))
    assert [r["timesteps"] for r in resumed] == [32, 48]  # the unreported checkpoint is reported at once
    assert Path(resumed[-1]["run_dir"]) == run_dir and (run_dir / "logs" / "session-1").is_dir()
    assert [r["gain"] for r in resumed] == [r["gain"] for r in whole[1:]]  # exact resume: as if never stopped
    assert resumed[-1]["trial_wall_s"] > stopped[0]["trial_wall_s"]


def test_run_folder_without_a_checkpoint_starts_over(tmp_path):
    (tmp_path / "env__0__1").mkdir()
    (tmp_path / "env__0__1" / "config.json").write_text("{}")
    assert _run_folder(tmp_path) is None and not (tmp_path / "env__0__1").exists()
    (tmp_path / "env__0__2" / "checkpoints").mkdir(parents=True)
    (tmp_path / "env__0__2" / "config.json").write_text("{}")
    (tmp_path / "env__0__2" / "checkpoints" / "latest.json").write_text("{}")
    assert _run_folder(tmp_path) == tmp_path / "env__0__2"


def test_report_callback_fires_once_per_multiple_after_the_last_report():
    seen = []
    callback = ReportCallback(16, lambda model: seen.append(model.num_timesteps), last_reported=16)
    callback.model = SimpleNamespace(num_timesteps=0)
    for steps in (16, 20, 32, 36, 48, 52, 60):
        callback.model.num_timesteps = steps
        callback.on_rollout_start()
    assert seen == [32, 48]
    with pytest.raises(ValueError, match="every must be >= 1"):
        ReportCallback(0, print)


# -- Ray ----------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def local_ray():
    ray = pytest.importorskip("ray")
    pytest.importorskip("ray.tune")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


def test_sweep_end_to_end_and_its_best_json_trains_the_same_run(local_ray, tiny, tmp_path, capsys, monkeypatch):
    from caasl_agents.tune import main

    monkeypatch.chdir(tmp_path)  # relative paths are the driver's (Ray runs each trial in a folder of its own)
    argv = ["--env", TOY, "--space", "space.json", "--train-config", "base.json", "--num-samples", "2",
            "--total-timesteps", "48", "--report-every", "16", "--eval-episodes", "8", "--storage-path",
            "store", "--name", "toy", "--verbose", "0", "--scheduler", "fifo"]  # fmt: skip
    folder = main(argv)
    assert folder == Path(tiny.storage_path).resolve() / "toy"
    trials = pd.read_csv(folder / "trials.csv")
    assert len(trials) == 2 and set(trials.status) == {"completed"}
    assert {"learning_rate", "gamma", "gain@16", "gain@32", "gain@48", "gain", "trial_wall_s"} <= set(trials.columns)
    reports = pd.read_csv(folder / "reports.csv")
    assert sorted(reports.timesteps) == [16, 16, 32, 32, 48, 48] and set(reports.torch_threads) == {1}
    assert (folder / "sweep.png").stat().st_size > 0 and (folder / "sweep.json").is_file()
    best = json.loads((folder / "best_trial.json").read_text())
    assert best["trial_id"] == trials.trial_id[0] and best["gain"] == pytest.approx(trials.gain.max())
    assert "best trial" in capsys.readouterr().out
    # trial isolation: the best trial, trained again by the train CLI in this process, gives the same numbers
    again = train_main(["--config", str(folder / "best.json"), "--run-root", str(tmp_path / "again")])
    assert pd.read_csv(again / "eval.csv").gain[0] == pytest.approx(best["gain"], abs=1e-12)
    with pytest.raises(SystemExit):  # a second sweep of the same name must be a resume
        main(argv)
    assert "holds a sweep already; continue it with --resume" in capsys.readouterr().err


def test_missing_optuna_is_a_clear_error(tiny, capsys, monkeypatch):
    pytest.importorskip("ray")
    from caasl_agents.tune import main

    monkeypatch.setitem(sys.modules, "optuna", None)  # as if not installed
    with pytest.raises(SystemExit):
        main(["--env", TOY, "--space", tiny.space, "--search", "optuna", "--storage-path", tiny.storage_path])
    assert "--search optuna needs optuna: pip install optuna" in capsys.readouterr().err
    assert not Path(tiny.storage_path).exists()  # nothing written


@pytest.mark.slow
def test_kill_9_then_resume_finishes_the_sweep(tiny, tmp_path):
    """The CLI in a subprocess, killed with SIGKILL once a trial has reported, then --resume'd to the end."""
    pytest.importorskip("ray")
    argv = [sys.executable, "-m", "caasl_agents.tune", "--env", TOY, "--space", tiny.space, "--train-config",
            tiny.train_config, "--num-samples", "2", "--total-timesteps", "480", "--report-every", "96",
            "--eval-episodes", "8", "--storage-path", tiny.storage_path, "--name", "toy", "--num-cpus", "2",
            "--verbose", "0", "--scheduler", "fifo"]  # fmt: skip
    folder = Path(tiny.storage_path) / "toy"
    proc = subprocess.Popen(argv, cwd=ROOT, start_new_session=True, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and proc.poll() is None:
            lines = [ln for p in folder.glob("*/result.json") for ln in p.read_text().splitlines() if ln.strip()]
            if len(lines) >= 3:
                break
            time.sleep(1)
        assert proc.poll() is None, "the sweep ended before it could be killed"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    done = subprocess.run([*argv[:3], "--resume", str(folder), "--num-cpus", "2"], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    trials = pd.read_csv(folder / "trials.csv")
    assert len(trials) == 2 and set(trials.status) == {"completed"}
    reports = pd.read_csv(folder / "reports.csv")
    assert sorted(reports.timesteps.unique()) == [96, 192, 288, 384, 480]
    assert (reports.groupby("trial_id").size() == 5).all()  # every report step once per trial
