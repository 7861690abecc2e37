"""The privileged one-step greedy probe (caasl_gym.evaluation.probe): a headroom reference of the benchmarks."""

import gymnasium as gym
import numpy as np
import pytest

from caasl_gym.evaluation import PROBE_NAME, TEST, PrivilegedProbe, RandomStrategy, rollout, strategy_rngs

SMALL = dict(num_nodes=4, n_initial=6, budget=3)
"""CausalLinear-v0 with d = 4 (the exact posterior, fast) and T = 3."""


class Replay:
    """Plays recorded actions ``(n, T, d, 2)`` (one chunk holding every episode)."""

    name = "Replay"

    def __init__(self, actions):
        self.actions = actions

    def act(self, obs, rngs):
        t = int(obs[0, :, 0, 2].sum()) - SMALL["n_initial"]
        return self.actions[:, t]


def test_candidates_are_observational_single_targets_and_uniform_draws():
    probe = PrivilegedProbe(n_random=3)
    cands = probe.candidates(np.random.default_rng(0), 4)
    assert cands.shape == (1 + 4 + 3, 4, 2) and cands.dtype == np.float32 and np.all(np.abs(cands) <= 1)
    assert not (cands[0, :, 0] > 0).any()  # observational
    np.testing.assert_array_equal(cands[1:5, :, 0] > 0, np.eye(4, dtype=bool))  # each single target
    np.testing.assert_array_equal(probe.candidates(np.random.default_rng(0), 4), cands)
    assert PrivilegedProbe(n_random=2, single_targets=False, observational=False).candidates(
        np.random.default_rng(0), 4
    ).shape == (2, 4, 2)
    with pytest.raises(ValueError, match="needs candidates"):
        PrivilegedProbe(n_random=0, single_targets=False, observational=False)
    with pytest.raises(ValueError, match="n_random must be >= 0 and n_noise >= 1"):
        PrivilegedProbe(n_noise=0)


def test_probe_plays_the_best_simulated_candidate_without_touching_the_env_generators():
    venv = gym.make_vec("CausalLinear-v0", num_envs=2, **SMALL)
    obs, _ = venv.reset(seed=TEST.start)
    probe = PrivilegedProbe(n_random=4)
    with pytest.raises(RuntimeError, match="not bound"):
        probe.act(obs, strategy_rngs([0, 1]))
    probe.bind(venv.unwrapped)
    env_state = [r.bit_generator.state for r in venv.unwrapped._rngs]
    action = probe.act(obs, strategy_rngs([TEST.start, TEST.start + 1]))
    assert [r.bit_generator.state for r in venv.unwrapped._rngs] == env_state
    # by hand, from the same episode generators: the candidates, the noise seeds, then the argmax of the scores
    rngs = strategy_rngs([TEST.start, TEST.start + 1])
    cands = np.stack([probe.candidates(r, 4) for r in rngs])
    seeds = np.array([r.integers(0, 2**63, size=1)[0] for r in rngs])
    scores = probe.candidate_scores(obs, cands, seeds)
    np.testing.assert_array_equal(action, cands[np.arange(2), scores.argmax(1)])
    assert scores.shape == (2, 9) and np.all(scores <= 16)  # at most d² correct entries
    # the same noise for every candidate: the observational candidate's rows do not depend on the others
    np.testing.assert_array_equal(probe.candidate_scores(obs, cands[:, :1], seeds), scores[:, :1])
    np.testing.assert_array_equal(venv.unwrapped.lookahead_scores(obs, cands, seeds), scores)  # the public hook
    with pytest.raises(ValueError, match="history is not this env's current observation"):
        probe.act(obs + 1, rngs)
    with pytest.raises(ValueError, match=r"lookahead actions must have shape \(2, C, 4, 2\), got \(2, 9, 3, 2\)"):
        venv.unwrapped.lookahead_scores(obs, cands[:, :, :3], seeds)
    with pytest.raises(ValueError, match=r"lookahead seeds must have shape \(2,\)"):
        venv.unwrapped.lookahead_scores(obs, cands, seeds[:1])
    venv.close()
    sync = gym.make_vec("CausalLinear-v0", num_envs=2, vectorization_mode="sync", **SMALL)
    with pytest.raises(ValueError, match="needs a native caasl_gym vector env"):
        probe.bind(sync)
    sync.close()


def test_probe_rollout_is_paired_reproducible_and_leaves_the_env_stream_alone():
    probe = rollout("CausalLinear-v0", PrivilegedProbe(n_random=4), 4, TEST.start, SMALL, record_actions=True)
    assert probe.strategy == PROBE_NAME and probe.actions.shape == (4, 3, 4, 2)
    random = rollout("CausalLinear-v0", RandomStrategy(), 4, TEST.start, SMALL)
    np.testing.assert_allclose(probe.score[:, 0], random.score[:, 0])  # the same episodes
    # replaying its designs gives its scores: the probe's simulations drew nothing from the env's generators
    replay = rollout("CausalLinear-v0", Replay(probe.actions), 4, TEST.start, SMALL)
    np.testing.assert_array_equal(replay.score, probe.score)
    # in chunks of two, the same designs
    pairs = rollout(
        "CausalLinear-v0", PrivilegedProbe(n_random=4), 4, TEST.start, SMALL, record_actions=True, chunk_size=2
    )
    np.testing.assert_array_equal(pairs.actions, probe.actions)
    # it reads the true model: over these episodes it beats Random
    assert (probe.score[:, -1] - random.score[:, -1]).mean() > 0
