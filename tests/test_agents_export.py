"""python -m caasl_agents.pretrained.export: sidecar contents, reproducible command, loadable result."""

import json

import numpy as np
import pytest
import torch as th

from caasl_agents import available_pretrained, load_pretrained
from caasl_agents.common.cli import format_command, parse_config
from caasl_agents.pretrained.export import RUN_ONLY_FIELDS, export
from caasl_agents.pretrained.export import main as export_main
from caasl_agents.train import TrainConfig

TOY = "caasl_agents.common.envs:caasl_agents/ToyDesign-v0"


@pytest.fixture(scope="module")
def run_dir(train_toy):
    threads = th.get_num_threads()
    yield train_toy("--checkpoint-freq", "24", "--seed", "5")
    th.set_num_threads(threads)


def test_format_command_round_trips_through_the_parser():
    cfg = TrainConfig(env="CausalLinear-v0", seed=3, env_kwargs={"num_nodes": 5}, pi_arch=[64, 64],
                      compact_buffer=False, ent_coef="0.05", critic_encoder="shared")  # fmt: skip
    command = format_command(cfg, "python -m caasl_agents.train", keep=("env",))
    assert command.startswith("python -m caasl_agents.train --env CausalLinear-v0")
    assert "--no-compact-buffer" in command and "--pi-arch 64 64" in command
    import shlex

    parsed, _ = parse_config(TrainConfig, shlex.split(command)[3:])
    assert parsed == cfg
    assert format_command(TrainConfig(), "prog") == "prog"  # all defaults: nothing to say


def test_export_writes_a_loadable_policy_with_its_sidecar(run_dir, tmp_path):
    record = export(run_dir, out=tmp_path, name="Toy-v0", eval_episodes=6)
    assert available_pretrained(tmp_path) == ["Toy-v0"]
    sidecar = json.loads((tmp_path / "Toy-v0.json").read_text())
    assert sidecar == json.loads(json.dumps(record, default=float))
    assert sidecar["num_timesteps"] == 48 and sidecar["seed"] == 5 and sidecar["gradient_steps"] > 0
    assert sidecar["trained_on"] == TOY and sidecar["source"].endswith("model.zip")
    assert sidecar["eval"]["episodes"] == 6 and np.isfinite(sidecar["eval"]["gain"])
    assert sidecar["eval"]["seed_base"] == 1_000_000 and sidecar["eval"]["designs"] == "sampled"
    both = sidecar["eval_deterministic"]  # both action modes, on the same validation episodes
    assert both["designs"] == "deterministic" and both["random_score"] == sidecar["eval"]["random_score"]
    assert len(sidecar["sha256"]) == 64 and sidecar["size_bytes"] == (tmp_path / "Toy-v0.zip").stat().st_size
    # the recorded command reproduces the run's configuration
    import shlex

    config = json.loads((run_dir / "config.json").read_text())
    parsed, _ = parse_config(TrainConfig, shlex.split(sidecar["command"])[3:])
    expected = {k: v for k, v in config.items() if k not in RUN_ONLY_FIELDS}
    assert {k: v for k, v in vars(parsed).items() if k not in RUN_ONLY_FIELDS} == expected
    model = load_pretrained("Toy-v0", directory=tmp_path)
    assert model.num_timesteps == 48


def test_export_a_checkpoint_and_clear_errors(run_dir, tmp_path):
    record = export_main([str(run_dir), "--checkpoint", "24", "--out", str(tmp_path), "--name", "Toy-v0",
                          "--eval-episodes", "0"])  # fmt: skip
    assert record["num_timesteps"] == 24 and "eval" not in record
    assert "--total-timesteps 24" in record["command"]  # the command reproduces the exported checkpoint
    with pytest.raises(FileNotFoundError, match=r"checkpoints in this run: \[24, 48\]"):
        export(run_dir, checkpoint=30, out=tmp_path, name="Toy-v0", eval_episodes=0)
    with pytest.raises(FileNotFoundError, match="not a training run folder"):
        export(tmp_path, out=tmp_path)
    with pytest.raises(ValueError, match="invalid policy name"):
        export(run_dir, out=tmp_path, eval_episodes=0)  # the toy id "module:ns/Id" has a '/'


def test_export_best_selects_on_validation_seeds(run_dir, tmp_path):
    from caasl_agents.pretrained.export import select_checkpoint

    steps, records = select_checkpoint(run_dir, episodes=4)
    assert [r["num_timesteps"] for r in records] == [24, 48]
    best = max(records, key=lambda r: (r["gain"], r["num_timesteps"]))
    assert steps == best["num_timesteps"] and all(r["seed_base"] == 1_000_000 for r in records)
    record = export(run_dir, checkpoint="best", out=tmp_path, name="Toy-v0", eval_episodes=4)
    assert record["num_timesteps"] == steps and len(record["selection"]["checkpoints"]) == 2
    assert record["eval"]["gain"] == best["gain"]
    with pytest.raises(ValueError, match="checkpoint must be a step count, 'best' or None"):
        export(run_dir, checkpoint="latest", out=tmp_path, name="Toy-v0")


def test_evaluation_module_registers_the_ids_in_a_fresh_interpreter():
    """The export CLI evaluates registered ids without the caller importing caasl_gym first."""
    import subprocess
    import sys

    code = "import caasl_agents.pretrained.export, gymnasium as gym; print(gym.spec('SergioKnockout-v0').id)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "SergioKnockout-v0"


def test_export_never_replaces_a_shipped_policy_without_force(run_dir, capsys):
    from caasl_agents.pretrained import PACKAGE_DIR

    before = (PACKAGE_DIR / "CausalLinear-v0.zip").read_bytes()
    with pytest.raises(FileExistsError, match="--force"):
        export(run_dir, out=PACKAGE_DIR, name="CausalLinear-v0", eval_episodes=0)
    with pytest.raises(SystemExit) as exit_info:
        export_main([str(run_dir), "--name", "CausalLinear-v0", "--eval-episodes", "0"])
    assert exit_info.value.code == 2 and "shipped policy" in capsys.readouterr().err
    assert (PACKAGE_DIR / "CausalLinear-v0.zip").read_bytes() == before
