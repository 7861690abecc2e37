"""Network pieces: ensemble-batched layers and the alternating-attention history encoder.

Every layer here carries a leading *member* axis ``E``: ``E`` independent copies of the layer
(one per critic of an ensemble) whose parameters are stacked, so that an ensemble runs as one
batched computation (``bmm``/``layer_norm``/``scaled_dot_product_attention`` over ``E·B``
sequences) instead of a Python loop over critics. A single network is simply ``E = 1``.

Conventions:

* activations always have the member axis first: ``(E, ...)``; an input with ``E = 1`` is broadcast
  against ``E > 1`` parameters (one shared input, many members);
* ``members`` (a 1-D ``LongTensor``) selects a subset of the stacked members, e.g. the random
  subset of target critics in REDQ; ``None`` means all of them.

Observation layout (``caasl_gym``): ``(B, N, d, 3)`` with channel 0 the measured value,
channel 1 the intervention indicator and channel 2 one for filled rows, zero for padding rows.
"""

from __future__ import annotations

import itertools
import math
from typing import Literal

import torch as th
from gymnasium import spaces
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from torch import nn
from torch.nn import functional as F

ValueTransform = Literal["standardize", "log1p_standardize", "none"]
VALUE_TRANSFORMS: tuple[str, ...] = ("standardize", "log1p_standardize", "none")
_STD_FLOOR = 1e-2  # per-variable std below this is treated as this (constant columns map to 0)
_CUDA_SDPA_MAX_BATCH = 32_768
"""CUDA flash / memory-efficient attention launch one grid row per batch entry and fail beyond 65535
(pytorch/pytorch#146704); larger batches (E·B·N sequences) are split into chunks of this size."""


def scaled_dot_product_attention(
    q: th.Tensor, k: th.Tensor, v: th.Tensor, attn_mask: th.Tensor | None = None, dropout_p: float = 0.0
) -> th.Tensor:
    """``F.scaled_dot_product_attention`` on ``(S, H, L, hd)``, chunked over ``S`` on CUDA when needed."""
    if not q.is_cuda or q.shape[0] <= _CUDA_SDPA_MAX_BATCH:
        return F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, dropout_p=dropout_p)
    chunks = []
    for start in range(0, q.shape[0], _CUDA_SDPA_MAX_BATCH):
        part = slice(start, start + _CUDA_SDPA_MAX_BATCH)
        mask = None if attn_mask is None else attn_mask[part]
        chunks.append(F.scaled_dot_product_attention(q[part], k[part], v[part], attn_mask=mask, dropout_p=dropout_p))
    return th.cat(chunks)


def _select(param: th.Tensor, members: th.Tensor | None) -> th.Tensor:
    """Stacked parameter ``(E, ...)`` restricted to ``members`` (all of them when ``None``)."""
    return param if members is None else param.index_select(0, members)


class EnsembleLinear(nn.Module):
    """``n_members`` independent affine maps, applied in one batched matrix product.

    :param n_members: number of stacked members ``E``
    :param in_features: input width
    :param out_features: output width
    """

    def __init__(self, n_members: int, in_features: int, out_features: int):
        super().__init__()
        self.n_members = n_members
        self.in_features = in_features
        self.out_features = out_features
        self.weight = nn.Parameter(th.empty(n_members, in_features, out_features))
        self.bias = nn.Parameter(th.empty(n_members, out_features))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Initialise every member like ``nn.Linear``: ``U(-1/sqrt(in), 1/sqrt(in))``."""
        bound = 1.0 / math.sqrt(self.in_features)
        nn.init.uniform_(self.weight, -bound, bound)
        nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, x: th.Tensor, members: th.Tensor | None = None) -> th.Tensor:
        """
        :param x: ``(E', ..., in)`` or ``(1, ..., in)`` (broadcast to every selected member)
        :param members: indices of the members to use (``E'`` of them), all when ``None``
        :return: ``(E', ..., out)``
        """
        weight, bias = _select(self.weight, members), _select(self.bias, members)
        n_sel = weight.shape[0]
        flat = x.reshape(x.shape[0], -1, self.in_features)  # (E' or 1, M, in)
        if flat.shape[0] == n_sel:
            out = th.baddbmm(bias.unsqueeze(1), flat, weight)  # (E', M, out)
        else:
            out = th.matmul(flat, weight) + bias.unsqueeze(1)  # broadcast the shared input
        return out.reshape(n_sel, *x.shape[1:-1], self.out_features)

    def extra_repr(self) -> str:
        return f"n_members={self.n_members}, in_features={self.in_features}, out_features={self.out_features}"


class EnsembleLayerNorm(nn.Module):
    """Layer normalisation over the last axis with a separate affine map per member.

    :param n_members: number of stacked members ``E``
    :param dim: normalised width
    :param eps: added to the variance
    """

    def __init__(self, n_members: int, dim: int, eps: float = 1e-5):
        super().__init__()
        self.dim = dim
        self.eps = eps
        self.weight = nn.Parameter(th.ones(n_members, dim))
        self.bias = nn.Parameter(th.zeros(n_members, dim))

    def forward(self, x: th.Tensor, members: th.Tensor | None = None) -> th.Tensor:
        """
        :param x: ``(E', ..., dim)``
        :param members: indices of the members to use, all when ``None``
        :return: ``(E', ..., dim)``
        """
        weight, bias = _select(self.weight, members), _select(self.bias, members)
        if weight.shape[0] == 1:
            return F.layer_norm(x, (self.dim,), weight[0], bias[0], self.eps)
        shape = (weight.shape[0],) + (1,) * (x.dim() - 2) + (self.dim,)
        normed = F.layer_norm(x, (self.dim,), eps=self.eps)
        return th.addcmul(bias.reshape(shape), normed, weight.reshape(shape))


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


class AttentionBlock(nn.Module):
    """Pre-LayerNorm transformer block: multi-head self-attention, then a feed-forward layer.

    Attends along the second-to-last axis of ``(E, S, L, dim)``: ``S`` independent sequences of
    length ``L`` per member.

    :param n_members: number of stacked members ``E``
    :param dim: embedding width
    :param n_heads: attention heads (``dim`` must be divisible by it)
    :param ff_mult: feed-forward width as a multiple of ``dim``
    :param dropout: dropout on attention weights and block outputs (training only)
    """

    def __init__(self, n_members: int, dim: int, n_heads: int, ff_mult: int = 4, dropout: float = 0.0):
        super().__init__()
        if dim % n_heads != 0:
            raise ValueError(f"embedding dim {dim} is not divisible by n_heads={n_heads}")
        self.n_heads = n_heads
        self.dropout = dropout
        self.norm_attn = EnsembleLayerNorm(n_members, dim)
        self.qkv = EnsembleLinear(n_members, dim, 3 * dim)
        self.proj = EnsembleLinear(n_members, dim, dim)
        self.norm_ff = EnsembleLayerNorm(n_members, dim)
        self.ff_in = EnsembleLinear(n_members, dim, ff_mult * dim)
        self.ff_out = EnsembleLinear(n_members, ff_mult * dim, dim)

    def forward(self, x: th.Tensor, key_mask: th.Tensor | None = None, members: th.Tensor | None = None) -> th.Tensor:
        """
        :param x: ``(E', S, L, dim)``
        :param key_mask: ``(S, L)`` bool, True where a position may be attended to; None: all
        :param members: indices of the members to use, all when ``None``
        :return: ``(E', S, L, dim)``
        """
        n_mem, n_seq, length, dim = x.shape
        head_dim = dim // self.n_heads
        p_drop = self.dropout if self.training else 0.0
        qkv = self.qkv(self.norm_attn(x, members), members)  # (E', S, L, 3·dim)
        # (E'·S, L, 3, H, hd) -> 3 × (E'·S, H, L, hd)
        q, k, v = qkv.reshape(n_mem * n_seq, length, 3, self.n_heads, head_dim).permute(2, 0, 3, 1, 4)
        attn_mask = None
        if key_mask is not None:  # (S, L) -> (E'·S, 1, 1, L), broadcast over heads and queries
            attn_mask = key_mask.unsqueeze(0).expand(n_mem, n_seq, length).reshape(n_mem * n_seq, 1, 1, length)
        attn = scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, dropout_p=p_drop)
        attn = attn.transpose(1, 2).reshape(n_mem, n_seq, length, dim)  # (E', S, L, dim)
        x = x + F.dropout(self.proj(attn, members), p_drop, self.training)
        hidden = F.gelu(self.ff_in(self.norm_ff(x, members), members))
        return x + F.dropout(self.ff_out(hidden, members), p_drop, self.training)


def preprocess_history(
    observations: th.Tensor, value_transform: ValueTransform = "standardize"
) -> tuple[th.Tensor, th.Tensor]:
    """Turn a padded history into scale-free per-cell inputs and a row mask.

    Channel 0 is made scale-free per variable over the *filled* rows only, so the result does not
    depend on the padding or on the order of rows:

    * ``"standardize"``: ``(x - mean_j) / std_j`` (real-valued data, e.g. linear SCMs);
    * ``"log1p_standardize"``: ``log1p(max(x, 0))``, then standardised (counts, e.g. SERGIO: large,
      sparse, heavy-tailed);
    * ``"none"``: raw values.

    A constant variable (``std < 0.01``, e.g. an all-zero gene) maps to (nearly) zero. Padding cells
    are set to zero whatever they contain (NaN included).

    :param observations: ``(B, N, d, 3)`` history (channels: value, intervened, filled)
    :param value_transform: one of :data:`VALUE_TRANSFORMS`
    :return: inputs ``(B, N, d, 2)`` (transformed value, intervention indicator) and the row mask
        ``(B, N)`` (True for filled rows)
    """
    if value_transform not in VALUE_TRANSFORMS:
        raise ValueError(f"value_transform must be one of {VALUE_TRANSFORMS}, got {value_transform!r}")
    values, intervened, filled = observations.float().unbind(-1)  # 3 × (B, N, d)
    row_mask = filled.amax(dim=-1) > 0.5  # (B, N)
    cell_mask = row_mask.unsqueeze(-1)  # (B, N, 1)
    values = th.where(cell_mask, values, 0.0)
    if value_transform == "log1p_standardize":
        values = th.log1p(values.clamp_min(0.0))
    if value_transform != "none":
        weight = cell_mask.to(values.dtype)
        count = weight.sum(dim=1, keepdim=True).clamp_min(1.0)  # (B, 1, 1)
        mean = (values * weight).sum(dim=1, keepdim=True) / count  # (B, 1, d)
        var = ((values - mean).square() * weight).sum(dim=1, keepdim=True) / count
        values = th.where(cell_mask, (values - mean) / var.sqrt().clamp_min(_STD_FLOOR), 0.0)
    intervened = th.where(cell_mask, intervened, 0.0)
    return th.stack([values, intervened], dim=-1), row_mask


class AlternatingAttentionEncoder(nn.Module):
    """Alternating self-attention over variables and over samples, max-pooled over samples.

    Embeds every (sample, variable) cell, then applies ``n_layers`` pairs of
    :class:`AttentionBlock` (first across the ``d`` variables of each row, then across the filled
    rows of each variable; padding rows are masked out as keys), a final LayerNorm and a max-pool
    over the filled rows. The output is one embedding per variable.

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

    def forward(self, observations: th.Tensor, members: th.Tensor | None = None) -> th.Tensor:
        """
        :param observations: ``(B, N, d, 3)``
        :param members: indices of the members to use (``E'`` of them), all when ``None``
        :return: per-variable embeddings ``(E', B, d, embed_dim)``
        """
        inputs, row_mask = preprocess_history(observations, self.value_transform)  # (B,N,d,2), (B,N)
        batch, n_rows, d, _ = inputs.shape
        x = self.input_proj(inputs.unsqueeze(0), members)  # (E', B, N, d, D)
        n_mem, dim = x.shape[0], self.embed_dim
        # A history without filled rows would mask every key; let such rows attend to everything
        # (their output is discarded by the pooling below), which keeps the softmax finite.
        any_filled = row_mask.any(dim=1)  # (B,)
        key_mask = row_mask | ~any_filled.unsqueeze(1)  # (B, N)
        key_mask = key_mask.unsqueeze(1).expand(batch, d, n_rows).reshape(batch * d, n_rows)  # (B·d, N)
        for i, block in enumerate(self.blocks):
            if i % 2 == 0:  # over variables: sequences are rows, (E', B·N, d, D)
                x = block(x.reshape(n_mem, batch * n_rows, d, dim), None, members)
                x = x.reshape(n_mem, batch, n_rows, d, dim)
            else:  # over samples: sequences are variables, (E', B·d, N, D)
                x = x.transpose(2, 3).reshape(n_mem, batch * d, n_rows, dim)
                x = block(x, key_mask, members).reshape(n_mem, batch, d, n_rows, dim).transpose(2, 3)
        x = self.final_norm(x, members)  # (E', B, N, d, D)
        x = x.masked_fill(~row_mask[None, :, :, None, None], -th.inf).amax(dim=2)  # (E', B, d, D)
        return th.where(any_filled[None, :, None, None], x, 0.0)


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
    ):
        shape = observation_space.shape
        if shape is None or len(shape) != 3 or shape[-1] != 3:
            raise ValueError(f"expected an observation space of shape (N, d, 3), got {shape}")
        super().__init__(observation_space, features_dim)
        self.encoder = AlternatingAttentionEncoder(
            features_dim, n_layers, n_heads, ff_mult, dropout, value_transform, n_members=1
        )

    def forward(self, observations: th.Tensor) -> th.Tensor:
        """
        :param observations: ``(B, N, d, 3)``
        :return: ``(B, d, features_dim)``
        """
        return self.encoder(observations)[0]
