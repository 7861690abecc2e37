"""A tiny design environment with ``caasl_gym``'s layout, for tests and benchmarks of the agents.

Importing this module registers ``caasl_agents/ToyDesign-v0`` (``gym.make`` also accepts
``"caasl_agents.common.envs:caasl_agents/ToyDesign-v0"``, which imports it first).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

TOY_ENV_ID = "caasl_agents/ToyDesign-v0"


class ToyDesignEnv(gym.Env):
    """Learnable stand-in for a ``caasl_gym`` design env (same observation and action layout).

    Observation ``(N, d, 3)`` with ``N = n_initial + budget``: channel 0 values, channel 1 the
    intervention indicator, channel 2 one for filled rows. Action ``(d, 2)`` in ``[-1, 1]``:
    variable ``i`` is targeted iff ``a[i, 0] > 0``, with value ``a[i, 1]``. Each step appends one row
    (``N(0, 1)`` values, targets clamped to their value) and pays, per target, ``|value|`` the first
    time the variable is targeted and ``-0.5`` afterwards. So the optimal return is ``d`` (target all
    variables at value ±1 once, then nothing), a random policy earns about ``0.1·d`` at
    ``budget = 3``, and doing well needs the intervention history (channel 1). Episodes terminate
    after exactly ``budget`` steps. ``info["score"]`` is the reward collected so far, so rewards are
    score increments as in ``caasl_gym`` (``S(h_0) = 0``).

    :param num_nodes: number of variables ``d``
    :param n_initial: observational rows at reset
    :param budget: steps per episode ``T``
    :param render_mode: unused, accepted for SB3 / Gymnasium
    """

    metadata: dict[str, Any] = {"render_modes": []}  # noqa: RUF012

    def __init__(self, num_nodes: int = 3, n_initial: int = 2, budget: int = 3, render_mode: str | None = None):
        self.num_nodes, self.n_initial, self.budget = num_nodes, n_initial, budget
        self.render_mode = render_mode
        n_rows = n_initial + budget
        self.observation_space = spaces.Box(-10.0, 10.0, (n_rows, num_nodes, 3), np.float32)
        self.action_space = spaces.Box(-1.0, 1.0, (num_nodes, 2), np.float32)
        self._history = np.zeros((n_rows, num_nodes, 3), np.float32)
        self._tried = np.zeros(num_nodes, bool)
        self._t, self._score = 0, 0.0

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        self._history[:] = 0.0
        self._history[: self.n_initial, :, 0] = self.np_random.normal(size=(self.n_initial, self.num_nodes))
        self._history[: self.n_initial, :, 2] = 1.0
        self._tried[:] = False
        self._t, self._score = 0, 0.0
        return self._history.copy(), {"score": 0.0}

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict]:
        action = np.clip(np.asarray(action, np.float32).reshape(self.num_nodes, 2), -1.0, 1.0)
        targets, values = action[:, 0] > 0, action[:, 1]
        reward = float(np.sum(np.where(self._tried, -0.5, np.abs(values))[targets]))
        self._tried |= targets
        row = self.n_initial + self._t
        self._history[row, :, 0] = np.where(targets, values, self.np_random.normal(size=self.num_nodes))
        self._history[row, :, 1] = targets
        self._history[row, :, 2] = 1.0
        self._t += 1
        self._score += reward
        return self._history.copy(), reward, self._t >= self.budget, False, {"score": self._score}


if TOY_ENV_ID not in gym.registry:
    gym.register(TOY_ENV_ID, entry_point=ToyDesignEnv)
