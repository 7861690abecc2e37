"""Policies for :class:`~caasl_agents.redq.redq.REDQ`: SAC actors with batched critic ensembles.

* :class:`REDQPolicy` (alias ``"MlpPolicy"``): SB3's SAC actor and an ensemble of MLP critics on
  flattened observations (generic; e.g. for sanity checks on standard control tasks).
* :class:`TransformerPolicy` (alias ``"TransformerPolicy"``): the CAASL networks. An alternating
  attention encoder gives per-variable embeddings; the actor applies one shared MLP per variable
  (Gaussian-tanh mean and log std of that variable's action row), and each critic is
  ``Q(s, a) = sum_j MLP([e_j, a_j])``. No weight depends on ``d``, so a policy trained at one ``d``
  runs at any other (see :func:`~caasl_agents.redq.predict.predict_any_d`).

In both, the ``N`` critics are one :class:`EnsembleCritic`: stacked parameters evaluated in one
batched computation, with ``members`` selecting a subset (REDQ's in-target minimisation).
"""

from __future__ import annotations

import math
from typing import Any, Literal

import torch as th
from gymnasium import spaces
from stable_baselines3.common.policies import BaseModel
from stable_baselines3.common.preprocessing import get_action_dim
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor, FlattenExtractor
from stable_baselines3.common.type_aliases import PyTorchObs, Schedule
from stable_baselines3.sac.policies import LOG_STD_MAX, LOG_STD_MIN, Actor, SACPolicy
from torch import nn

from caasl_agents.common.torch_layers import AlternatingAttentionEncoder, EnsembleMLP, TransformerExtractor
from caasl_agents.redq.designs import (
    check_deterministic_design,
    check_zero_shot_targets,
    deterministic_action,
    rescale_target_rate,
    shuffled_action,
    target_counts,
    uniform_target_rate,
)

CriticEncoder = Literal["separate", "shared"]
ZERO_SHOT_RATE = 0.5
"""Default target rate of a :class:`TransformerActor` at a ``d`` it was not trained on (Random's rate)."""


def check_zero_shot_rate(rate: float | None) -> float | None:
    """Return ``rate`` if it is ``None`` or in ``(0, 1)``, else raise ``ValueError``."""
    if rate is not None and not (isinstance(rate, (int, float)) and 0.0 < rate < 1.0):
        raise ValueError(f"zero_shot_rate must be None (keep the policy's own rate) or in (0, 1), got {rate!r}")
    return None if rate is None else float(rate)


TRANSFORMER_LOG_STD_INIT = math.log(math.sqrt(1.0 / 3.0))
"""Initial log std of the per-variable heads: std sqrt(1/3), as in the official CAASL code."""


class EnsembleCritic(BaseModel):
    """``n_critics`` Q-functions evaluated in one batched computation.

    Subclasses implement :meth:`encode` (observations to features, with a leading member axis of
    size ``E'`` when every critic has its own encoder, else 1) and :meth:`q_values`. Q-values are
    returned as one tensor ``(B, E')``, not SB3's tuple of ``(B, 1)`` tensors.
    """

    n_critics: int
    q_heads: EnsembleMLP
    members_own_encoder: bool = False
    """True when every member has its own encoder (then ``encode`` depends on ``members``)."""

    def encode(self, obs: th.Tensor, members: th.Tensor | None = None) -> th.Tensor:
        """Features of ``obs`` with a leading member axis (``E'`` or 1)."""
        raise NotImplementedError

    def q_values(self, features: th.Tensor, actions: th.Tensor, members: th.Tensor | None = None) -> th.Tensor:
        """Q-values ``(B, E')`` from :meth:`encode`'s features and flat actions ``(B, action_dim)``."""
        raise NotImplementedError

    def forward(self, obs: th.Tensor, actions: th.Tensor, members: th.Tensor | None = None) -> th.Tensor:
        """
        :param obs: a batch of observations ``(B, ...)``
        :param actions: flat actions ``(B, action_dim)`` in ``[-1, 1]``
        :param members: indices of the critics to evaluate (``E'`` of them), all when ``None``
        :return: Q-values ``(B, E')``
        """
        return self.q_values(self.encode(obs, members), actions, members)

    # Reference implementations with a Python loop over critics: numerically the same as the batched
    # methods (up to float rounding); used by the tests and by benchmarks/agents_speed.py. They call the
    # class's batched methods one member at a time, so they may also replace them on an instance.
    def _member_ids(self, members: th.Tensor | None) -> th.Tensor:
        device = self.q_heads.layers[0].weight.device
        return th.arange(self.n_critics, device=device) if members is None else members

    def encode_looped(self, obs: th.Tensor, members: th.Tensor | None = None) -> th.Tensor:
        """:meth:`encode`, one critic at a time."""
        encode = type(self).encode
        if not self.members_own_encoder:
            return encode(self, obs, members)
        return th.cat([encode(self, obs, idx) for idx in self._member_ids(members).split(1)])

    def q_values_looped(self, features: th.Tensor, actions: th.Tensor, members: th.Tensor | None = None) -> th.Tensor:
        """:meth:`q_values`, one critic at a time."""
        columns = []
        for k, idx in enumerate(self._member_ids(members).split(1)):
            feats = features[k : k + 1] if features.shape[0] > 1 else features
            columns.append(type(self).q_values(self, feats, actions, idx))
        return th.cat(columns, dim=1)

    def forward_looped(self, obs: th.Tensor, actions: th.Tensor, members: th.Tensor | None = None) -> th.Tensor:
        """:meth:`forward`, one critic at a time."""
        return self.q_values_looped(self.encode_looped(obs, members), actions, members)


class MlpEnsembleCritic(EnsembleCritic):
    """Ensemble of MLP critics on ``[features, action]`` (features from one shared extractor).

    :param observation_space: observation space
    :param action_space: action space (Box)
    :param net_arch: hidden widths of every critic
    :param features_extractor: extractor shared by the critics (trained by the critic loss unless
        it is the actor's, see ``share_features_extractor``)
    :param features_dim: width of the extractor output
    :param activation_fn: activation class
    :param normalize_images: whether SB3 divides image observations by 255
    :param n_critics: number of critics ``N``
    :param share_features_extractor: the extractor is the actor's: no critic gradient flows into it
    """

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Box,
        net_arch: list[int],
        features_extractor: BaseFeaturesExtractor,
        features_dim: int,
        activation_fn: type[nn.Module] = nn.ReLU,
        normalize_images: bool = True,
        n_critics: int = 10,
        share_features_extractor: bool = False,
    ):
        super().__init__(
            observation_space,
            action_space,
            features_extractor=features_extractor,
            normalize_images=normalize_images,
        )
        self.n_critics = n_critics
        self.share_features_extractor = share_features_extractor
        action_dim = get_action_dim(action_space)
        self.q_heads = EnsembleMLP(n_critics, features_dim + action_dim, 1, net_arch, activation_fn)

    def encode(self, obs: th.Tensor, members: th.Tensor | None = None) -> th.Tensor:
        """:return: ``(1, B, features_dim)``"""
        with th.set_grad_enabled(th.is_grad_enabled() and not self.share_features_extractor):
            return self.extract_features(obs, self.features_extractor).unsqueeze(0)

    def q_values(self, features: th.Tensor, actions: th.Tensor, members: th.Tensor | None = None) -> th.Tensor:
        """:return: ``(B, E')``"""
        inputs = th.cat([features, actions.unsqueeze(0).expand(features.shape[0], -1, -1)], dim=-1)
        return self.q_heads(inputs, members).squeeze(-1).transpose(0, 1)  # (E', B, 1) -> (B, E')


class TransformerEnsembleCritic(EnsembleCritic):
    """Ensemble of per-variable critics ``Q_i(s, a) = sum_j MLP_i([e_ij, a_j])``.

    ``e_ij`` is variable ``j``'s embedding from critic ``i``'s encoder. Where the encoder comes from:

    * ``critic_encoder="separate"`` (paper): every critic has its own encoder; the ``N`` encoders run
      as one batched computation;
    * ``critic_encoder="shared"``: one encoder (trained by the critic loss) feeds ``N`` heads, about
      ``N`` times cheaper;
    * ``share_features_extractor=True``: the actor's extractor feeds the heads, without critic
      gradients (SB3's semantics).

    :param observation_space: Box ``(N, d, 3)``
    :param action_space: Box ``(d, k)``
    :param net_arch: hidden widths of every per-variable head
    :param features_extractor: the actor's extractor when ``share_features_extractor``, else None
    :param features_dim: embedding width
    :param activation_fn: activation class of the heads
    :param normalize_images: unused (observations are not images)
    :param n_critics: number of critics ``N``
    :param share_features_extractor: use the actor's extractor (no critic gradient into it)
    :param critic_encoder: ``"separate"`` or ``"shared"`` (ignored with ``share_features_extractor``)
    :param encoder_kwargs: :class:`AlternatingAttentionEncoder` kwargs for the critic's own encoder(s)
    :param pooled: add a whole-design term ``MLP'_i(mean_j [e_ij, a_j])`` to every critic, so a Q-value can
        depend on the design as a whole (e.g. on how many variables it targets), not only through a sum of
        per-variable terms
    """

    def __init__(
        self,
        observation_space: spaces.Box,
        action_space: spaces.Box,
        net_arch: list[int],
        features_extractor: BaseFeaturesExtractor | None,
        features_dim: int,
        activation_fn: type[nn.Module] = nn.ReLU,
        normalize_images: bool = False,
        n_critics: int = 10,
        share_features_extractor: bool = False,
        critic_encoder: CriticEncoder = "separate",
        encoder_kwargs: dict[str, Any] | None = None,
        pooled: bool = False,
    ):
        super().__init__(
            observation_space,
            action_space,
            features_extractor=features_extractor,
            normalize_images=normalize_images,
        )
        self.n_critics = n_critics
        self.share_features_extractor = share_features_extractor
        self.critic_encoder = critic_encoder
        self.action_width = int(action_space.shape[-1])
        self.encoder: AlternatingAttentionEncoder | None = None
        if share_features_extractor:
            if features_extractor is None:
                raise ValueError("share_features_extractor=True needs the actor's features extractor")
        else:
            n_encoders = n_critics if critic_encoder == "separate" else 1
            self.encoder = AlternatingAttentionEncoder(**(encoder_kwargs or {}), n_members=n_encoders)
            features_dim = self.encoder.embed_dim
        self.members_own_encoder = self.encoder is not None and self.encoder.n_members > 1
        self.q_heads = EnsembleMLP(n_critics, features_dim + self.action_width, 1, net_arch, activation_fn)
        self.pool_heads = (
            EnsembleMLP(n_critics, features_dim + self.action_width, 1, net_arch, activation_fn) if pooled else None
        )

    def encode(self, obs: th.Tensor, members: th.Tensor | None = None) -> th.Tensor:
        """:return: ``(E', B, d, D)`` with separate encoders, else ``(1, B, d, D)``"""
        if self.encoder is None:
            with th.no_grad():
                return self.extract_features(obs, self.features_extractor).unsqueeze(0)
        if self.members_own_encoder:
            return self.encoder(obs, members)
        return self.encoder(obs)

    def q_values(self, features: th.Tensor, actions: th.Tensor, members: th.Tensor | None = None) -> th.Tensor:
        """
        :param features: ``(E' or 1, B, d, D)``
        :param actions: ``(B, d·k)``, row-major flattening of ``(B, d, k)``
        :param members: indices of the critics to evaluate, all when ``None``
        :return: ``(B, E')``
        """
        n_sel = self.n_critics if members is None else members.shape[0]
        _, batch, d, _ = features.shape
        per_var_actions = actions.reshape(1, batch, d, self.action_width).expand(n_sel, -1, -1, -1)
        inputs = th.cat([features.expand(n_sel, -1, -1, -1), per_var_actions], dim=-1)  # (E', B, d, D+k)
        q = self.q_heads(inputs, members).squeeze(-1).sum(dim=-1)  # (E', B)
        if self.pool_heads is not None:
            q = q + self.pool_heads(inputs.mean(dim=2), members).squeeze(-1)  # the whole design, (E', B)
        return q.transpose(0, 1)  # (B, E')


class TransformerActor(Actor):
    """SAC actor with one Gaussian-tanh head shared by all variables.

    The extractor gives per-variable embeddings ``(B, d, D)``; the same MLP maps each to the mean
    and log std of that variable's ``k`` action entries, flattened row-major to ``(B, d·k)`` (SB3's
    layout of a ``(d, k)`` Box). Log std is clamped to ``[LOG_STD_MIN, LOG_STD_MAX]`` = ``[-20, 2]``.

    Same parameters as SB3's :class:`~stable_baselines3.sac.policies.Actor`; ``log_std_init`` is the
    initial bias of the log-std head, and gSDE is not supported. ``deterministic_design`` is the rule of
    ``forward(obs, deterministic=True)`` (:mod:`caasl_agents.redq.designs`): by default ``round(sum p_i)``
    targets, the likeliest ones discounted by how often the history already targeted them (``"coverage"``),
    so the deterministic action is a design the policy would sample, not SB3's ``tanh(mean)`` (``"mean"``),
    which targets nothing when every ``p_i < 1/2``.

    ``zero_shot_rate`` is the target rate at a number of variables ``d`` other than the training one (the
    observation space's): the target probabilities are rescaled to sum to ``zero_shot_rate * d``, keeping
    their order (:func:`~caasl_agents.redq.designs.rescale_target_rate`), for sampled and deterministic designs
    alike; ``None`` keeps the policy's own rate. ``zero_shot_targets="uniform"`` gives every variable that
    rate instead (:func:`~caasl_agents.redq.designs.uniform_target_rate`; the policy's own mean rate when
    ``zero_shot_rate`` is ``None``) and keeps the policy's values, and its deterministic design is then
    :func:`~caasl_agents.redq.designs.shuffled_action`; the default ``"policy"`` keeps the order of its
    preferences. At the training ``d`` nothing changes.
    """

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Box,
        net_arch: list[int],
        features_extractor: nn.Module,
        features_dim: int,
        activation_fn: type[nn.Module] = nn.ReLU,
        use_sde: bool = False,
        log_std_init: float = TRANSFORMER_LOG_STD_INIT,
        full_std: bool = True,
        use_expln: bool = False,
        clip_mean: float = 2.0,
        normalize_images: bool = False,
        deterministic_design: str = "coverage",
        zero_shot_rate: float | None = ZERO_SHOT_RATE,
        zero_shot_targets: str = "policy",
    ):
        if use_sde:
            raise ValueError("TransformerActor does not support gSDE (use_sde=True)")
        super().__init__(
            observation_space, action_space, net_arch, features_extractor, features_dim, activation_fn,
            use_sde, log_std_init, full_std, use_expln, clip_mean, normalize_images,
        )  # fmt: skip
        # latent_pi (built by Actor) acts on the last axis, i.e. per variable; replace the output layers.
        last_dim = net_arch[-1] if len(net_arch) > 0 else features_dim
        width = int(action_space.shape[-1])
        self.mu = nn.Linear(last_dim, width)
        self.log_std = nn.Linear(last_dim, width)
        nn.init.constant_(self.log_std.bias, log_std_init)
        self.action_width = width
        self.deterministic_design = check_deterministic_design(deterministic_design)
        self.zero_shot_rate = check_zero_shot_rate(zero_shot_rate)
        self.zero_shot_targets = check_zero_shot_targets(zero_shot_targets)
        self.train_num_nodes = int(observation_space.shape[-2])  # type: ignore[index]

    def get_action_dist_params(self, obs: PyTorchObs) -> tuple[th.Tensor, th.Tensor, dict[str, th.Tensor]]:
        """
        :param obs: ``(B, N, d, 3)`` at any ``N`` and ``d``
        :return: mean and log std, each ``(B, d·k)``, and no extra kwargs; at a ``d`` other than the training
            one, the target means are rescaled to the rate :attr:`zero_shot_rate` (unless it is ``None``), or
            set to one rate for all variables with :attr:`zero_shot_targets` ``"uniform"``
        """
        features = self.extract_features(obs, self.features_extractor)  # (B, d, D)
        latent = self.latent_pi(features)  # (B, d, hidden)
        mean = self.mu(latent).flatten(1)  # (B, d·k)
        log_std = th.clamp(self.log_std(latent), LOG_STD_MIN, LOG_STD_MAX).flatten(1)  # type: ignore[operator]
        if features.shape[1] != self.train_num_nodes:
            if self.zero_shot_targets == "uniform":
                mean = uniform_target_rate(mean, log_std, self.action_width, self.zero_shot_rate)
            elif self.zero_shot_rate is not None:
                mean = rescale_target_rate(mean, log_std, self.action_width, self.zero_shot_rate)
        return mean, log_std, {}

    def forward(self, obs: PyTorchObs, deterministic: bool = False) -> th.Tensor:
        """
        :param obs: ``(B, N, d, 3)`` at any ``N`` and ``d``
        :param deterministic: the design of rule :attr:`deterministic_design` instead of a sample
        :return: actions ``(B, d·k)`` in ``[-1, 1]``
        """
        mean, log_std, kwargs = self.get_action_dist_params(obs)
        if deterministic and self.zero_shot_targets == "uniform" and obs.shape[2] != self.train_num_nodes:
            return shuffled_action(mean, log_std, self.action_width, obs)
        if deterministic:
            counts = target_counts(obs) if self.deterministic_design == "coverage" else None  # (B, d)
            return deterministic_action(mean, log_std, self.action_width, self.deterministic_design, counts)
        return self.action_dist.actions_from_params(mean, log_std, deterministic=False, **kwargs)


class REDQPolicy(SACPolicy):
    """SAC policy with an :class:`MlpEnsembleCritic` of ``n_critics`` members (default 10).

    Parameters as SB3's :class:`~stable_baselines3.sac.policies.SACPolicy`; gSDE is not supported.

    :param n_critics: number of critics ``N``
    :param share_features_extractor: critics read the actor's extractor (no critic gradient into it)
    """

    critic: EnsembleCritic
    critic_target: EnsembleCritic

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Box,
        lr_schedule: Schedule,
        net_arch: list[int] | dict[str, list[int]] | None = None,
        activation_fn: type[nn.Module] = nn.ReLU,
        use_sde: bool = False,
        log_std_init: float = -3,
        use_expln: bool = False,
        clip_mean: float = 2.0,
        features_extractor_class: type[BaseFeaturesExtractor] = FlattenExtractor,
        features_extractor_kwargs: dict[str, Any] | None = None,
        normalize_images: bool = True,
        optimizer_class: type[th.optim.Optimizer] = th.optim.Adam,
        optimizer_kwargs: dict[str, Any] | None = None,
        n_critics: int = 10,
        share_features_extractor: bool = False,
    ):
        if use_sde:
            raise ValueError("REDQ policies do not support gSDE (use_sde=True)")
        if n_critics < 1:
            raise ValueError(f"n_critics must be >= 1, got {n_critics}")
        super().__init__(
            observation_space, action_space, lr_schedule, net_arch, activation_fn, use_sde, log_std_init,
            use_expln, clip_mean, features_extractor_class, features_extractor_kwargs, normalize_images,
            optimizer_class, optimizer_kwargs, n_critics, share_features_extractor,
        )  # fmt: skip

    def make_critic(self, features_extractor: BaseFeaturesExtractor | None = None) -> EnsembleCritic:
        critic_kwargs = self._update_features_extractor(self.critic_kwargs, features_extractor)
        return MlpEnsembleCritic(**critic_kwargs).to(self.device)

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()
        data.update(share_features_extractor=self.share_features_extractor)
        return data


class TransformerPolicy(REDQPolicy):
    """CAASL policy: :class:`TransformerActor` and a :class:`TransformerEnsembleCritic`.

    Defaults follow the official CAASL networks where that is practical (embedding 32, head MLPs
    128-128, initial std sqrt(1/3)) and are otherwise sized for CPU training (2 attention pairs
    instead of 4, 4 heads of size 8). ``features_extractor_kwargs`` configure the actor's
    :class:`TransformerExtractor` and, identically, the critics' own encoders.

    :param observation_space: Box ``(N, d, 3)``
    :param action_space: Box ``(d, k)``
    :param lr_schedule: learning-rate schedule
    :param net_arch: hidden widths of the per-variable heads, a list or ``dict(pi=..., qf=...)``
        (default ``dict(pi=[128, 128], qf=[128, 128])``)
    :param activation_fn: activation of the heads
    :param use_sde: must be False
    :param log_std_init: initial bias of the log-std head
    :param use_expln: unused (gSDE only)
    :param clip_mean: unused (gSDE only)
    :param features_extractor_class: :class:`TransformerExtractor` or a subclass
    :param features_extractor_kwargs: its kwargs (``features_dim``, ``n_layers``, ``n_heads``,
        ``ff_mult``, ``dropout``, ``value_transform``)
    :param normalize_images: unused
    :param optimizer_class: optimizer class
    :param optimizer_kwargs: optimizer kwargs besides the learning rate
    :param n_critics: number of critics ``N``
    :param share_features_extractor: critics read the actor's encoder (no critic gradient into it)
    :param critic_encoder: ``"separate"`` (one encoder per critic, as in the paper) or ``"shared"``
        (one critic encoder feeding ``N`` heads; much cheaper)
    :param deterministic_design: the rule of ``predict(obs, deterministic=True)``, one of
        :data:`~caasl_agents.redq.designs.DETERMINISTIC_DESIGNS` (default ``"coverage"``: ``round(sum p_i)``
        targets, the likeliest ones discounted by how often the history targeted them). Models saved before
        it existed load with the default; it can be changed on a loaded policy
        (``model.policy.deterministic_design = "top-k"``).
    :param critic_pooling: add a whole-design term to every critic (:class:`TransformerEnsembleCritic`'s
        ``pooled``), besides the sum of per-variable terms
    :param zero_shot_rate: the target rate at a number of variables other than the training one (default 1/2,
        Random's; ``None`` keeps the policy's own), see :class:`TransformerActor`; settable like
        ``deterministic_design``, and models saved before it existed load with the default.
    :param zero_shot_targets: ``"policy"`` (default: the policy's preferences, rescaled to that rate) or
        ``"uniform"`` (every variable at that rate, the policy's values kept) at an unseen number of variables;
        settable, and saved with the model.
    """

    def __init__(
        self,
        observation_space: spaces.Box,
        action_space: spaces.Box,
        lr_schedule: Schedule,
        net_arch: list[int] | dict[str, list[int]] | None = None,
        activation_fn: type[nn.Module] = nn.ReLU,
        use_sde: bool = False,
        log_std_init: float = TRANSFORMER_LOG_STD_INIT,
        use_expln: bool = False,
        clip_mean: float = 2.0,
        features_extractor_class: type[BaseFeaturesExtractor] = TransformerExtractor,
        features_extractor_kwargs: dict[str, Any] | None = None,
        normalize_images: bool = False,
        optimizer_class: type[th.optim.Optimizer] = th.optim.Adam,
        optimizer_kwargs: dict[str, Any] | None = None,
        n_critics: int = 10,
        share_features_extractor: bool = False,
        critic_encoder: CriticEncoder = "separate",
        deterministic_design: str = "coverage",
        zero_shot_rate: float | None = ZERO_SHOT_RATE,
        critic_pooling: bool = False,
        zero_shot_targets: str = "policy",
    ):
        if critic_encoder not in ("separate", "shared"):
            raise ValueError(f"critic_encoder must be 'separate' or 'shared', got {critic_encoder!r}")
        if not issubclass(features_extractor_class, TransformerExtractor):
            raise TypeError("TransformerPolicy needs a TransformerExtractor (sub)class as features extractor")
        self.critic_encoder = critic_encoder  # read by make_critic, which SACPolicy.__init__ calls
        self.critic_pooling = bool(critic_pooling)
        self._deterministic_design = check_deterministic_design(deterministic_design)  # read by make_actor
        self._zero_shot_rate = check_zero_shot_rate(zero_shot_rate)
        self._zero_shot_targets = check_zero_shot_targets(zero_shot_targets)
        if net_arch is None:
            net_arch = dict(pi=[128, 128], qf=[128, 128])
        super().__init__(
            observation_space, action_space, lr_schedule, net_arch, activation_fn, use_sde, log_std_init,
            use_expln, clip_mean, features_extractor_class, features_extractor_kwargs, normalize_images,
            optimizer_class, optimizer_kwargs, n_critics, share_features_extractor,
        )  # fmt: skip

    def make_actor(self, features_extractor: BaseFeaturesExtractor | None = None) -> TransformerActor:
        actor_kwargs = self._update_features_extractor(self.actor_kwargs, features_extractor)
        actor = TransformerActor(
            **actor_kwargs,
            deterministic_design=self._deterministic_design,
            zero_shot_rate=self._zero_shot_rate,
            zero_shot_targets=self._zero_shot_targets,
        )
        return actor.to(self.device)

    @property
    def deterministic_design(self) -> str:
        """The actor's rule for deterministic actions (:mod:`caasl_agents.redq.designs`); settable."""
        return self.actor.deterministic_design

    @deterministic_design.setter
    def deterministic_design(self, mode: str) -> None:
        self._deterministic_design = self.actor.deterministic_design = check_deterministic_design(mode)

    def design_settings(self) -> dict[str, Any]:
        """The settable rules of the designs (``deterministic_design``, ``zero_shot_rate``, ``zero_shot_targets``)
        as constructor kwargs."""
        return dict(
            deterministic_design=self.deterministic_design,
            zero_shot_rate=self.zero_shot_rate,
            zero_shot_targets=self.zero_shot_targets,
        )

    @property
    def zero_shot_rate(self) -> float | None:
        """The actor's target rate at an unseen number of variables (:class:`TransformerActor`); settable."""
        return self.actor.zero_shot_rate

    @zero_shot_rate.setter
    def zero_shot_rate(self, rate: float | None) -> None:
        self._zero_shot_rate = self.actor.zero_shot_rate = check_zero_shot_rate(rate)

    @property
    def zero_shot_targets(self) -> str:
        """Which targets the actor prefers at an unseen number of variables (:class:`TransformerActor`); settable."""
        return self.actor.zero_shot_targets

    @zero_shot_targets.setter
    def zero_shot_targets(self, mode: str) -> None:
        self._zero_shot_targets = self.actor.zero_shot_targets = check_zero_shot_targets(mode)

    def make_critic(self, features_extractor: BaseFeaturesExtractor | None = None) -> TransformerEnsembleCritic:
        kwargs = dict(self.critic_kwargs)
        if self.share_features_extractor:
            extractor = features_extractor if features_extractor is not None else self.make_features_extractor()
            kwargs.update(features_extractor=extractor, features_dim=extractor.features_dim)
        else:
            kwargs.update(features_extractor=None, features_dim=0)
        encoder_kwargs = dict(self.features_extractor_kwargs)
        encoder_kwargs["embed_dim"] = encoder_kwargs.pop("features_dim", 32)
        critic = TransformerEnsembleCritic(
            **kwargs, critic_encoder=self.critic_encoder, encoder_kwargs=encoder_kwargs, pooled=self.critic_pooling
        )
        return critic.to(self.device)

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()
        data.update(critic_encoder=self.critic_encoder, critic_pooling=self.critic_pooling, **self.design_settings())
        return data


MlpPolicy = REDQPolicy
