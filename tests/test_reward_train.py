"""The training config and its CLI, and a tiny training run through the CLI: it learns, writes its files and resumes."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import numpy as np
import pytest
import torch

from caasl_gym.reward.data import TrainingPrior
from caasl_gym.reward.inputs import encode_histories
from caasl_gym.reward.loading import load_reward_model, sha256_file
from caasl_gym.reward.model import EdgePosteriorNet, ModelConfig, edge_bce
from caasl_gym.reward.train import build_parser, run
from caasl_gym.reward.training.config import TrainConfig
from caasl_gym.reward.training.loop import Trainer, learning_rate
from caasl_gym.reward.training.stream import HistoryStream

WEIGHTS = Path(__file__).resolve().parents[1] / "caasl_gym" / "reward" / "weights"

TINY = ["--domain", "linear", "--dim", "8", "--layers", "1", "--heads", "1", "--batch-size", "8"]
TINY += ["--d-min", "5", "--d-max", "5", "--threads", "1", "--no-progress", "--eval-every", "0"]
TINY += ["--final-eval-datasets", "8", "--lr", "3e-3", "--warmup", "10"]


def _fixed_batch_loss(net: EdgePosteriorNet) -> float:
    prior = TrainingPrior(domain="linear", batch_size=64, d_min=5, d_max=5)
    h = prior.sample_batch(np.random.default_rng(123))
    x = torch.from_numpy(encode_histories(h.values, h.intervened, None, "linear"))
    with torch.no_grad():
        return float(edge_bce(net.eval()(x), torch.from_numpy(h.adjacency.astype(np.float32))))


def test_tiny_training_reduces_loss_and_writes_files(tmp_path, one_torch_thread):
    out = tmp_path / "tiny"
    meta = run([*TINY, "--steps", "40", "--out", str(out)])
    assert meta["steps"] == 40 and meta["histories_seen"] > 0
    assert meta["sha256"] == sha256_file(f"{out}.pt")
    assert json.loads((tmp_path / "tiny.json").read_text())["config"]["dim"] == 8
    assert {"h0", "h10"} <= set(meta["heldout"])
    torch.manual_seed(0)  # the run's initialisation (same seed)
    untrained = _fixed_batch_loss(EdgePosteriorNet(ModelConfig(dim=8, layers=1, heads=1)))
    trained = _fixed_batch_loss(load_reward_model(out).net)
    assert trained < 0.8 * untrained

    # resume continues the step count in a new data segment
    meta2 = run([*TINY, "--steps", "50", "--out", str(out), "--resume"])
    assert meta2["steps"] == 50 and len(meta2["segments"]) == 2


def test_data_stream_is_seeded():
    prior = TrainingPrior(domain="linear", batch_size=8, d_min=5, d_max=6)
    a = next(iter(HistoryStream(prior, seed=1)))
    b = next(iter(HistoryStream(prior, seed=1)))
    c = next(iter(HistoryStream(prior, seed=1, segment=1)))
    torch.testing.assert_close(a["x"], b["x"])
    assert a["x"].shape != c["x"].shape or not torch.equal(a["x"], c["x"])


def test_config_defaults_are_those_of_the_model_and_the_prior():
    assert TrainConfig(domain="linear").model_config() == ModelConfig()
    assert TrainConfig(domain="linear").prior() == TrainingPrior(domain="linear")
    assert TrainConfig(domain="sergio").prior() == TrainingPrior(domain="sergio", groups=1)
    argv = ["--domain", "sergio", "--batch-size", "7", "--scale-channel", "--time-limit", "1.5", "--out", "x"]
    assert TrainConfig(**vars(build_parser().parse_args(argv))) == TrainConfig(
        domain="sergio", batch_size=7, scale_channel=True, time_limit=1.5, out="x"
    )


@pytest.mark.parametrize("sidecar", sorted(WEIGHTS.glob("*.json")), ids=lambda p: p.stem)
def test_shipped_sidecar_commands_still_give_their_architecture(sidecar):
    meta = json.loads(sidecar.read_text())
    for command in [meta["command"], *(s["command"] for s in meta["segments"])]:
        config = TrainConfig(**vars(build_parser().parse_args(shlex.split(command)[3:])))
        init = None if config.init is None else json.loads((WEIGHTS / f"{config.init}.json").read_text())["config"]
        assert config.model_config(None if init is None else ModelConfig(**init)) == ModelConfig(**meta["config"])
        assert config.seed == meta["seed"]
        assert json.loads(json.dumps(config.prior().to_dict())) == meta["training_prior"]  # tuples as JSON lists


def test_learning_rate_warms_up_then_decays_in_steps_or_wall_time():
    by_steps = TrainConfig(domain="linear", steps=100, warmup=10, lr=1.0, time_limit=1.0)
    assert learning_rate(by_steps, 0, 0.0) == pytest.approx(0.1)
    assert learning_rate(by_steps, 100, 0.0) == pytest.approx(0.05) == learning_rate(by_steps, 100, 1e6)
    by_time = TrainConfig(domain="linear", warmup=0, lr=1.0, time_limit=1.0)
    assert by_time.max_steps == 10**9 and TrainConfig(domain="linear").max_steps == 20000
    assert learning_rate(by_time, 5, 0.0) == 1.0 and learning_rate(by_time, 5, 60.0) == pytest.approx(0.05)


def test_bad_settings_raise_and_the_cli_ends_in_one_line(tmp_path, capsys):
    with pytest.raises(ValueError, match="--teacher needs --domain linear"):
        TrainConfig(domain="sergio", teacher="shards")
    with pytest.raises(ValueError, match="--hard-fraction"):
        TrainConfig(domain="linear", hard_fraction=1.5)
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        Trainer(TrainConfig(domain="linear", dim=8, layers=1, heads=1, resume=True, out=str(tmp_path / "x")), "cmd")
    with pytest.raises(SystemExit) as exit_info:
        run(["--domain", "linear", "--resume", "--out", str(tmp_path / "x")])
    assert exit_info.value.code == 2 and capsys.readouterr().err.strip().count("\n") == 0
