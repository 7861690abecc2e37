"""A trained policy as a design strategy of :mod:`caasl_gym.evaluation`, and its paired gain over Random.

:class:`PolicyStrategy` runs an SB3 model (any ``d``, through
:func:`~caasl_agents.redq.predict.predict_any_d`) behind the engine's batched strategy protocol.
:func:`policy_record` is the evaluation of the training CLI, of checkpoint selection in
:mod:`caasl_agents.pretrained.export` and of ``benchmarks.learning_curve``: the same episodes and
numbers as ``benchmarks.evaluate`` for the same seeds.

Before the engine, this module drew Random's designs and the policy's noise from one generator for the
whole batch (``default_rng(seed)`` and ``default_rng([seed, 1])``) and called ``S(h_T) - S(h_0)`` the
"return". Each episode now has its own generator (results independent of the batch size, the same as
episode by episode) and the outputs report the score ``S(h_T)`` and the gain over Random; validation
numbers in sidecars exported before (keys ``mean_return``, ``diff_vs_random``) came from the old draws.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from stable_baselines3.common.base_class import BaseAlgorithm

from caasl_agents.redq.predict import predict_any_d
from caasl_gym.evaluation import VALIDATION, RandomStrategy, evaluate, final, summarize


class PolicyStrategy:
    """A trained ``caasl_agents`` policy as a batched design strategy, at any number of variables ``d``.

    Args:
        model: a loaded SB3 model (e.g. from ``caasl_agents.load_pretrained``).
        deterministic: the policy's deterministic design (``model.policy.deterministic_design``, by default
            ``"coverage"``, :mod:`caasl_agents.redq.designs`); otherwise designs are
            sampled, copy ``b``'s noise drawn from ``rngs[b]`` (reproducible, and paired like the other strategies).
        name: label in the results.
        batched: one forward pass for the whole batch. Faster, but torch's float batch effects then move the
            actions by ~1e-7 with the batch size; by default each history gets its own pass, so the designs
            are bit-identical however the episodes are batched (and to episode-by-episode evaluation).
    """

    def __init__(
        self, model: BaseAlgorithm, deterministic: bool = False, name: str = "CAASL", batched: bool = False
    ) -> None:
        self.model = model
        self.deterministic = deterministic
        self.name = name
        self.batched = batched

    def act(self, obs: np.ndarray, rngs: Sequence[np.random.Generator]) -> np.ndarray:
        """Actions ``(B, d, 2)`` for the histories ``obs`` ``(B, N, d, 3)``."""
        if self.batched:
            return predict_any_d(self.model, obs, deterministic=self.deterministic, rng=rngs)
        return np.stack([predict_any_d(self.model, o, self.deterministic, rng) for o, rng in zip(obs, rngs)])


def policy_record(
    model: BaseAlgorithm,
    env_id: str,
    n_episodes: int = 100,
    seed_base: int = VALIDATION.start,
    env_kwargs: dict[str, Any] | None = None,
    deterministic: bool = False,
) -> dict[str, Any]:
    """Score and paired gain over Random of ``model`` on the episodes ``seed_base + i`` at the final step.

    :param model: a trained model whose actor accepts the env's observations (any ``d``)
    :param env_id: registered id
    :param n_episodes: held-out episodes (paper: 100)
    :param seed_base: first episode seed: validation seeds (the default) for training and selection,
        ``caasl_gym.evaluation.TEST.start`` for benchmarks
    :param env_kwargs: env kwargs
    :param deterministic: the policy's deterministic designs (its ``deterministic_design`` rule,
        :mod:`caasl_agents.redq.designs`) instead of samples (the official CAASL evaluation samples)
    :return: one flat record (the train CLI's ``eval.csv`` row, the sidecars' ``eval``, a learning-curve
        point): ``episodes, seed_base, designs``, the policy's ``score`` and ``score_ci95`` (``S(h_T)``),
        ``random_score`` and ``random_score_ci95``, ``gain`` and ``gain_ci95`` (``S(h_T) - S_Random(h_T)``)
        and the policy's ``design_seconds``
    """
    strategies = [PolicyStrategy(model, deterministic), RandomStrategy()]
    rows = final(summarize(evaluate(env_id, strategies, n_episodes, seed_base, env_kwargs))).set_index("strategy")
    policy, random = rows.loc["CAASL"], rows.loc["Random"]
    return {
        "episodes": int(n_episodes),
        "seed_base": int(seed_base),
        "designs": "deterministic" if deterministic else "sampled",
        "score": float(policy["score"]),
        "score_ci95": float(policy["score_ci95"]),
        "random_score": float(random["score"]),
        "random_score_ci95": float(random["score_ci95"]),
        "gain": float(policy["gain"]),
        "gain_ci95": float(policy["gain_ci95"]),
        "design_seconds": float(policy["design_seconds"]),
    }


def gain_of(record: dict[str, Any]) -> tuple[float, float]:
    """``(gain, 95% CI)`` of an evaluation record of a sidecar or selection (new keys, or the
    ``diff_vs_random`` / ``ci95_diff`` of sidecars exported before the engine: the same paired quantity)."""
    if "gain" in record:
        return float(record["gain"]), float(record["gain_ci95"])
    return float(record["diff_vs_random"]), float(record["ci95_diff"])
