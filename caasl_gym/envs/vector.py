"""Natively batched vector environments (Gymnasium ``vector_entry_point`` of every id).

All ``num_envs`` copies run in lockstep on one :class:`~caasl_gym.envs.core.DesignCore`: one batched
simulation and one reward-model call per step for the whole batch.

* **Seeding.** Copy ``i`` owns its own generator, created exactly as a single env's
  ``reset(seed=s + i)`` creates ``np_random`` (``seed`` an int ``s``; a list gives one seed per copy),
  and draws only from it. So copy ``i`` of a vector env seeded ``s`` replays the episodes of a single
  env seeded ``s + i``, and the vector env matches ``SyncVectorEnv`` of single envs (observations
  bit-identical; rewards up to the reward model's floating-point batch effects).
* **Autoreset.** ``AutoresetMode.NEXT_STEP`` (Gymnasium's default): all copies terminate together
  after ``budget`` steps; the following ``step`` ignores its actions and returns the first
  observation of new episodes with zero rewards and ``info`` from the reset.
* **Truncation.** Only when ``max_episode_steps`` (from ``gym.make_vec``) is below ``budget``, as a
  ``TimeLimit`` would do for the single env.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from gymnasium.utils import seeding
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from caasl_gym.envs.base import check_render_mode
from caasl_gym.envs.config import build_config
from caasl_gym.envs.core import DesignCore, action_space, as_action_array, observation_space
from caasl_gym.envs.domain import Domain
from caasl_gym.rendering import RENDER_MODES, render_ansi, render_rgb_array


class CausalDesignVectorEnv(VectorEnv):
    """``num_envs`` lockstep copies of a design environment (see the module docstring).

    Subclasses set :attr:`domain_class` (a :class:`~caasl_gym.envs.domain.Domain`).

    Args:
        num_envs: number of copies ``B``.
        max_episode_steps: optional truncation step count (as ``TimeLimit``); ``None`` = none.
        render_mode: ``None``, ``"ansi"`` or ``"rgb_array"``; :meth:`render` returns one frame per copy.
        **kwargs: the single env's kwargs.
    """

    metadata: ClassVar[dict[str, Any]] = {
        "render_modes": list(RENDER_MODES),
        "render_fps": 4,
        "autoreset_mode": AutoresetMode.NEXT_STEP,
    }
    domain_class: ClassVar[type[Domain]]

    def __init__(
        self,
        num_envs: int = 1,
        max_episode_steps: int | None = None,
        render_mode: str | None = None,
        **kwargs: Any,
    ) -> None:
        if isinstance(num_envs, bool) or not isinstance(num_envs, int | np.integer) or num_envs < 1:
            raise ValueError(f"num_envs must be an integer >= 1, got {num_envs!r}")
        if max_episode_steps is not None and (
            isinstance(max_episode_steps, bool)
            or not isinstance(max_episode_steps, int | np.integer)
            or max_episode_steps < 1
        ):
            raise ValueError(f"max_episode_steps must be None or an integer >= 1, got {max_episode_steps!r}")
        owner = type(self).__name__
        extra = ("render_mode", "num_envs", "max_episode_steps")
        self.config = build_config(self.domain_class.config_class, kwargs, owner, extra=extra)
        self.num_envs = int(num_envs)
        self.max_episode_steps = max_episode_steps
        self.render_mode = check_render_mode(render_mode)
        self._core = DesignCore(self.config, self.domain_class(self.config), batch=self.num_envs)
        domain = self._core.domain
        self.single_observation_space = observation_space(self.config, domain.value_low, domain.value_high)
        self.single_action_space = action_space(self.config)
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self._rngs: list[np.random.Generator] | None = None
        self._needs_reset = True  # before the first reset() and after the last step of an episode
        self._started = False

    def reset(
        self, *, seed: int | list[int | None] | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Start new episodes in all copies.

        Args:
            seed: an int ``s`` (copy ``i`` gets ``s + i``), a list of ``num_envs`` ints or Nones, or
                None (keep the current generators; fresh random ones on the first reset).
            options: ``{"reset_mask": all-True (B,) bool}`` is accepted; partial resets are not,
                since all copies share one step counter.

        Returns:
            Observations ``(B, N, d, 3)`` and ``{"score": (B,), "_score": (B,) bool}``.
        """
        mask = (options or {}).get("reset_mask")
        if mask is not None and not np.all(mask):
            raise ValueError("partial resets are not supported: all copies of this vector env run in lockstep")
        if isinstance(seed, int | np.integer):
            super().reset(seed=int(seed))
            seeds: list[int | None] = [int(seed) + i for i in range(self.num_envs)]
        elif seed is None:
            seeds = [None] * self.num_envs
        else:
            seeds = list(seed)
            if len(seeds) != self.num_envs:
                raise ValueError(f"seed list must have length num_envs={self.num_envs}, got {len(seeds)}")
        old = self._rngs
        self._rngs = [seeding.np_random(s)[0] if s is not None or old is None else old[i] for i, s in enumerate(seeds)]
        return self._reset_all()

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        """Run one experiment per copy (or autoreset, see the module docstring).

        Args:
            actions: ``(B, d, 2)``; validated as in the single env.

        Returns:
            ``(obs (B, N, d, 3), rewards (B,) float64, terminated (B,) bool, truncated (B,) bool, info)``.
        """
        if not self._started:
            raise RuntimeError("call reset() before step()")
        false = np.zeros(self.num_envs, dtype=bool)
        if self._needs_reset:
            obs, info = self._reset_all()
            return obs, np.zeros(self.num_envs), false, false.copy(), info
        actions = as_action_array(actions, self.action_space.shape)
        rewards = self._core.step(self._rngs, actions)
        terminated = np.full(self.num_envs, self._core.terminated)
        truncated = np.full(
            self.num_envs, self.max_episode_steps is not None and self._core.t >= self.max_episode_steps
        )
        self._needs_reset = bool(terminated[0] or truncated[0])
        return self._core.history.copy(), rewards, terminated, truncated, self._info()

    def render(self) -> tuple[Any, ...] | None:
        """One frame per copy (text for ``"ansi"``, an RGB array for ``"rgb_array"``)."""
        if self.render_mode is None:
            return None
        render = render_ansi if self.render_mode == "ansi" else render_rgb_array
        probs, adj = self.edge_probabilities(), self.true_adjacency
        return tuple(
            render(probs[b], adj[b], t=self._core.t, budget=self.config.budget, score=float(self._core.score[b]))
            for b in range(self.num_envs)
        )

    @property
    def true_adjacency(self) -> np.ndarray:
        """``(B, d, d)`` bool hidden graphs of the current episodes."""
        return self._core.adjacency.copy()

    def edge_probabilities(self) -> np.ndarray:
        """``(B, d, d)`` float64 edge probabilities ``q(A | h_t)`` of the reward model."""
        return self._core.probs.copy()

    @property
    def score(self) -> np.ndarray:
        """``(B,)`` scores ``S(h_t)``."""
        return self._core.score.copy()

    def lookahead_scores(self, history: np.ndarray, actions: np.ndarray, seeds: np.ndarray) -> np.ndarray:
        """**Privileged**: ``(B, C)`` scores of the current histories each extended by one experiment per candidate
        ``actions`` ``(B, C, d, 2)``, simulated on the hidden models with noise from ``default_rng(seeds[b])``
        (``seeds`` ``(B,)``; the same for all candidates of a copy). For headroom references and training-time
        teachers (:class:`~caasl_gym.evaluation.probe.PrivilegedProbe`), never for a design method; the
        episodes (history, generators, score) are left as they are.

        Args:
            history: ``(B, N, d, 3)`` the observation the candidates extend; it must be the current one, so a
                caller cannot score candidates against another env's episodes by mistake.

        Raises:
            ValueError: ``history`` is not the current observation, or the shapes are wrong.
        """
        history = np.asarray(history)
        if history.shape != self._core.history.shape or not np.array_equal(history, self._core.history):
            raise ValueError("history is not this env's current observation (score candidates of the env you step)")
        return self._core.lookahead_scores(actions, seeds)

    def _reset_all(self) -> tuple[np.ndarray, dict[str, Any]]:
        self._core.reset(self._rngs)
        self._needs_reset, self._started = False, True
        return self._core.history.copy(), self._info()

    def _info(self) -> dict[str, Any]:
        return {"score": self._core.score.copy(), "_score": np.ones(self.num_envs, dtype=bool)}
