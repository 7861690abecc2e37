"""A tiny training run through the CLI entry point: it learns, writes its files and resumes."""

from __future__ import annotations

import json

import numpy as np
import torch

from caasl_gym.reward.data import TrainingPrior
from caasl_gym.reward.inputs import encode_histories
from caasl_gym.reward.loading import load_reward_model, sha256_file
from caasl_gym.reward.model import EdgePosteriorNet, ModelConfig, edge_bce
from caasl_gym.reward.train import HistoryStream, run

TINY = ["--domain", "linear", "--dim", "8", "--layers", "1", "--heads", "1", "--batch-size", "8"]
TINY += ["--d-min", "5", "--d-max", "5", "--threads", "1", "--no-progress", "--eval-every", "0"]
TINY += ["--final-eval-datasets", "8", "--lr", "3e-3", "--warmup", "10"]


def _fixed_batch_loss(net: EdgePosteriorNet) -> float:
    prior = TrainingPrior(domain="linear", batch_size=64, d_min=5, d_max=5)
    h = prior.sample_batch(np.random.default_rng(123))
    x = torch.from_numpy(encode_histories(h.values, h.intervened, None, "linear"))
    with torch.no_grad():
        return float(edge_bce(net.eval()(x), torch.from_numpy(h.adjacency.astype(np.float32))))


def test_tiny_training_reduces_loss_and_writes_files(tmp_path):
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
