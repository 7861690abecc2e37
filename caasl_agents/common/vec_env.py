"""An SB3 ``VecEnv`` over a Gymnasium ``VectorEnv``, e.g. a natively batched ``caasl_gym`` env.

SB3 does not accept Gymnasium vector envs: its ``VecEnv`` API returns ``(obs, rewards, dones,
infos)`` with one info dict per copy, resets a finished copy in the same step and stores its last
observation in ``infos[i]["terminal_observation"]``. Gymnasium 1.x vector envs return dict-of-array
infos and, by default, reset on the *next* step. :class:`VectorEnvAdapter` translates, so that one
SB3 step is one call of the batched simulator and one call of the batched reward model.

Autoreset modes of the wrapped env:

* ``SAME_STEP``: the final observations come from ``info["final_obs"]``;
* ``NEXT_STEP`` (Gymnasium's default) and ``DISABLED``: when *every* copy is done (``caasl_gym``
  episodes all end after exactly ``budget`` steps) the adapter resets the whole batch at once;
  with ``DISABLED``, copies that finish alone are reset with ``options={"reset_mask": ...}``.
  ``NEXT_STEP`` envs whose copies finish at different steps are not supported.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv
from stable_baselines3.common.vec_env import VecEnv, VecMonitor
from stable_baselines3.common.vec_env.base_vec_env import VecEnvIndices, VecEnvStepReturn


class VectorEnvAdapter(VecEnv):
    """Expose a Gymnasium :class:`~gymnasium.vector.VectorEnv` as an SB3 :class:`VecEnv`.

    Attribute and method access (``get_attr``, ``set_attr``, ``env_method``) goes to the vector env
    itself (one object for the whole batch), or to its sub-envs when it has them (``SyncVectorEnv``).

    :param vector_env: the Gymnasium vector env (all copies share one observation/action space)
    """

    def __init__(self, vector_env: VectorEnv):
        self.venv = vector_env
        mode = vector_env.metadata.get("autoreset_mode", AutoresetMode.NEXT_STEP)
        self.autoreset_mode = mode if isinstance(mode, AutoresetMode) else AutoresetMode(mode)
        self._actions: np.ndarray | None = None
        super().__init__(vector_env.num_envs, vector_env.single_observation_space, vector_env.single_action_space)

    # -- stepping -----------------------------------------------------------------------------
    def reset(self) -> np.ndarray:
        obs, info = self.venv.reset(seed=self._seed_argument(), options=self._options[0] or None)
        self.reset_infos = self._split_infos(info)
        self._reset_seeds()
        self._reset_options()
        return obs

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = np.asarray(actions)

    def step_wait(self) -> VecEnvStepReturn:
        assert self._actions is not None, "step_async must be called before step_wait"
        obs, rewards, terminated, truncated, info = self.venv.step(self._actions)
        self._actions = None
        terminated, truncated = np.asarray(terminated, bool), np.asarray(truncated, bool)
        dones = terminated | truncated
        final_obs, final_info = info.pop("final_obs", None), info.pop("final_info", None)
        info.pop("_final_obs", None), info.pop("_final_info", None)
        infos = self._split_infos(info)
        if dones.any():
            if self.autoreset_mode == AutoresetMode.SAME_STEP:
                assert final_obs is not None, "a SAME_STEP vector env must return info['final_obs']"
                terminal = final_obs
                if final_info is not None:
                    for i, sub in enumerate(self._split_infos(final_info)):
                        if dones[i]:
                            infos[i] = {**infos[i], **sub}
            elif dones.all():
                terminal = obs
                obs, reset_info = self.venv.reset()
                self.reset_infos = self._split_infos(reset_info)
            elif self.autoreset_mode == AutoresetMode.DISABLED:
                terminal = obs.copy()
                reset_obs, reset_info = self.venv.reset(options={"reset_mask": dones})
                obs = np.where(dones.reshape((-1,) + (1,) * (obs.ndim - 1)), reset_obs, obs)
                for i, sub in enumerate(self._split_infos(reset_info)):
                    if dones[i]:
                        self.reset_infos[i] = sub
            else:
                raise RuntimeError(
                    "VectorEnvAdapter: some copies finished before others under autoreset_mode NEXT_STEP; "
                    "use SAME_STEP or DISABLED for episodes of different lengths"
                )
            for i in np.flatnonzero(dones):
                infos[i]["terminal_observation"] = np.array(terminal[i], copy=True)
                infos[i]["TimeLimit.truncated"] = bool(truncated[i] and not terminated[i])
        return obs, np.asarray(rewards, dtype=np.float32), dones, infos

    def close(self) -> None:
        self.venv.close()

    # -- attributes -----------------------------------------------------------------------------
    def get_attr(self, attr_name: str, indices: VecEnvIndices = None) -> list[Any]:
        idx = self._get_indices(indices)
        if hasattr(self.venv, "envs"):  # SyncVectorEnv: ask the sub-envs
            values = self.venv.get_attr(attr_name)  # type: ignore[attr-defined]
            return [values[i] for i in idx]
        return [getattr(self.venv, attr_name)] * len(list(idx))

    def set_attr(self, attr_name: str, value: Any, indices: VecEnvIndices = None) -> None:
        if hasattr(self.venv, "envs"):
            for i in self._get_indices(indices):
                setattr(self.venv.envs[i], attr_name, value)  # type: ignore[attr-defined]
        else:
            setattr(self.venv, attr_name, value)

    def env_method(
        self, method_name: str, *method_args: Any, indices: VecEnvIndices = None, **method_kwargs: Any
    ) -> list[Any]:
        idx = list(self._get_indices(indices))
        if hasattr(self.venv, "envs"):
            envs = self.venv.envs  # type: ignore[attr-defined]
            return [getattr(envs[i], method_name)(*method_args, **method_kwargs) for i in idx]
        result = getattr(self.venv, method_name)(*method_args, **method_kwargs)
        return [result] * len(idx)

    def env_is_wrapped(self, wrapper_class: type[gym.Wrapper], indices: VecEnvIndices = None) -> list[bool]:
        return [False] * len(list(self._get_indices(indices)))

    def get_images(self) -> Sequence[np.ndarray | None]:
        return [None] * self.num_envs

    # -- helpers --------------------------------------------------------------------------------
    def _seed_argument(self) -> int | list[int | None] | None:
        """SB3's per-copy seeds as Gymnasium expects them (an int when they are ``s, s+1, ...``)."""
        seeds = self._seeds
        if all(s is None for s in seeds):
            return None
        if all(s is not None for s in seeds) and list(seeds) == list(range(seeds[0], seeds[0] + len(seeds))):  # type: ignore[arg-type]
            return seeds[0]
        return list(seeds)

    def _split_infos(self, info: dict[str, Any]) -> list[dict[str, Any]]:
        """Gymnasium's dict of arrays (with ``"_key"`` masks) to one dict per copy."""
        out: list[dict[str, Any]] = [{} for _ in range(self.num_envs)]
        for key, value in info.items():
            if key.startswith("_"):
                continue
            mask = info.get(f"_{key}", np.ones(self.num_envs, dtype=bool))
            parts = self._split_infos(value) if isinstance(value, dict) else value
            for i in np.flatnonzero(mask):
                out[i][key] = parts[i]
        return out


def make_vec_env(
    env_id: str,
    n_envs: int,
    seed: int | None = None,
    env_kwargs: dict[str, Any] | None = None,
    monitor: bool = True,
) -> VecEnv:
    """An SB3 ``VecEnv`` of ``n_envs`` copies of a registered Gymnasium id.

    Uses the id's natively batched ``vector_entry_point`` when it has one (one simulator call and
    one reward-model call per step for all copies), else ``SyncVectorEnv``.

    :param env_id: a registered id (``import caasl_gym`` registers its ids); ``"module:Id"`` also works
    :param n_envs: number of copies
    :param seed: seed of the first reset (``seed`` for the batch, i.e. copies ``seed, seed+1, ...``)
    :param env_kwargs: kwargs for ``gym.make_vec`` / the env constructor (e.g. ``{"num_nodes": 5}``)
    :param monitor: wrap in SB3's :class:`VecMonitor` (episode returns and lengths for the logger)
    :return: the SB3 vector env
    """
    venv = gym.make_vec(env_id, num_envs=n_envs, **(env_kwargs or {}))
    env: VecEnv = VectorEnvAdapter(venv)
    if seed is not None:
        env.seed(seed)
    return VecMonitor(env) if monitor else env
