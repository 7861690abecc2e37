"""Loading shipped reward models from package data, and checksum failures."""

from __future__ import annotations

import json
import shutil
from importlib import resources

import numpy as np
import pytest

from caasl_gym.reward import RewardWeightsError, available_reward_models, load_reward_model
from caasl_gym.reward.data import default_setting, simulate_histories

WEIGHTS = resources.files("caasl_gym.reward") / "weights"


def _copy(name: str, tmp_path):
    for suffix in (".pt", ".json"):
        with resources.as_file(WEIGHTS / f"{name}{suffix}") as src:
            shutil.copy(src, tmp_path / f"{name}{suffix}")
    return tmp_path / name


@pytest.mark.parametrize("name", ["linear", "sergio"])
def test_shipped_model_loads_from_package_data(name):
    assert (WEIGHTS / f"{name}.pt").is_file() and (WEIGHTS / f"{name}.json").is_file()
    assert name in available_reward_models()
    model = load_reward_model(name)
    meta = json.loads((WEIGHTS / f"{name}.json").read_text())
    assert model.domain == meta["domain"] == name
    assert "python -m caasl_gym.reward.train" in meta["command"]
    h = simulate_histories(np.random.default_rng(0), default_setting(name), 2, 5, 10, 2)
    p = model.edge_probabilities(h.values, h.intervened)
    assert p.shape == (2, 5, 5) and np.all(p[:, np.arange(5), np.arange(5)] == 0)
    assert np.all((p >= 0) & (p <= 1))


def test_load_by_path(tmp_path):
    stem = _copy("linear", tmp_path)
    for arg in (stem, f"{stem}.pt", f"{stem}.json"):
        assert load_reward_model(arg).domain == "linear"


def test_truncated_weights_raise(tmp_path):
    stem = _copy("linear", tmp_path)
    pt = tmp_path / "linear.pt"
    pt.write_bytes(pt.read_bytes()[:-100])
    with pytest.raises(RewardWeightsError, match=r"linear\.pt.*sha256.*python -m caasl_gym\.reward\.train"):
        load_reward_model(stem)


def test_altered_weights_raise(tmp_path):
    stem = _copy("linear", tmp_path)
    pt = tmp_path / "linear.pt"
    data = bytearray(pt.read_bytes())
    data[len(data) // 2] ^= 0xFF
    pt.write_bytes(bytes(data))
    with pytest.raises(RewardWeightsError, match="truncated or altered"):
        load_reward_model(stem)


def test_missing_files_raise(tmp_path):
    stem = _copy("linear", tmp_path)
    (tmp_path / "linear.pt").unlink()
    with pytest.raises(RewardWeightsError, match=r"linear\.pt are missing.*regenerate"):
        load_reward_model(stem)
    (tmp_path / "linear.json").unlink()
    with pytest.raises(RewardWeightsError, match=r"linear\.json is missing.*regenerate"):
        load_reward_model(stem)
    with pytest.raises(RewardWeightsError, match="unknown reward model"):
        load_reward_model("no-such-model")


def test_unreadable_sidecar_raises(tmp_path):
    stem = _copy("linear", tmp_path)
    (tmp_path / "linear.json").write_text("{not json")
    with pytest.raises(RewardWeightsError, match="unreadable"):
        load_reward_model(stem)


def test_register_reward_model_makes_a_name_usable_by_gym_make():
    import gymnasium as gym

    import caasl_gym
    from caasl_gym.reward import ExactLinearPosterior

    model = ExactLinearPosterior()
    caasl_gym.register_reward_model("my-exact", model)
    caasl_gym.register_reward_model("my-exact", model)  # the same object again is fine
    env = gym.make("CausalLinear-v0", reward_model="my-exact", num_nodes=4, n_initial=5, budget=1)
    assert env.unwrapped._core.model is model
    assert env.spec.kwargs["reward_model"] == "my-exact"  # kwargs stay JSON-serialisable
    with pytest.raises(ValueError, match="already registered"):
        caasl_gym.register_reward_model("my-exact", ExactLinearPosterior())
    with pytest.raises(ValueError, match="built-in"):
        caasl_gym.register_reward_model("linear", model)
    with pytest.raises(ValueError, match="edge_probabilities"):
        caasl_gym.register_reward_model("broken", object())
