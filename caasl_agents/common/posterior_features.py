"""Per-variable statistics of a reward model's edge posterior, as extra inputs of the policy's encoders.

A policy that must infer "which variable's parents are still uncertain" from raw histories has to learn a
posterior of its own. With ``posterior_features=<reward model>`` (``python -m caasl_agents.train
--posterior-features sergio``) the encoders instead also read the frozen reward model's answer: for each
history ``h`` of a batch, the edge probabilities ``p_ij = q(i -> j | h)`` and, per variable ``j``, the
statistics of :data:`FEATURE_NAMES`:

* ``in_mass`` ``sum_i p_ij`` (expected parents) and ``in_uncertainty`` ``sum_i p_ij (1 - p_ij)``;
* ``out_mass`` ``sum_k p_jk`` (expected children) and ``out_uncertainty`` ``sum_k p_jk (1 - p_jk)``;
* ``log_targeted`` ``log(1 + c_j)``, ``c_j`` the history's filled rows that targeted ``j``;
* ``in_mass_per_target`` ``in_mass / (1 + c_j)``, the score of the ``Posterior-parents`` baseline
  (:mod:`caasl_gym.baselines.posterior_targets`);
* ``in_mass_per_target_vs_max`` and ``in_uncertainty_per_target_vs_max``: ``in_mass / (1 + c_j)`` and
  ``in_uncertainty / (1 + c_j)`` over their largest value among the history's variables (1 for the variable
  the Posterior-parents / -uncertainty rules target), so a per-variable head can tell the best variable
  without comparing across variables itself (0 when every variable's value is 0).

They are sums or maxima over the variables and do not depend on their order, so the encoders stay
equivariant to permutations of the variables and run at any ``d``. The encoder adds a linear map of them
to the embedding of every entry of the variable *before* its attention blocks, so attention across the
variables can compare them too. The policy still reads only the history: the reward model is part of the
method (it is package data, as the environments' rewards are), not a view of the hidden graph. The model is
not a submodule: it is not trained and not saved in the policy's zip, which stores its name; loading the zip
loads the model by that name.

Each gradient step of REDQ encodes the same sampled batch with the actor and the critics; the features of the
last few tensors are kept (by identity, while the tensor is alive and unmodified), so the reward model runs
once per batch, not once per encoder.
"""

from __future__ import annotations

import functools
import weakref
from collections import deque

import numpy as np
import torch as th

FEATURE_NAMES = (
    "in_mass",
    "in_uncertainty",
    "out_mass",
    "out_uncertainty",
    "log_targeted",
    "in_mass_per_target",
    "in_mass_per_target_vs_max",
    "in_uncertainty_per_target_vs_max",
)
"""The statistics per variable, in the order of the feature axis (see the module docstring)."""


def check_feature_names(names: tuple[str, ...] | list[str] | None) -> tuple[str, ...]:
    """The statistics an encoder reads: ``names`` in :data:`FEATURE_NAMES` order, or all of them for None / empty.

    Raises:
        ValueError: an unknown or repeated name (the message lists the valid ones).
    """
    if not names:
        return FEATURE_NAMES
    unknown = [n for n in names if n not in FEATURE_NAMES]
    if unknown:
        raise ValueError(f"unknown posterior statistics {unknown}; valid choices: {', '.join(FEATURE_NAMES)}")
    if len(set(names)) != len(names):
        raise ValueError(f"posterior statistics must not repeat, got {list(names)}")
    return tuple(n for n in FEATURE_NAMES if n in names)


class PosteriorFeatures:
    """Statistics ``(B, d, len(FEATURE_NAMES))`` of the reward model ``name``'s posterior of histories.

    Args:
        name: a reward model as the environments' ``reward_model`` kwarg takes it (``"sergio"``, ``"linear"``,
            a registered name or a weights path; see :func:`caasl_gym.envs.scoring.resolve_reward_model`).

    Raises:
        ValueError: an unknown model name (the message lists the shipped ones).
    """

    def __init__(self, name: str) -> None:
        from caasl_gym.envs.scoring import resolve_reward_model
        from caasl_gym.reward.loading import RewardWeightsError

        if not isinstance(name, str) or not name:
            raise ValueError(f"posterior features need a reward model name, got {name!r}")
        try:
            self.model = resolve_reward_model(name)
        except RewardWeightsError as err:
            raise ValueError(f"posterior features: {err}") from None
        self.name = name
        self._recent: deque[tuple[weakref.ref, int, np.ndarray]] = deque(maxlen=4)

    def __reduce__(self) -> tuple:
        """Pickled (and deep-copied) as its name: the copy is the process's shared instance of that model."""
        return posterior_features, (self.name,)

    def __call__(self, obs: th.Tensor) -> th.Tensor:
        """
        :param obs: histories ``(B, N, d, 3)`` (channel 1 the intervention indicator, channel 2 the filled rows)
        :return: ``(B, d, len(FEATURE_NAMES))`` float tensor on ``obs``'s device, without gradient; a history
            with no filled row gets zeros
        """
        version = -1 if obs.is_inference() else obs._version  # inference tensors cannot be modified in place
        stats = next((s for ref, seen, s in self._recent if ref() is obs and seen == version), None)
        if stats is None:
            stats = self.statistics(obs.detach().to("cpu", th.float64).numpy())
            self._recent.append((weakref.ref(obs), version, stats))
        return th.as_tensor(stats, dtype=obs.dtype, device=obs.device)

    def statistics(self, x: np.ndarray) -> np.ndarray:
        """:meth:`__call__` on a numpy batch ``(B, N, d, 3)``, without the cache: ``(B, d, S)`` float64."""
        batch, _, d, _ = x.shape
        filled = x[:, :, 0, 2] > 0  # (B, N)
        counts = (x[..., 1] * x[..., 2]).sum(axis=1)  # (B, d)
        probs = np.zeros((batch, d, d))
        some = filled.any(axis=1)
        if some.any():
            probs[some] = self.model.edge_probabilities(x[some, :, :, 0], x[some, :, :, 1] > 0, filled[some])
        return variable_statistics(probs, counts)


def relative_to_max(x: np.ndarray) -> np.ndarray:
    """``x`` ``(B, d)`` over its largest value per row (0 where that is not positive)."""
    top = x.max(axis=1, keepdims=True)
    return np.divide(x, top, out=np.zeros_like(x), where=top > 0)


def variable_statistics(probs: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """The :data:`FEATURE_NAMES` statistics ``(B, d, S)`` of edge probabilities ``probs`` ``(B, d, d)``
    (``i -> j``), given how many filled rows targeted each variable, ``counts`` ``(B, d)``."""
    spread = probs * (1.0 - probs)
    in_mass = probs.sum(axis=1)
    in_spread = spread.sum(axis=1)
    parents = in_mass / (1.0 + counts)  # Posterior-parents' score
    stats = [in_mass, in_spread, probs.sum(axis=2), spread.sum(axis=2), np.log1p(counts), parents]
    stats += [relative_to_max(parents), relative_to_max(in_spread / (1.0 + counts))]
    return np.stack(stats, axis=-1)


@functools.cache
def posterior_features(name: str) -> PosteriorFeatures:
    """The shared :class:`PosteriorFeatures` of ``name`` (one per process, so the encoders share its cache)."""
    return PosteriorFeatures(name)
