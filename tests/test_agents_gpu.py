"""CUDA checks of the agents (``pytest -m gpu``; skipped without a CUDA device)."""

import numpy as np
import pytest
import torch as th

from caasl_agents import REDQ, make_vec_env, predict_any_d
from caasl_agents.common.envs import TOY_ENV_ID
from caasl_agents.common.torch_layers import AlternatingAttentionEncoder
from caasl_agents.train import main

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not th.cuda.is_available(), reason="needs a CUDA device"),
]


def test_redq_trains_on_cuda_and_batched_critics_match_loop():
    env = make_vec_env(TOY_ENV_ID, 4, seed=0)
    model = REDQ("TransformerPolicy", env, buffer_size=1_000, learning_starts=32, batch_size=32, seed=0,
                 device="cuda", policy_kwargs=dict(n_critics=10))  # fmt: skip
    model.learn(96)
    assert model.device.type == "cuda" and model._n_updates > 0
    obs = th.as_tensor(env.reset(), device="cuda")
    actions = th.rand(obs.shape[0], 6, device="cuda") * 2 - 1
    with th.no_grad():
        th.testing.assert_close(
            model.critic.forward_looped(obs, actions), model.critic(obs, actions), atol=1e-4, rtol=0
        )
    assert predict_any_d(model, obs.cpu().numpy()).shape == (4, 3, 2)


def test_attention_beyond_cuda_grid_limit_matches_cpu():
    """10 members x 1000 histories x 8 rows = 80k variable-attention sequences (> 65535)."""
    th.manual_seed(0)
    encoder = AlternatingAttentionEncoder(embed_dim=16, n_layers=1, n_heads=2, n_members=10).eval()
    obs = th.zeros(1000, 8, 10, 3)
    obs[:, :6, :, 0] = th.randn(1000, 6, 10)
    obs[:, :6, :, 2] = 1.0
    with th.no_grad():
        expected = encoder(obs)
        actual = encoder.cuda()(obs.cuda()).cpu()
    th.testing.assert_close(actual, expected, atol=1e-4, rtol=0)


def test_cli_on_cuda(tmp_path):
    run_dir = main([
        "--env", "caasl_agents.common.envs:caasl_agents/ToyDesign-v0", "--device", "cuda",
        "--total-timesteps", "64",
        "--n-envs", "4", "--learning-starts", "16", "--batch-size", "16", "--eval-episodes", "8",
        "--no-progress-bar", "--run-root", str(tmp_path),
    ])  # fmt: skip
    model = REDQ.load(run_dir / "model.zip", device="cuda")
    assert model.num_timesteps == 64 and np.isfinite(model.critic.q_heads.layers[0].weight.sum().item())


def test_cli_resumes_on_cuda(tmp_path):
    """The preset resolves to gpu on CUDA and a run resumes there (CUDA's random streams are restored too)."""
    import json

    argv = ["--env", "caasl_agents.common.envs:caasl_agents/ToyDesign-v0", "--n-envs", "4", "--learning-starts", "16",
            "--batch-size", "16", "--eval-episodes", "0", "--no-progress-bar", "--checkpoint-freq", "16"]  # fmt: skip
    run_dir = main([*argv, "--total-timesteps", "32", "--run-root", str(tmp_path)])
    assert json.loads((run_dir / "config.json").read_text())["preset"] == "gpu"
    main(["--resume", str(run_dir), "--total-timesteps", "48"])
    model = REDQ.load(run_dir / "model.zip", device="cuda")
    assert model.num_timesteps == 48 and model.device.type == "cuda"
