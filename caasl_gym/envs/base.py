"""Shared Gymnasium plumbing of the single (non-vectorised) design environments."""

from __future__ import annotations

from typing import Any, ClassVar

import gymnasium as gym
import numpy as np

from caasl_gym.envs.config import build_config
from caasl_gym.envs.core import DesignCore, action_space, as_action_array, observation_space
from caasl_gym.envs.domain import Domain
from caasl_gym.rendering import RENDER_MODES, render_ansi, render_rgb_array


def check_render_mode(render_mode: str | None) -> str | None:
    """Return ``render_mode`` if it is None or one of :data:`RENDER_MODES`, else raise ``ValueError``."""
    if render_mode is not None and render_mode not in RENDER_MODES:
        raise ValueError(f"unknown render_mode {render_mode!r}; valid choices: {', '.join(RENDER_MODES)}")
    return render_mode


class CausalDesignEnv(gym.Env):
    """Base class: one episode of sequential experimental design for causal discovery.

    Subclasses set :attr:`domain_class` (a :class:`~caasl_gym.envs.domain.Domain`); see
    :class:`~caasl_gym.envs.linear.CausalLinearEnv` for the full description.
    """

    metadata: ClassVar[dict[str, Any]] = {"render_modes": list(RENDER_MODES), "render_fps": 4}
    domain_class: ClassVar[type[Domain]]

    def __init__(self, render_mode: str | None = None, **kwargs: Any) -> None:
        self.config = build_config(self.domain_class.config_class, kwargs, type(self).__name__)
        self.render_mode = check_render_mode(render_mode)
        self._core = DesignCore(self.config, self.domain_class(self.config), batch=1)
        self.observation_space = observation_space(
            self.config, self._core.domain.value_low, self._core.domain.value_high
        )
        self.action_space = action_space(self.config)
        self._has_episode = False

    # ------------------------------------------------------------------ Gymnasium API
    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Draw a fresh causal model from the prior and ``n0`` observational rows.

        Args:
            seed: reseeds :attr:`np_random` (the only source of randomness) when given.
            options: unused.

        Returns:
            The observation ``(N, d, 3)`` and ``{"score": S(h_0)}``.
        """
        super().reset(seed=seed)
        self._core.reset([self.np_random])
        self._has_episode = True
        return self._core.history[0].copy(), {"score": float(self._core.score[0])}

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Run the experiment encoded by ``action`` ``(d, 2)`` and append its rows.

        Returns:
            ``(obs, reward, terminated, truncated, info)`` with ``reward = S(h_t) - S(h_{t-1})``,
            ``terminated`` True after exactly ``budget`` steps, ``truncated`` always False and
            ``info["score"] = S(h_t)``.

        Raises:
            ValueError: wrong action shape or non-finite entries.
            RuntimeError: stepping before :meth:`reset` or after termination.
        """
        if not self._has_episode:
            raise RuntimeError("call reset() before step()")
        a = as_action_array(action, self.action_space.shape)
        reward = self._core.step([self.np_random], a[None])
        return (
            self._core.history[0].copy(),
            float(reward[0]),
            bool(self._core.terminated),
            False,
            {"score": float(self._core.score[0])},
        )

    def render(self) -> str | np.ndarray | None:
        """The current posterior next to the truth: text (``"ansi"``) or an image (``"rgb_array"``)."""
        if self.render_mode is None:
            gym.logger.warn("render() called without a render_mode; pass render_mode= to gym.make")
            return None
        render = render_ansi if self.render_mode == "ansi" else render_rgb_array
        return render(
            self.edge_probabilities(),
            self.true_adjacency,
            t=self._core.t,
            budget=self.config.budget,
            score=float(self._core.score[0]),
        )

    # ------------------------------------------------------------------ evaluation helpers
    @property
    def true_adjacency(self) -> np.ndarray:
        """``(d, d)`` bool hidden graph of the current episode (``A[i, j]`` iff ``i -> j``)."""
        return self._core.adjacency[0].copy()

    def edge_probabilities(self) -> np.ndarray:
        """``(d, d)`` float64 edge probabilities ``q(A | h_t)`` of the reward model."""
        return self._core.probs[0].copy()

    @property
    def score(self) -> float:
        """``S(h_t)`` of the current history."""
        return float(self._core.score[0])
