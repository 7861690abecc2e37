"""The encoder blocks shared by the reward model and the agents' networks (AVICI-style alternating attention).

Every layer takes ``n_members``: ``None`` builds one plain layer laid out as ``torch.nn.Linear`` or
``LayerNorm`` (the reward model); an int ``E`` stacks ``E`` independent copies (one per critic of an
ensemble) whose parameters carry a leading member axis, so that an ensemble runs as one batched computation
instead of a Python loop. Stacked activations have the member axis first, ``(E, ...)``; an input with
``E = 1`` is broadcast against ``E > 1`` members; ``members`` (a 1-D ``LongTensor``, e.g. REDQ's random
subset of target critics) selects some of them, ``None`` all. Plain layers accept and ignore it.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable

import torch as th
from torch import nn
from torch.nn import functional as F

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


class PlainLinear(nn.Linear):
    """``torch.nn.Linear`` that accepts (and ignores) ``members``: the linear layer of ``n_members=None``."""

    def forward(self, x: th.Tensor, members: th.Tensor | None = None) -> th.Tensor:
        return super().forward(x)


class PlainLayerNorm(nn.LayerNorm):
    """``torch.nn.LayerNorm`` that accepts (and ignores) ``members``: the layer norm of ``n_members=None``."""

    def forward(self, x: th.Tensor, members: th.Tensor | None = None) -> th.Tensor:
        return super().forward(x)


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


class AttentionBlock(nn.Module):
    """Pre-LayerNorm transformer block: multi-head self-attention, then a feed-forward layer.

    Attends along the second-to-last axis of ``(..., S, L, dim)``: ``S`` independent sets of ``L`` tokens
    (per member, with stacked layers: ``(E, S, L, dim)``).

    :param n_members: number of stacked members ``E``, or None for a plain block (see the module docstring)
    :param dim: embedding width
    :param n_heads: attention heads (``dim`` must be divisible by it)
    :param ff_mult: feed-forward width as a multiple of ``dim``
    :param dropout: dropout on attention weights and block outputs (training only)
    :param activation_fn: activation class of the feed-forward layer (the reward model uses ReLU)
    """

    def __init__(
        self,
        n_members: int | None,
        dim: int,
        n_heads: int,
        ff_mult: int = 4,
        dropout: float = 0.0,
        activation_fn: type[nn.Module] = nn.GELU,
    ):
        super().__init__()
        if dim % n_heads != 0:
            raise ValueError(f"embedding dim {dim} is not divisible by n_heads={n_heads}")
        self.n_heads = n_heads
        self.dropout = dropout
        linear = PlainLinear if n_members is None else functools.partial(EnsembleLinear, n_members)
        norm = PlainLayerNorm if n_members is None else functools.partial(EnsembleLayerNorm, n_members)
        self.norm_attn = norm(dim)
        self.qkv = linear(dim, 3 * dim)
        self.proj = linear(dim, dim)
        self.norm_ff = norm(dim)
        self.ff_in = linear(dim, ff_mult * dim)
        self.ff_out = linear(ff_mult * dim, dim)
        self.activation = activation_fn()

    def forward(self, x: th.Tensor, key_mask: th.Tensor | None = None, members: th.Tensor | None = None) -> th.Tensor:
        """
        :param x: ``(..., S, L, dim)``
        :param key_mask: ``(S, L)`` bool, True where a position may be attended to; None: all
        :param members: indices of the members to use, all when ``None``
        :return: ``(..., S, L, dim)``
        """
        *lead, length, dim = x.shape
        p_drop = self.dropout if self.training else 0.0
        qkv = self.qkv(self.norm_attn(x, members), members)  # (..., S, L, 3·dim)
        # (E'·S, L, 3, H, hd) -> 3 × (E'·S, H, L, hd)
        q, k, v = qkv.reshape(-1, length, 3, self.n_heads, dim // self.n_heads).permute(2, 0, 3, 1, 4)
        # the key mask (S, L) -> (E'·S, 1, 1, L), broadcast over heads and queries
        attn_mask = None if key_mask is None else key_mask.expand(*lead, length).reshape(-1, 1, 1, length)
        attn = scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, dropout_p=p_drop)
        x = x + F.dropout(self.proj(attn.transpose(1, 2).reshape(x.shape), members), p_drop, self.training)
        hidden = self.activation(self.ff_in(self.norm_ff(x, members), members))
        return x + F.dropout(self.ff_out(hidden, members), p_drop, self.training)


def alternating_attention(
    z: th.Tensor,
    blocks: Iterable[AttentionBlock],
    final_norm: nn.Module,
    mask: th.Tensor | None = None,
    members: th.Tensor | None = None,
) -> th.Tensor:
    """The encoder trunk: alternating self-attention over variables and over rows, max-pooled over real rows.

    The blocks attend alternately across the ``d`` variables of each row and across the rows of each
    variable (padding rows masked out as keys). No positional encoding: equivariant to permutations of the
    variables, invariant to the order of the rows and to padding rows.

    :param z: ``(..., B, n, d, D)`` embedded entries (``(E', B, n, d, D)`` with stacked layers)
    :param blocks: over variables, over rows, over variables, ...
    :param final_norm: the layer norm before pooling
    :param mask: ``(B, n)`` bool, True for real rows (None: all); a history without real rows gives zeros
    :param members: indices of the members to use, all when ``None``
    :return: ``(..., B, d, D)`` one embedding per variable
    """
    *lead, b, n, d, dim = z.shape
    key_mask = any_row = None
    if mask is not None:  # an empty history attends to every row (finite softmax); its output is zeroed
        any_row = mask.any(dim=1)  # (B,)
        key_mask = (mask | ~any_row[:, None])[:, None, :].expand(b, d, n).reshape(b * d, n)  # (B·d, n)
    for i, block in enumerate(blocks):
        if i % 2 == 0:  # over variables: the sets are rows, (..., B·n, d, D)
            z = block(z.reshape(*lead, b * n, d, dim), None, members).reshape(*lead, b, n, d, dim)
        else:  # over rows: the sets are variables, (..., B·d, n, D)
            z = z.transpose(-3, -2).reshape(*lead, b * d, n, dim)
            z = block(z, key_mask, members).reshape(*lead, b, d, n, dim).transpose(-3, -2)
    z = final_norm(z, members)
    if mask is None:
        return z.amax(dim=-3)
    z = z.masked_fill(~mask[:, :, None, None], -th.inf).amax(dim=-3)  # (..., B, d, D)
    return th.where(any_row[:, None, None], z, 0.0)
