"""Fixtures shared by the test modules (the helpers they import are in :mod:`env_helpers`)."""

import pytest
import torch

TOY = "caasl_agents.common.envs:caasl_agents/ToyDesign-v0"
"""The toy design env as the train CLI takes it, with the module that registers it."""


@pytest.fixture
def test_models():
    """The tiny reward models ``"test-linear"`` and ``"test-sergio"`` of :mod:`env_helpers`, registered."""
    from env_helpers import install_test_models

    install_test_models()


@pytest.fixture
def one_torch_thread():
    """Torch on one thread during the test, its previous thread count restored after it."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def train_toy(tmp_path_factory):
    """``train_toy(*argv)``: the run folder of a tiny 48-step REDQ run on the toy env (d = 3, no evaluation),
    trained by the train CLI with ``argv`` added (say ``--seed`` and ``--checkpoint-freq``)."""
    from caasl_agents.train import main

    tiny = [
        "--env", TOY, "--total-timesteps", "48", "--n-envs", "4", "--learning-starts", "16", "--batch-size", "16",
        "--buffer-size", "400", "--n-critics", "2", "--embed-dim", "8", "--n-layers", "1", "--n-heads", "2",
        "--pi-arch", "16", "--qf-arch", "16", "--gradient-steps", "1", "--eval-episodes", "0", "--no-progress-bar",
        "--torch-threads", "1", "--env-kwargs", '{"num_nodes": 3}',
    ]  # fmt: skip
    return lambda *argv: main([*tiny, "--run-root", str(tmp_path_factory.mktemp("runs")), *argv])


@pytest.fixture(autouse=True)
def seeded_spaces(monkeypatch):
    """Spaces that nobody seeded sample from seed 0 (Gymnasium would seed them from fresh entropy), so the tests
    that step with ``env.action_space.sample()`` are deterministic."""
    import gymnasium as gym

    lazy = gym.spaces.Space.np_random.fget

    def np_random(self):
        if self._np_random is None:
            self.seed(0)
        return lazy(self)

    monkeypatch.setattr(gym.spaces.Space, "np_random", property(np_random))
