"""The training CLI's configuration: :class:`TrainConfig` (every option, with its default) and the device presets.

``python -m caasl_agents.train`` (:mod:`caasl_agents.train`) and ``python -m caasl_agents.imitate`` build their
command lines from it; :func:`resolve_preset` applies ``--preset``; :func:`load_run_config` reads a run
folder's ``config.json`` back; :func:`load_config_file` reads ``--config FILE`` (e.g. the ``best.json`` of
``python -m caasl_agents.tune``).
"""

from __future__ import annotations

import dataclasses
import json
import os
import typing
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch as th

from caasl_agents.common.posterior_features import check_feature_names
from caasl_agents.redq.designs import check_zero_shot_targets
from caasl_gym.evaluation.seeds import VALIDATION
from caasl_gym.registration import domain_of

PROG = "python -m caasl_agents.train"
RESUMABLE_OVERRIDES = frozenset(
    {"total_timesteps", "device", "progress_bar", "checkpoint_freq", "checkpoint_minutes", "eval_episodes",
     "eval_deterministic", "verbose", "torch_threads", "resume", "run_root"}
)  # fmt: skip
"""Fields that ``--resume`` may change; all others are read from the run's ``config.json``."""
PRESETS: dict[str, dict[str, Any]] = {
    "cpu": dict(critic_encoder="shared", n_critics=5, embed_dim=16, n_layers=1, n_heads=2, ff_mult=2,
                batch_size=64, gradient_steps=4, critic_learning_rate=1e-3, learning_starts=1_600,
                total_timesteps=32_000, checkpoint_freq=4_000, torch_threads=1),
    "gpu": dict(critic_encoder="separate", n_critics=10, embed_dim=32, n_layers=2, n_heads=4, ff_mult=4,
                batch_size=256, gradient_steps=4, critic_learning_rate=3e-4, learning_starts=2_000,
                total_timesteps=200_000, checkpoint_freq=20_000, torch_threads=0),
}  # fmt: skip
"""The fields each preset sets. ``cpu`` is the recipe of the REDQ policies shipped until behaviour clones replaced
them (their sidecars: git history, and ``benchmarks/results/training_runs/SergioKnockout-v0-redq-pooled-sidecar.json``;
their checkpoints came at 16,000 to 28,000 steps, so 32,000 covers them); ``gpu`` is the field defaults."""


@dataclass
class TrainConfig:
    """Train a CAASL design policy (REDQ + transformer policy) on a registered caasl_gym environment."""

    env: str = "CausalLinear-v0"
    """registered environment id (any caasl_gym id; "module:Id" imports the module first)"""
    env_kwargs: dict = field(default_factory=dict)
    """environment kwargs as a JSON object, e.g. '{"num_nodes": 5}'"""
    seed: int = 0
    """training seed (torch, REDQ subsets, environment copies seed, seed+1, ...)"""
    total_timesteps: int = 200_000
    """environment transitions to train for, over all copies (with --resume: the new total)"""
    n_envs: int = 16
    """environment copies stepped together (one batched simulator and reward-model call per step)"""
    device: str = "auto"
    """torch device: auto (CUDA when present), cpu, cuda, cuda:1, ..."""
    preset: Literal["auto", "cpu", "gpu"] = "auto"
    """defaults sized for the device: cpu (the shipped REDQ policies' CPU recipe), gpu (paper-sized: the defaults
    shown here) or auto (gpu when training runs on CUDA, else cpu); options given explicitly override it"""
    torch_threads: int = 0
    """CPU threads for torch (0: torch's default; 1 is fastest on a busy machine)"""
    run_root: str = "runs"
    """folder that receives the run folder <env>__<seed>__<time>"""
    resume: str = ""
    """run folder to resume from its last checkpoint and replay buffer ("latest": newest for --env/--seed)"""
    checkpoint_freq: int = 20_000
    """environment transitions between the kept checkpoints model_<steps>_steps.zip"""
    checkpoint_minutes: float = 10.0
    """wall-clock minutes between checkpoints besides those by steps (0: by steps only); each replaces the last"""
    progress_bar: bool = True
    """show a progress bar"""
    verbose: int = 0
    """0: quiet, 1: also print the training logs to stdout"""
    log_interval: int = 0
    """episodes between log dumps (0: once per round of n_envs episodes)"""
    eval_episodes: int = 100
    """held-out episodes of the final evaluation against Random (0: skip)"""
    eval_seed: int = VALIDATION.start
    """seed of the first held-out episode (episodes eval_seed + i); must be validation seeds (1000000..9999999)"""
    eval_deterministic: bool = False
    """evaluate the deterministic designs (the policy's rule, caasl_agents.redq.designs) instead of sampled
    designs (official CAASL evaluates samples, which also did better in short runs)"""
    buffer_size: int = 50_000
    """replay buffer transitions; a compact buffer stores each observation once (~7 KB at d=10, N=60)"""
    compact_buffer: bool = True
    """store next observations implicitly (SB3 optimize_memory_usage; exact since episodes never truncate)"""
    batch_size: int = 256
    """minibatch size of each gradient step"""
    learning_starts: int = 2_000
    """transitions collected with uniformly random actions before training starts"""
    train_freq: int = 1
    """vector steps between training rounds"""
    gradient_steps: int = 4
    """gradient steps per training round; update-to-data ratio G = gradient_steps / (train_freq * n_envs)"""
    policy_delay: int = 1
    """gradient steps between actor updates (0: once per training round, as REDQ's policy delay = G)"""
    init_policy: str = ""
    """a policy .zip (e.g. a behaviour clone of python -m caasl_agents.imitate, or pretrained:<env id> for a
    shipped one) whose actor starts this run; the architecture options must be the ones it was trained with"""
    actor_warmup: int = 0
    """gradient steps that train the critics only before the actor's first update (with --init-policy)"""
    n_critics: int = 10
    """critics in the ensemble (N)"""
    critic_subset_size: int = 2
    """target critics whose minimum forms the TD target (M <= N)"""
    actor_q_reduction: Literal["mean", "min"] = "mean"
    """reduction of the N critics in the actor loss: mean (REDQ) or min (official CAASL code)"""
    critic_encoder: Literal["separate", "shared"] = "separate"
    """one encoder per critic (paper) or one critic encoder feeding N heads (much cheaper on CPU)"""
    critic_pooling: bool = False
    """add a whole-design term (an MLP of the mean over variables of [embedding, action]) to every critic"""
    learning_rate: float = 1e-3
    """learning rate of the actor and the entropy coefficient (official CAASL linear: 1e-3)"""
    critic_learning_rate: float = 3e-4
    """learning rate of the critics (REDQ: 3e-4; official CAASL 3e-5 with 4096-sample batches)"""
    gamma: float = 0.9
    """discount factor (official CAASL linear: 0.9)"""
    tau: float = 0.005
    """target-network Polyak coefficient (REDQ: 0.005; official CAASL: 0.001 over far longer runs)"""
    ent_coef: str = "auto_0.1"
    """entropy coefficient: auto_<initial value> (learned, as SAC) or a fixed float; SAC's auto starts at 1,
    too large against rewards of order 0.1-1 for short runs"""
    embed_dim: int = 32
    """per-variable embedding width (official CAASL: 32)"""
    n_layers: int = 2
    """(variables, samples) attention pairs per encoder (official CAASL: 4 linear, 3 SERGIO)"""
    n_heads: int = 4
    """attention heads (head size embed_dim / n_heads)"""
    ff_mult: int = 4
    """feed-forward width as a multiple of embed_dim"""
    value_transform: Literal["auto", "standardize", "log1p_standardize", "none"] = "auto"
    """preprocessing of measured values (auto: log1p_standardize for SERGIO counts, else standardize)"""
    posterior_features: str = ""
    """reward model whose edge-posterior statistics every encoder also reads (caasl_agents.common.posterior_features;
    e.g. sergio; "" for none: the history only)"""
    zero_shot_targets: str = "policy"
    """targets at a number of variables other than the training one: policy (its preferences, rescaled to the
    zero-shot rate 1/2) or uniform (every variable at that rate, the policy's values kept; see
    caasl_agents.redq.designs); it changes no training step at the training d"""
    posterior_stats: list[str] = field(default_factory=list)
    """which of those statistics the encoders read (names of caasl_agents.common.posterior_features.FEATURE_NAMES;
    empty: all)"""
    pi_arch: list[int] = field(default_factory=lambda: [128, 128])
    """hidden widths of the per-variable actor head (official CAASL: 128 128)"""
    qf_arch: list[int] = field(default_factory=lambda: [128, 128])
    """hidden widths of the per-variable critic heads (official CAASL: 128 128)"""

    def __post_init__(self) -> None:
        positive = ["total_timesteps", "n_envs", "checkpoint_freq", "buffer_size", "batch_size",
                    "train_freq", "n_critics", "critic_subset_size", "embed_dim", "n_layers", "n_heads",
                    "ff_mult"]  # fmt: skip
        for name in positive:
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ["torch_threads", "log_interval", "eval_episodes", "learning_starts", "gradient_steps",
                     "policy_delay", "seed", "eval_seed", "verbose", "actor_warmup"]:  # fmt: skip
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.critic_subset_size > self.n_critics:
            raise ValueError(f"critic_subset_size ({self.critic_subset_size}) > n_critics ({self.n_critics})")
        if self.embed_dim % self.n_heads:
            raise ValueError(f"embed_dim ({self.embed_dim}) must be divisible by n_heads ({self.n_heads})")
        for name in ["learning_rate", "critic_learning_rate"]:
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        if not (0.0 <= self.gamma <= 1.0 and 0.0 < self.tau <= 1.0):
            raise ValueError(f"need 0 <= gamma <= 1 and 0 < tau <= 1, got gamma={self.gamma}, tau={self.tau}")
        if not isinstance(self.env_kwargs, dict):
            raise ValueError(f"env_kwargs must be a dict, got {self.env_kwargs!r}")
        if not self.checkpoint_minutes >= 0:
            raise ValueError(f"checkpoint_minutes must be >= 0, got {self.checkpoint_minutes}")
        if self.posterior_features:
            _check_posterior_features(self.posterior_features, self.env)
        check_zero_shot_targets(self.zero_shot_targets)
        if self.posterior_stats:
            if not self.posterior_features:
                raise ValueError("posterior_stats needs posterior_features (the reward model the statistics come from)")
            check_feature_names(self.posterior_stats)
        if self.preset not in ("auto", *PRESETS):
            raise ValueError(f"preset must be one of auto, {', '.join(PRESETS)}; got {self.preset!r}")

    @property
    def resolved_value_transform(self) -> str:
        """``value_transform`` with ``"auto"`` resolved from the env id."""
        if self.value_transform != "auto":
            return self.value_transform
        try:
            sergio = domain_of(self.env.split(":")[-1]) == "sergio"
        except ValueError:  # an id outside caasl_gym (e.g. the agents' toy task)
            sergio = False
        return "log1p_standardize" if sergio else "standardize"

    def policy_kwargs(self) -> dict[str, Any]:
        """``policy_kwargs`` of the :class:`~caasl_agents.redq.policies.TransformerPolicy`."""
        posterior: dict[str, Any] = {"posterior": self.posterior_features} if self.posterior_features else {}
        if self.posterior_stats:
            posterior["posterior_stats"] = list(check_feature_names(self.posterior_stats))
        design = {"zero_shot_targets": self.zero_shot_targets} if self.zero_shot_targets != "policy" else {}
        return dict(
            **design,
            n_critics=self.n_critics,
            critic_encoder=self.critic_encoder,
            critic_pooling=self.critic_pooling,
            net_arch=dict(pi=list(self.pi_arch), qf=list(self.qf_arch)),
            features_extractor_kwargs=dict(
                features_dim=self.embed_dim,
                n_layers=self.n_layers,
                n_heads=self.n_heads,
                ff_mult=self.ff_mult,
                value_transform=self.resolved_value_transform,
                **posterior,
            ),
        )

    def model_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of :class:`~caasl_agents.redq.REDQ` (besides policy and env)."""
        ent_coef: str | float = self.ent_coef if self.ent_coef.startswith("auto") else float(self.ent_coef)
        return dict(
            learning_rate=self.learning_rate,
            critic_learning_rate=self.critic_learning_rate,
            buffer_size=self.buffer_size,
            optimize_memory_usage=self.compact_buffer,
            replay_buffer_kwargs=dict(handle_timeout_termination=not self.compact_buffer),
            learning_starts=self.learning_starts,
            batch_size=self.batch_size,
            tau=self.tau,
            gamma=self.gamma,
            train_freq=self.train_freq,
            gradient_steps=self.gradient_steps,
            policy_delay=self.policy_delay or None,
            actor_warmup=self.actor_warmup,
            critic_subset_size=self.critic_subset_size,
            actor_q_reduction=self.actor_q_reduction,
            ent_coef=ent_coef,
            policy_kwargs=self.policy_kwargs(),
            seed=self.seed,
            device=self.device,
            verbose=self.verbose,
        )


def _check_posterior_features(name: str, env: str) -> None:
    """Raise ``ValueError`` unless ``name`` is a reward model of ``env``'s domain (unknown ids pass: no domain)."""
    from caasl_gym.envs.scoring import resolve_reward_model
    from caasl_gym.reward.loading import EXACT_MODEL, SHIPPED_MODELS, RewardWeightsError

    if name == EXACT_MODEL:
        raise ValueError("posterior_features 'exact' is not supported (it is linear-only and costly); use 'linear'")
    try:
        domain = domain_of(env.split(":")[-1])
    except ValueError:
        return
    try:
        model = resolve_reward_model(name)  # cached: the encoders reuse this load
    except (RewardWeightsError, ValueError) as err:
        raise ValueError(
            f"posterior_features {name!r}: {err} (shipped: {', '.join(SHIPPED_MODELS)}, or a weights path)"
        ) from None
    if model.domain != domain:
        raise ValueError(f"posterior_features {name!r} is a {model.domain} model, but {env} is {domain}")


def _field_defaults(cls: type) -> dict[str, Any]:
    return {
        f.name: f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
        for f in dataclasses.fields(cls)
    }


def _uses_cuda(device: str) -> bool:
    """Whether ``device`` (``--device``) trains on CUDA; raises ``ValueError`` for an unusable device."""
    try:
        kind = th.device(device).type if device != "auto" else ("cuda" if th.cuda.is_available() else "cpu")
    except RuntimeError:
        raise ValueError(f"device must be auto, cpu, cuda or cuda:<index>, got {device!r}") from None
    if kind == "cuda" and not th.cuda.is_available():
        raise ValueError(f"--device {device}: no CUDA device here (torch {th.__version__}); use --device cpu or auto")
    return kind == "cuda"


def resolve_preset(cfg: TrainConfig, given: Collection[str] | None = None) -> TrainConfig:
    """``cfg`` with its preset applied: ``auto`` resolved, each preset field not in ``given`` set to the preset's.

    :param cfg: the configuration (``preset`` auto, cpu or gpu)
    :param given: the fields set explicitly (the command line's, :func:`~caasl_agents.common.cli.parse_config`);
        None: the fields that differ from the dataclass defaults
    :return: a copy with ``preset`` cpu or gpu
    :raises ValueError: the preset and the given fields do not fit together (the message names the preset)
    """
    if given is None:
        defaults = _field_defaults(type(cfg))
        given = {name for name, value in defaults.items() if getattr(cfg, name) != value}
    preset = cfg.preset
    if preset == "auto":
        preset = "gpu" if _uses_cuda(cfg.device) else "cpu"
    try:
        return dataclasses.replace(cfg, preset=preset, **{k: v for k, v in PRESETS[preset].items() if k not in given})
    except ValueError as err:
        raise ValueError(f"{err} (with preset {preset}: {_describe(PRESETS[preset])})") from None


def _describe(values: dict[str, Any]) -> str:
    return " ".join(f"--{k.replace('_', '-')} {v}" for k, v in values.items())


def load_run_config(run_dir: str | os.PathLike) -> TrainConfig:
    """The :class:`TrainConfig` of a run folder's ``config.json`` (values a run from before a field existed lacks
    take the field's default).

    :raises FileNotFoundError: not a run folder
    """
    path = Path(run_dir) / "config.json"
    if not path.is_file():
        raise FileNotFoundError(f"{run_dir} is not a training run folder (no config.json); {PROG} writes one")
    saved = json.loads(path.read_text())
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    return TrainConfig(**{k: v for k, v in saved.items() if k in known})


def _value_fits(tp: Any, value: Any) -> bool:
    """Whether a JSON value ``value`` fits the field annotation ``tp`` (an int where a float is asked passes)."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is Literal:
        return value in args
    if tp is bool:
        return isinstance(value, bool)
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if tp is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if tp is str:
        return isinstance(value, str)
    if origin is list:
        return isinstance(value, list) and all(_value_fits(args[0], v) for v in value) if args else True
    if tp is dict or origin is dict:
        return isinstance(value, dict)
    return True  # pragma: no cover - a field type the command line does not support either


def read_options_file(path: str | os.PathLike, flag: str = "--config") -> Any:
    """The content of a ``.json`` file (or ``.yaml`` / ``.yml`` with PyYAML) given as ``flag``.

    :raises FileNotFoundError: no such file
    :raises ValueError: not valid JSON
    :raises ImportError: a YAML file without PyYAML
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{flag} {path}: no such file")
    text = path.read_text()
    if path.suffix.lower() in (".yaml", ".yml"):
        try:
            import yaml
        except ImportError:
            raise ImportError(f"{flag} {path}: reading YAML needs PyYAML (pip install pyyaml), or use JSON") from None
        return yaml.safe_load(text)
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise ValueError(f"{flag} {path}: not valid JSON: {err}") from None


def load_config_file(path: str | os.PathLike, cls: type = TrainConfig) -> dict[str, Any]:
    """The field values of a JSON (or, with PyYAML installed, YAML) file of ``cls`` fields (``--config FILE``).

    :param path: a ``.json`` file (``.yaml`` / ``.yml`` with PyYAML) holding one object ``{field: value}``
    :param cls: the configuration dataclass whose fields the file sets
    :return: the values by field name (a subset of the fields; a float field's int becomes a float)
    :raises FileNotFoundError: no such file
    :raises ValueError: not an object, an unknown key (the message lists the valid ones) or a value of the wrong type
    :raises ImportError: a YAML file without PyYAML
    """
    values = read_options_file(path)
    if not isinstance(values, dict):
        raise ValueError(f"--config {path}: expected an object of options, got {type(values).__name__}")
    hints = typing.get_type_hints(cls)
    valid = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(values) - set(valid))
    if unknown:
        raise ValueError(f"--config {path}: unknown option(s) {', '.join(unknown)}; valid: {', '.join(valid)}")
    for name, value in values.items():
        if not _value_fits(hints[name], value):
            raise ValueError(f"--config {path}: {name} must be of type {hints[name]}, got {value!r}")
    return {k: float(v) if hints[k] is float else v for k, v in values.items()}
