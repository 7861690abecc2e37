"""Small wrappers that let third-party algorithms use the design environments.

Both keep the Gymnasium contract (spaces describe what is returned, fresh arrays every call):

* :class:`StandardizeHistory` z-scores the value channel per variable over the filled rows, with an
  optional signed ``log1p`` first (for SERGIO counts).
* :class:`FlattenHistory` flattens the observation ``(N, d, 3)`` to 1-D and the action ``(d, 2)`` to
  ``(2d,)`` (reshaped back before it reaches the env), as stock ``MlpPolicy`` networks expect.

Typical use: ``FlattenHistory(StandardizeHistory(gym.make("SergioKnockout-v0"), log1p=True))``.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from caasl_gym.reward.preprocessing import masked_moments


def standardize_history(obs: np.ndarray, *, log1p: bool = False, eps: float = 1e-8) -> np.ndarray:
    """Z-score channel 0 of histories per variable over their filled rows.

    Args:
        obs: ``(..., N, d, 3)`` histories (channel 2 marks filled rows).
        log1p: apply ``sign(x) * log1p(|x|)`` before standardising (counts -> log scale).
        eps: standard deviations below ``eps`` count as 1 (constant variables map to 0).

    Returns:
        ``(..., N, d, 3)`` float32: channel 0 standardised on filled rows and 0 on padding rows (so
        ``|value| <= sqrt(N - 1)`` by Samuelson's inequality), channels 1 and 2 unchanged.
    """
    x = obs[..., 0].astype(np.float64)  # (..., N, d)
    if log1p:
        x = np.sign(x) * np.log1p(np.abs(x))
    filled = obs[..., 2] > 0  # (..., N, d)
    mean, var = masked_moments(x, filled, axis=-2)  # (..., 1, d) each
    std = np.sqrt(var)
    z = np.where(filled, x - mean, 0.0) / np.where(std < eps, 1.0, std)
    bound = np.sqrt(max(obs.shape[-3] - 1, 1))
    out = obs.astype(np.float32, copy=True)
    out[..., 0] = np.clip(z, -bound, bound)
    return out


class StandardizeHistory(gym.ObservationWrapper, gym.utils.RecordConstructorArgs):
    """Standardise the value channel of the history per variable over the filled rows.

    Args:
        env: a design environment with observations ``Box((N, d, 3))``.
        log1p: apply a signed ``log1p`` to the values first (recommended for SERGIO counts).
        eps: standard deviations below ``eps`` count as 1.
    """

    def __init__(self, env: gym.Env, log1p: bool = False, eps: float = 1e-8) -> None:
        gym.utils.RecordConstructorArgs.__init__(self, log1p=log1p, eps=eps)
        gym.ObservationWrapper.__init__(self, env)
        self.log1p, self.eps = bool(log1p), float(eps)
        inner = env.observation_space
        n_rows = inner.shape[-3]
        bound = np.float32(np.sqrt(max(n_rows - 1, 1)))
        low, high = inner.low.copy(), inner.high.copy()
        low[..., 0], high[..., 0] = -bound, bound
        self.observation_space = spaces.Box(low, high, dtype=np.float32)

    def observation(self, observation: np.ndarray) -> np.ndarray:
        """``(N, d, 3)`` -> ``(N, d, 3)`` standardised (see :func:`standardize_history`)."""
        return standardize_history(observation, log1p=self.log1p, eps=self.eps)


class FlattenHistory(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """Flatten observations to ``(N * d * 3,)`` and actions to ``(2d,)`` for MLP policies.

    Args:
        env: a design environment (possibly wrapped) with Box observation and action spaces.
    """

    def __init__(self, env: gym.Env) -> None:
        gym.utils.RecordConstructorArgs.__init__(self)
        gym.Wrapper.__init__(self, env)
        obs_space, act_space = env.observation_space, env.action_space
        self._action_shape = act_space.shape
        self.observation_space = spaces.Box(
            obs_space.low.reshape(-1), obs_space.high.reshape(-1), dtype=obs_space.dtype
        )
        self.action_space = spaces.Box(act_space.low.reshape(-1), act_space.high.reshape(-1), dtype=act_space.dtype)

    def reset(self, **kwargs: Any) -> tuple[np.ndarray, dict[str, Any]]:
        obs, info = self.env.reset(**kwargs)
        return np.asarray(obs).reshape(-1), info

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Reshape ``action`` ``(2d,)`` to ``(d, 2)``, step, and flatten the observation.

        Raises:
            ValueError: ``action`` does not have ``2d`` entries.
        """
        a = np.asarray(action)
        if a.size != int(np.prod(self._action_shape)):
            raise ValueError(f"action must have {int(np.prod(self._action_shape))} entries, got shape {a.shape}")
        obs, reward, terminated, truncated, info = self.env.step(a.reshape(self._action_shape))
        return np.asarray(obs).reshape(-1), reward, terminated, truncated, info
