"""benchmarks.teacher_agreement: the Jaccard index, a deterministic designer agrees with itself, validation states."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.teacher_agreement import agreement, jaccard, validation_states
from caasl_gym.evaluation import VALIDATION

TINY = dict(num_nodes=4, n_initial=6, budget=3)


def test_jaccard_of_target_sets():
    a = np.array([[1, 1, 0, 0], [0, 0, 0, 0], [1, 0, 0, 0]], dtype=bool)
    b = np.array([[1, 0, 1, 0], [0, 0, 0, 0], [0, 1, 0, 0]], dtype=bool)
    np.testing.assert_allclose(jaccard(a, b), [1 / 3, 1.0, 0.0])


class FirstUntried:
    """Deterministic: targets the lowest-indexed variable never targeted (ignores its generator)."""

    def design(self, obs, rng):
        untried = np.flatnonzero(obs[:, :, 1].max(axis=0) == 0)
        action = -np.ones((obs.shape[1], 2))
        action[untried[:1], 0] = 1.0
        return action


class Coin:
    """Each variable a target with probability 1/2 from its generator."""

    def design(self, obs, rng):
        return np.stack([rng.choice([-1.0, 1.0], size=obs.shape[1]), np.ones(obs.shape[1])], axis=-1)


def test_a_deterministic_designer_agrees_with_itself_and_a_coin_does_not():
    obs, seeds = validation_states("CausalLinear-v0", 6, VALIDATION.start, TINY)
    assert obs.shape == (6, 9, 4, 3) and seeds.tolist() == list(range(VALIDATION.start, VALIDATION.start + 6))
    jac, same, cpu = agreement(FirstUntried(), obs, seeds)
    assert (jac == 1).all() and same.all() and cpu >= 0
    jac, same, _ = agreement(Coin(), obs, seeds)
    assert jac.mean() < 1 and not same.all()
    with pytest.raises(ValueError, match="agreement seeds"):
        validation_states("CausalLinear-v0", 2, 0, TINY)
