"""Network pieces of the agents: the ensemble MLP and the alternating-attention history encoder.

The layers, their member axis ``E`` (independent copies stacked for an ensemble of critics) and the
encoder trunk are shared with the reward model: see :mod:`caasl_gym.reward.layers`. The observation
transform is :func:`caasl_gym.reward.preprocessing.preprocess_history`.

Observation layout (``caasl_gym``): ``(B, N, d, 3)`` with channel 0 the measured value,
channel 1 the intervention indicator and channel 2 one for filled rows, zero for padding rows.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import torch as th
from gymnasium import spaces
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from torch import nn

from caasl_agents.common.posterior_features import FEATURE_NAMES, check_feature_names, posterior_features
from caasl_gym.reward.layers import AttentionBlock, EnsembleLayerNorm, EnsembleLinear, alternating_attention
from caasl_gym.reward.preprocessing import VALUE_TRANSFORMS, ValueTransform, preprocess_history


class EnsembleMLP(nn.Module):
    """A stack of :class:`EnsembleLinear` layers with activations in between (none after the last).

    :param n_members: number of stacked members ``E``
    :param in_features: input width
    :param out_features: output width
    :param net_arch: hidden widths
    :param activation_fn: activation class
    """

    def __init__(
        self,
        n_members: int,
        in_features: int,
        out_features: int,
        net_arch: list[int],
        activation_fn: type[nn.Module] = nn.ReLU,
    ):
        super().__init__()
        widths = [in_features, *net_arch, out_features]
        self.layers = nn.ModuleList(EnsembleLinear(n_members, a, b) for a, b in itertools.pairwise(widths))
        self.activation = activation_fn()

    def forward(self, x: th.Tensor, members: th.Tensor | None = None) -> th.Tensor:
        """
        :param x: ``(E' or 1, ..., in)``
        :param members: indices of the members to use, all when ``None``
        :return: ``(E', ..., out)``
        """
        for i, layer in enumerate(self.layers):
            x = layer(x, members)
            if i < len(self.layers) - 1:
                x = self.activation(x)
        return x


class AlternatingAttentionEncoder(nn.Module):
    """Alternating self-attention over variables and over samples, max-pooled over samples.

    Transforms the history (:func:`preprocess_history`), embeds every (sample, variable) cell and runs
    :func:`~caasl_gym.reward.layers.alternating_attention` with ``n_layers`` pairs of blocks (across the
    ``d`` variables of each row, then across the filled rows of each variable). The output is one
    embedding per variable.

    Properties (tested): equivariant to permutations of the variables; invariant to the order of
    filled rows, to the content and number of padding rows; works at any ``N`` and ``d``.

    :param embed_dim: embedding width (official CAASL: 32)
    :param n_layers: number of (variables, samples) attention pairs (official CAASL: 4 linear,
        3 SERGIO; default 2 keeps CPU training practical)
    :param n_heads: attention heads; ``embed_dim / n_heads`` is the head size
    :param ff_mult: feed-forward width as a multiple of ``embed_dim``
    :param dropout: dropout inside the blocks (training only)
    :param value_transform: preprocessing of channel 0, see :func:`preprocess_history`
    :param n_members: number of independent encoders stacked in one batched computation
    :param posterior: a reward model name: add a linear map of its posterior's per-variable statistics
        (:mod:`caasl_agents.common.posterior_features`) to the embedding of every entry of the variable,
        before the attention blocks; None: the history only
    :param posterior_stats: the names of the statistics read (a subset of
        :data:`~caasl_agents.common.posterior_features.FEATURE_NAMES`); None: all of them
    """

    def __init__(
        self,
        embed_dim: int = 32,
        n_layers: int = 2,
        n_heads: int = 4,
        ff_mult: int = 4,
        dropout: float = 0.0,
        value_transform: ValueTransform = "standardize",
        n_members: int = 1,
        posterior: str | None = None,
        posterior_stats: Sequence[str] | None = None,
    ):
        super().__init__()
        if value_transform not in VALUE_TRANSFORMS:
            raise ValueError(f"value_transform must be one of {VALUE_TRANSFORMS}, got {value_transform!r}")
        if n_layers < 1:
            raise ValueError(f"n_layers must be >= 1, got {n_layers}")
        self.embed_dim = embed_dim
        self.value_transform = value_transform
        self.n_members = n_members
        self.input_proj = EnsembleLinear(n_members, 2, embed_dim)
        self.blocks = nn.ModuleList(
            AttentionBlock(n_members, embed_dim, n_heads, ff_mult, dropout) for _ in range(2 * n_layers)
        )
        self.final_norm = EnsembleLayerNorm(n_members, embed_dim)
        self.posterior = posterior_features(posterior) if posterior else None
        stats = check_feature_names(None if posterior_stats is None else list(posterior_stats))
        self.posterior_columns = [FEATURE_NAMES.index(name) for name in stats]
        self.posterior_proj = EnsembleLinear(n_members, len(stats), embed_dim) if posterior else None

    def forward(self, observations: th.Tensor, members: th.Tensor | None = None) -> th.Tensor:
        """
        :param observations: ``(B, N, d, 3)``
        :param members: indices of the members to use (``E'`` of them), all when ``None``
        :return: per-variable embeddings ``(E', B, d, embed_dim)``
        """
        inputs, row_mask = preprocess_history(observations, self.value_transform)  # (B,N,d,2), (B,N)
        x = self.input_proj(inputs.unsqueeze(0), members)  # (E', B, N, d, D)
        if self.posterior is not None:  # the same term on every row of a variable, before the attention
            stats = self.posterior(observations)  # (B, d, S)
            if len(self.posterior_columns) < stats.shape[-1]:
                stats = stats[..., self.posterior_columns]  # (B, d, S')
            x = x + self.posterior_proj(stats.unsqueeze(0), members).unsqueeze(2)  # (E', B, 1, d, D)
        return alternating_attention(x, self.blocks, self.final_norm, row_mask, members)


class TransformerExtractor(BaseFeaturesExtractor):
    """SB3 features extractor: per-variable embeddings of a ``caasl_gym`` history.

    ``forward`` maps observations ``(B, N, d, 3)`` to features ``(B, d, features_dim)``, not to a
    flat vector: the per-variable structure is consumed by the heads of
    :class:`~caasl_agents.redq.policies.TransformerPolicy`, so one set of weights runs at any ``d``
    (and any ``N``). ``features_dim`` is the embedding width. See
    :class:`AlternatingAttentionEncoder` for the architecture and its invariances.

    :param observation_space: a Box of shape ``(N, d, 3)``
    :param features_dim: embedding width per variable
    :param n_layers: number of (variables, samples) attention pairs
    :param n_heads: attention heads
    :param ff_mult: feed-forward width as a multiple of ``features_dim``
    :param dropout: dropout inside the blocks (training only)
    :param value_transform: ``"standardize"`` (real values), ``"log1p_standardize"`` (counts) or
        ``"none"``, see :func:`preprocess_history`
    :param posterior: a reward model name whose posterior statistics the embeddings also read (see
        :class:`AlternatingAttentionEncoder`); None: the history only
    :param posterior_stats: which of those statistics (None: all)
    """

    def __init__(
        self,
        observation_space: spaces.Box,
        features_dim: int = 32,
        n_layers: int = 2,
        n_heads: int = 4,
        ff_mult: int = 4,
        dropout: float = 0.0,
        value_transform: ValueTransform = "standardize",
        posterior: str | None = None,
        posterior_stats: Sequence[str] | None = None,
    ):
        shape = observation_space.shape
        if shape is None or len(shape) != 3 or shape[-1] != 3:
            raise ValueError(f"expected an observation space of shape (N, d, 3), got {shape}")
        super().__init__(observation_space, features_dim)
        self.encoder = AlternatingAttentionEncoder(
            features_dim,
            n_layers,
            n_heads,
            ff_mult,
            dropout,
            value_transform,
            n_members=1,
            posterior=posterior,
            posterior_stats=posterior_stats,
        )

    def forward(self, observations: th.Tensor) -> th.Tensor:
        """
        :param observations: ``(B, N, d, 3)``
        :return: ``(B, d, features_dim)``
        """
        return self.encoder(observations)[0]
