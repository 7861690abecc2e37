"""REDQ: Randomized Ensembled Double Q-learning on top of SB3's SAC."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any, ClassVar, Literal, TypeVar

import torch as th
from stable_baselines3.common.buffers import ReplayBuffer
from stable_baselines3.common.noise import ActionNoise
from stable_baselines3.common.policies import BasePolicy
from stable_baselines3.common.type_aliases import GymEnv, Schedule
from stable_baselines3.common.utils import FloatSchedule, polyak_update, update_learning_rate
from stable_baselines3.sac import SAC

from caasl_agents.redq.policies import EnsembleCritic, MlpPolicy, TransformerPolicy

SelfREDQ = TypeVar("SelfREDQ", bound="REDQ")


class REDQ(SAC):
    """
    Randomized Ensembled Double Q-learning (REDQ), a SAC variant with an ensemble of ``N`` critics.
    Paper: https://arxiv.org/abs/2101.05982 (Chen, Wang, Zhou, Ross, ICLR 2021);
    original implementation: https://github.com/watchernyu/REDQ.
    Used by CAASL (https://arxiv.org/abs/2405.16718) to train design policies.

    Per gradient step: the TD target uses the minimum over a random subset of ``M`` target critics
    (drawn without replacement, from a dedicated seeded torch generator), all ``N`` critics regress
    on it, and every ``policy_delay`` steps the actor minimises ``alpha·log pi - Q``, with ``Q`` the
    mean over all ``N`` critics (REDQ) or their minimum (official CAASL code). The update-to-data
    ratio is ``G = gradient_steps / (train_freq · n_envs)``. The entropy coefficient is learned
    (``ent_coef="auto"``) with SAC's loss, on the actor's steps. The ``N`` critics must be an
    :class:`~caasl_agents.redq.policies.EnsembleCritic` (one batched computation); set ``N`` with
    ``policy_kwargs=dict(n_critics=...)`` (default 10).

    One difference from SB3's SAC update order: the actor loss reuses the critics' observation
    encodings from the same step's critic update (the encoders depend on the observation only), so
    actor and critics are both updated against the critics as they were at the start of the step.

    Parameters are SB3's :class:`~stable_baselines3.sac.SAC`'s (gSDE excluded), plus:

    :param critic_subset_size: ``M``, the number of target critics whose minimum forms the TD
        target; ``1 <= M <= N`` (``M = N = 2`` is SAC's clipped double Q)
    :param actor_q_reduction: ``"mean"`` (REDQ) or ``"min"`` (official CAASL code) over the ``N``
        critics in the actor loss
    :param policy_delay: update the actor (and the entropy coefficient) every ``policy_delay``
        gradient steps; ``None`` = once per ``train()`` call, on its last gradient step (REDQ's
        ``policy_update_delay = G``)
    :param critic_learning_rate: learning rate (or schedule) of the critics; ``None`` = the same as
        ``learning_rate`` (which always drives the actor and the entropy coefficient)
    :param actor_warmup: gradient steps that update the critics only; the actor and the entropy
        coefficient start after them (so an actor that starts from a behaviour clone is not pulled by
        untrained critics)
    """

    policy_aliases: ClassVar[dict[str, type[BasePolicy]]] = {  # type: ignore[assignment]
        "MlpPolicy": MlpPolicy,
        "TransformerPolicy": TransformerPolicy,
    }
    critic: EnsembleCritic  # type: ignore[assignment]
    critic_target: EnsembleCritic  # type: ignore[assignment]

    def __init__(
        self,
        policy: str | type[BasePolicy],
        env: GymEnv | str,
        learning_rate: float | Schedule = 3e-4,
        buffer_size: int = 100_000,
        learning_starts: int = 100,
        batch_size: int = 256,
        tau: float = 0.005,
        gamma: float = 0.99,
        train_freq: int | tuple[int, str] = 1,
        gradient_steps: int = 1,
        action_noise: ActionNoise | None = None,
        replay_buffer_class: type[ReplayBuffer] | None = None,
        replay_buffer_kwargs: dict[str, Any] | None = None,
        optimize_memory_usage: bool = False,
        n_steps: int = 1,
        ent_coef: str | float = "auto",
        target_update_interval: int = 1,
        target_entropy: str | float = "auto",
        critic_subset_size: int = 2,
        actor_q_reduction: Literal["mean", "min"] = "mean",
        policy_delay: int | None = 1,
        critic_learning_rate: float | Schedule | None = None,
        actor_warmup: int = 0,
        stats_window_size: int = 100,
        tensorboard_log: str | None = None,
        policy_kwargs: dict[str, Any] | None = None,
        verbose: int = 0,
        seed: int | None = None,
        device: th.device | str = "auto",
        _init_setup_model: bool = True,
    ):
        if actor_q_reduction not in ("mean", "min"):
            raise ValueError(f"actor_q_reduction must be 'mean' or 'min', got {actor_q_reduction!r}")
        if policy_delay is not None and policy_delay < 1:
            raise ValueError(f"policy_delay must be >= 1 or None, got {policy_delay}")
        if actor_warmup < 0:
            raise ValueError(f"actor_warmup must be >= 0 gradient steps, got {actor_warmup}")
        if critic_subset_size < 1:
            raise ValueError(f"critic_subset_size (M) must be >= 1, got {critic_subset_size}")
        self.critic_subset_size = critic_subset_size
        self.actor_q_reduction = actor_q_reduction
        self.policy_delay = policy_delay
        self.critic_learning_rate = critic_learning_rate
        self.actor_warmup = actor_warmup
        super().__init__(
            policy, env, learning_rate, buffer_size, learning_starts, batch_size, tau, gamma, train_freq,
            gradient_steps, action_noise, replay_buffer_class, replay_buffer_kwargs, optimize_memory_usage,
            n_steps, ent_coef, target_update_interval, target_entropy, use_sde=False,
            stats_window_size=stats_window_size, tensorboard_log=tensorboard_log, policy_kwargs=policy_kwargs,
            verbose=verbose, seed=seed, device=device, _init_setup_model=_init_setup_model,
        )  # fmt: skip

    def _setup_model(self) -> None:
        super()._setup_model()
        if not isinstance(self.critic, EnsembleCritic):
            raise TypeError(f"REDQ needs a policy with an EnsembleCritic (e.g. {list(self.policy_aliases)})")
        n_critics = self.critic.n_critics
        if not 1 <= self.critic_subset_size <= n_critics:
            raise ValueError(
                f"critic_subset_size (M={self.critic_subset_size}) must lie in [1, n_critics (N={n_critics})]"
            )
        lr = self.learning_rate if self.critic_learning_rate is None else self.critic_learning_rate
        self.critic_lr_schedule = FloatSchedule(lr)
        update_learning_rate(self.critic.optimizer, self.critic_lr_schedule(1.0))
        # The in-target subsets come from their own generator, so they are reproducible for a given
        # seed and do not shift the global torch stream (actor sampling).
        self._subset_generator = th.Generator(device="cpu")
        self._subset_generator.manual_seed(self.seed if self.seed is not None else int(th.randint(2**31, ()).item()))

    def set_random_seed(self, seed: int | None = None) -> None:
        """Seed SB3's generators (torch, numpy, action space, env) and the critic-subset generator."""
        super().set_random_seed(seed)
        if seed is not None and hasattr(self, "_subset_generator"):
            self._subset_generator.manual_seed(seed)

    def _update_learning_rate(self, optimizers: list[th.optim.Optimizer] | th.optim.Optimizer) -> None:
        """Actor and entropy coefficient follow ``lr_schedule``, the critics ``critic_lr_schedule``."""
        if not isinstance(optimizers, list):
            optimizers = [optimizers]
        critic_opt = self.critic.optimizer
        super()._update_learning_rate([opt for opt in optimizers if opt is not critic_opt])
        if any(opt is critic_opt for opt in optimizers):
            critic_lr = self.critic_lr_schedule(self._current_progress_remaining)
            update_learning_rate(critic_opt, critic_lr)
            self.logger.record("train/critic_learning_rate", critic_lr)

    def _sample_members(self) -> th.Tensor:
        """``M`` distinct critic indices, uniformly at random, on the model's device."""
        perm = th.randperm(self.critic.n_critics, generator=self._subset_generator)
        return perm[: self.critic_subset_size].to(self.device)

    def train(self, gradient_steps: int, batch_size: int = 64) -> None:
        self.policy.set_training_mode(True)
        optimizers = [self.actor.optimizer, self.critic.optimizer]
        if self.ent_coef_optimizer is not None:
            optimizers.append(self.ent_coef_optimizer)
        self._update_learning_rate(optimizers)

        actor_params = list(self.actor.parameters())
        critic_losses, actor_losses, ent_coefs, ent_coef_losses, q_means = [], [], [], [], []
        for step in range(gradient_steps):
            n_update = self._n_updates + step
            replay_data = self.replay_buffer.sample(batch_size, env=self._vec_normalize_env)  # type: ignore[union-attr]
            discounts = replay_data.discounts if replay_data.discounts is not None else self.gamma
            if self.log_ent_coef is not None:
                ent_coef = th.exp(self.log_ent_coef.detach())
            else:
                ent_coef = self.ent_coef_tensor
            ent_coefs.append(ent_coef)

            with th.no_grad():
                next_actions, next_log_prob = self.actor.action_log_prob(replay_data.next_observations)
                members = self._sample_members()
                next_q = self.critic_target(replay_data.next_observations, next_actions, members)  # (B, M)
                next_q = next_q.amin(dim=1, keepdim=True) - ent_coef * next_log_prob.reshape(-1, 1)
                target_q = replay_data.rewards + (1 - replay_data.dones) * discounts * next_q  # (B, 1)

            features = self.critic.encode(replay_data.observations)
            current_q = self.critic.q_values(features, replay_data.actions)  # (B, N)
            # Sum over critics of each critic's MSE (as SAC's 0.5 · sum): every critic gets its own gradient.
            critic_loss = 0.5 * (current_q - target_q).square().mean(dim=0).sum()
            critic_losses.append(critic_loss.detach())
            q_means.append(current_q.detach().mean())
            self.critic.optimizer.zero_grad()
            critic_loss.backward()

            if self.policy_delay is None:
                update_actor = step == gradient_steps - 1
            else:
                update_actor = (n_update + 1) % self.policy_delay == 0
            if update_actor and n_update >= self.actor_warmup:
                actions_pi, log_prob = self.actor.action_log_prob(replay_data.observations)
                log_prob = log_prob.reshape(-1, 1)
                q_pi = self.critic.q_values(features.detach(), actions_pi)  # (B, N)
                if self.actor_q_reduction == "mean":
                    q_pi = q_pi.mean(dim=1, keepdim=True)
                else:
                    q_pi = q_pi.amin(dim=1, keepdim=True)
                actor_loss = (ent_coef * log_prob - q_pi).mean()
                actor_losses.append(actor_loss.detach())
                self.actor.optimizer.zero_grad()
                actor_loss.backward(inputs=actor_params)  # no gradient into the critics
                self.actor.optimizer.step()
                if self.ent_coef_optimizer is not None and self.log_ent_coef is not None:
                    assert isinstance(self.target_entropy, float)
                    ent_coef_loss = -(self.log_ent_coef * (log_prob.detach() + self.target_entropy)).mean()
                    ent_coef_losses.append(ent_coef_loss.detach())
                    self.ent_coef_optimizer.zero_grad()
                    ent_coef_loss.backward()
                    self.ent_coef_optimizer.step()

            self.critic.optimizer.step()
            if n_update % self.target_update_interval == 0:
                polyak_update(self.critic.parameters(), self.critic_target.parameters(), self.tau)

        self._n_updates += gradient_steps
        self.logger.record("train/n_updates", self._n_updates, exclude="tensorboard")
        if gradient_steps > 0:
            self.logger.record("train/ent_coef", _mean(ent_coefs))
            self.logger.record("train/critic_loss", _mean(critic_losses))
            self.logger.record("train/q_mean", _mean(q_means))
        if actor_losses:
            self.logger.record("train/actor_loss", _mean(actor_losses))
        if ent_coef_losses:
            self.logger.record("train/ent_coef_loss", _mean(ent_coef_losses))

    def _excluded_save_params(self) -> list[str]:
        return [*super()._excluded_save_params(), "_subset_generator"]

    def save(self, path: str | os.PathLike | io.BufferedIOBase, *args: Any, **kwargs: Any) -> None:
        """SB3's ``save``; a :class:`TransformerPolicy`'s design settings (``deterministic_design``,
        ``zero_shot_rate``), which can be changed on a loaded policy, are saved as they are now."""
        if isinstance(self.policy, TransformerPolicy):
            self.policy_kwargs = {**self.policy_kwargs, **self.policy.design_settings()}
        super().save(path, *args, **kwargs)

    @classmethod
    def load(  # type: ignore[override]
        cls: type[SelfREDQ],
        path: str | os.PathLike | io.BufferedIOBase,
        env: GymEnv | None = None,
        device: th.device | str = "auto",
        custom_objects: dict[str, Any] | None = None,
        print_system_info: bool = False,
        force_reset: bool = True,
        **kwargs: Any,
    ) -> SelfREDQ:
        """Load a model saved by :meth:`save` (SB3's ``load``, with errors that name the file and the fix).

        :raises FileNotFoundError: no such file
        :raises ValueError: the file's parameters do not fit the architecture recorded in it (e.g. a zip
            written by another version of the networks)
        """
        if isinstance(path, (str, os.PathLike)) and not Path(path).is_file() and not Path(f"{path}.zip").is_file():
            raise FileNotFoundError(f"{path}: no such policy file; {_MAKES_A_POLICY}")
        try:
            return super().load(path, env, device, custom_objects, print_system_info, force_reset, **kwargs)
        except RuntimeError as err:
            if "state_dict" not in str(err):
                raise
            lines = [line.strip() for line in str(err).splitlines()[1:] if line.strip()]
            first = lines[0] if lines else str(err)
            more = f" (and {len(lines) - 1} more)" if len(lines) > 1 else ""
            raise ValueError(
                f"{path}: its parameters do not fit the network architecture recorded in it: {first}{more}. "
                f"Expected a REDQ policy zip saved by this version of caasl_agents; {_MAKES_A_POLICY}"
            ) from None


_MAKES_A_POLICY = (
    "python -m caasl_agents.train writes one (<run>/model.zip, <run>/checkpoints/model_<steps>_steps.zip), "
    "python -m caasl_agents.pretrained.export RUN --out DIR ships one with its sidecar"
)


def _mean(values: list[th.Tensor]) -> float:
    """Mean of scalar tensors with one device synchronisation."""
    return float(th.stack([v.reshape(()) for v in values]).mean().item())
