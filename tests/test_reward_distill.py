"""Distillation pieces: the log-std input channel, teacher shards, soft-label batches and warm starts."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from caasl_gym.reward import ExactLinearPosterior, LinearPrior, load_reward_model
from caasl_gym.reward.data import TrainingPrior
from caasl_gym.reward.inputs import encode_histories, log_scale
from caasl_gym.reward.loading import RewardModel
from caasl_gym.reward.model import EdgePosteriorNet, ModelConfig
from caasl_gym.reward.teacher import TEACHER_SEED, TeacherPrior, make_shard, shard_path, write_shards
from caasl_gym.reward.training.loop import warm_start
from caasl_gym.reward.training.stream import HistoryStream

SMALL = TeacherPrior(d_choices=(4,), d_weights=(1.0,), n_obs_range=(10, 12), n_int_max=3, tokens=400)


def test_scale_channel_is_the_log_std_of_untargeted_rows() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 30, 3)) * np.array([0.3, 1.0, 2.0])
    iv = np.zeros(x.shape, dtype=bool)
    iv[:, 20:, 0] = True
    x[:, 20:, 0] = 50.0  # clamped values must not count
    mask = np.ones((2, 30), dtype=bool)
    mask[1, 25:] = False
    iv &= mask[:, :, None]  # as check_histories leaves them
    enc = encode_histories(x, iv, mask, "linear", scale_channel=True)
    assert enc.shape == (2, 30, 3, 3)
    expected = [np.log(x[0, :20, 0].std()), np.log(x[0, :, 1].std()), np.log(x[0, :, 2].std())]
    np.testing.assert_allclose(enc[0, 0, :, 2], expected, rtol=1e-5)
    np.testing.assert_allclose(enc[1, 0, 1, 2], np.log(x[1, :25, 1].std()), rtol=1e-5)
    assert (enc[1, 25:] == 0).all()  # padding rows are zero in every channel
    assert np.allclose(enc[0, :, :, 2], enc[0, :1, :, 2])  # repeated on every row
    # a variable with fewer than two untargeted rows gets 0
    iv[:, 1:, 2] = True
    assert log_scale(x, iv, None)[0, 2] == 0.0


def test_old_two_channel_models_still_load_and_ignore_scale() -> None:
    model = load_reward_model("linear-small")
    assert model.config.scale_channel is False and model.net.embed.in_features == 2
    x = np.random.default_rng(1).normal(size=(1, 20, 5))
    iv = np.zeros(x.shape, dtype=bool)
    np.testing.assert_allclose(model.edge_probabilities(x, iv), model.edge_probabilities(3 * x, iv), atol=1e-6)


def test_warm_start_adds_a_zero_scale_channel() -> None:
    src = load_reward_model("linear-small")
    cfg = ModelConfig(dim=src.config.dim, layers=src.config.layers, heads=src.config.heads, scale_channel=True)
    net = EdgePosteriorNet(cfg)
    warm_start(net, src)
    x = np.random.default_rng(2).normal(size=(3, 25, 6))
    iv = np.random.default_rng(3).random(x.shape) < 0.2
    np.testing.assert_allclose(RewardModel(net).edge_probabilities(x, iv), src.edge_probabilities(x, iv), atol=1e-6)


def test_teacher_shards_are_reproducible_exact_labels(tmp_path) -> None:
    a, b = make_shard(SMALL, 5, 0), make_shard(SMALL, 5, 0)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
    assert a["values"].shape[-1] == 4 and a["probs"].dtype == np.float32
    exact = ExactLinearPosterior(LinearPrior(weight_mean=0.0)).edge_probabilities(
        a["values"].astype(np.float64), a["intervened"]
    )
    other = ExactLinearPosterior(LinearPrior(weight_mean=0.1)).edge_probabilities(
        a["values"].astype(np.float64), a["intervened"]
    )
    assert np.allclose(a["probs"], exact, atol=1e-4) or np.allclose(a["probs"], other, atol=1e-4)
    assert write_shards(tmp_path, 5, range(2), SMALL, progress=False) == 2
    assert write_shards(tmp_path, 5, range(3), SMALL, progress=False) == 1  # resumes: only the missing one


def test_stream_mixes_soft_teacher_batches_with_hard_batches(tmp_path) -> None:
    write_shards(tmp_path, TEACHER_SEED, range(2), SMALL, progress=False)
    prior = TrainingPrior(domain="linear", batch_size=4, d_min=5, d_max=5)
    stream = HistoryStream(prior, 0, scale_channel=True, teacher=tmp_path, teacher_shards=2, hard_fraction=0.5)
    batches = [b for _, b in zip(range(12), iter(stream), strict=False)]
    soft = [b for b in batches if b["x"].shape[2] == 4]
    hard = [b for b in batches if b["x"].shape[2] == 5]
    assert soft and hard and len(soft) + len(hard) == 12
    assert all(b["x"].shape[-1] == 3 for b in batches)
    assert any(((b["adj"] > 0) & (b["adj"] < 1)).any() for b in soft)
    assert all(torch.isin(b["adj"], torch.tensor([0.0, 1.0])).all() for b in hard)
    with np.load(shard_path(tmp_path, TEACHER_SEED, 0)) as z:
        assert any(
            torch.allclose(b["adj"], torch.from_numpy(z["probs"])) for b in soft if b["adj"].shape == z["probs"].shape
        )


def test_teacher_prior_rejects_sizes_the_exact_posterior_cannot_label() -> None:
    with pytest.raises(ValueError, match="every d"):
        TeacherPrior(d_choices=(20,), d_weights=(1.0,))


def test_cli_distils_from_teacher_shards_with_a_warm_start(tmp_path, one_torch_thread) -> None:
    from caasl_gym.reward.train import run

    write_shards(tmp_path / "teacher", TEACHER_SEED, range(2), SMALL, progress=False)
    argv = ["--domain", "linear", "--init", "linear-small", "--scale-channel", "--teacher", str(tmp_path / "teacher")]
    argv += ["--teacher-shards", "2", "--steps", "6", "--batch-size", "4", "--d-min", "4", "--d-max", "4"]
    argv += ["--threads", "1", "--no-progress", "--eval-every", "0", "--final-eval-datasets", "4"]
    meta = run([*argv, "--out", str(tmp_path / "distilled")])
    assert meta["config"]["scale_channel"] is True and meta["config"]["dim"] == 32  # architecture of the init
    assert meta["teacher"]["shards"] == 2 and meta["init"]["name"] == "linear-small"
    assert load_reward_model(tmp_path / "distilled").config.channels == 3


def test_cli_trains_the_statistics_encoder_and_resumes_it(tmp_path, one_torch_thread) -> None:
    from caasl_gym.reward.train import run

    write_shards(tmp_path / "teacher", TEACHER_SEED, range(2), SMALL, progress=False)
    argv = ["--domain", "linear", "--encoder", "statistics", "--scale-channel", "--teacher", str(tmp_path / "teacher")]
    argv += ["--teacher-shards", "2", "--batch-size", "4", "--d-min", "4", "--d-max", "4", "--dim", "8"]
    argv += ["--threads", "1", "--no-progress", "--eval-every", "0", "--final-eval-datasets", "4"]
    out = ["--out", str(tmp_path / "stats")]
    run([*argv, "--steps", "3", *out])
    meta = run([*argv, "--steps", "6", "--resume", *out])
    assert meta["config"]["encoder"] == "statistics" and meta["steps"] == 6 and len(meta["segments"]) == 2
    model = load_reward_model(tmp_path / "stats")
    assert model.config.encoder == "statistics" and not hasattr(model.net, "embed")
    with pytest.raises(SystemExit):  # the statistics encoder needs the scale channel: a one-line CLI error
        run([a for a in argv if a != "--scale-channel"] + ["--steps", "1", "--out", str(tmp_path / "bad")])
