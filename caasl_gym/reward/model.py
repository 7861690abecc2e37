"""The amortized posterior network ``q(A | h)``: an AVICI-style alternating-attention encoder.

Input is a history of ``n`` rows over ``d`` variables, encoded as ``(B, n, d, C)`` (channel 0 the
preprocessed value, channel 1 the 0/1 intervention indicator and, with ``scale_channel``, channel 2 the
log standard deviation of each variable's raw values, repeated on every row) plus an optional
``(B, n)`` bool row mask. The trunk alternates self-attention across the ``d`` variables of each row
and across the ``n`` rows of each variable; padding rows are masked out as attention keys and in the final max-pool over
rows, so they never change the output. There is no positional encoding anywhere, which makes the
network equivariant to permutations of the variables and invariant to permutations of the rows.
Edge logits come from two per-variable embeddings ``u_i`` and ``v_j``:
``logit_ij = exp(tau) * cos(u_i, v_j) + beta`` with learned scalars ``tau`` and ``beta``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

DOMAINS = ("linear", "sergio")
"""Data domains: ``linear`` inputs are real values, ``sergio`` inputs are gene-expression counts."""


@dataclass(frozen=True)
class ModelConfig:
    """Architecture of :class:`EdgePosteriorNet` plus the data domain it was trained on.

    Args:
        domain: ``"linear"`` (values are z-scored) or ``"sergio"`` (counts get log-CPM preprocessing).
        dim: width of every token embedding.
        layers: number of alternating layers (each = one variable-attention + one row-attention block).
        heads: attention heads (``dim`` must be divisible by it).
        ffn_mult: hidden width of the feed-forward sublayers, as a multiple of ``dim``.
        scale_channel: whether the input carries the per-variable log-std channel (see
            :func:`~caasl_gym.reward.inputs.encode_histories`); the z-scored values alone are blind to scale.
    """

    domain: str = "linear"
    dim: int = 64
    layers: int = 4
    heads: int = 4
    ffn_mult: int = 2
    scale_channel: bool = False

    @property
    def channels(self) -> int:
        """Input channels per entry: value, indicator and, with ``scale_channel``, the log-std."""
        return 3 if self.scale_channel else 2

    def __post_init__(self) -> None:
        if self.domain not in DOMAINS:
            raise ValueError(f"unknown domain {self.domain!r}; valid choices: {', '.join(DOMAINS)}")
        for name in ("dim", "layers", "heads", "ffn_mult"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not isinstance(self.scale_channel, bool):
            raise ValueError(f"scale_channel must be a bool, got {self.scale_channel!r}")
        if self.dim % self.heads:
            raise ValueError(f"dim ({self.dim}) must be divisible by heads ({self.heads})")

    def to_dict(self) -> dict:
        return asdict(self)


class AttentionBlock(nn.Module):
    """Pre-LayerNorm residual self-attention block followed by a residual feed-forward sublayer."""

    def __init__(self, dim: int, heads: int, ffn_mult: int) -> None:
        super().__init__()
        self.heads = heads
        self.norm_attn = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.norm_ffn = nn.LayerNorm(dim)
        self.ffn = nn.Sequential(nn.Linear(dim, ffn_mult * dim), nn.ReLU(), nn.Linear(ffn_mult * dim, dim))

    def forward(self, x: torch.Tensor, key_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Self-attention over the second axis.

        Args:
            x: ``(S, L, dim)`` tokens: ``S`` independent sets of ``L`` tokens each.
            key_mask: ``(S, L)`` bool, True for tokens that may be attended to; None = all.

        Returns:
            ``(S, L, dim)``.
        """
        s, length, dim = x.shape
        h = self.norm_attn(x)
        q, k, v = self.qkv(h).view(s, length, 3, self.heads, dim // self.heads).permute(2, 0, 3, 1, 4)
        attn_mask = None if key_mask is None else key_mask[:, None, None, :]
        a = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask)  # (S, H, L, dh)
        x = x + self.proj(a.transpose(1, 2).reshape(s, length, dim))
        return x + self.ffn(self.norm_ffn(x))


class EdgePosteriorNet(nn.Module):
    """Edge logits ``(B, d, d)`` from an encoded history ``(B, n, d, C)``; see the module docstring."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        dim = config.dim
        self.embed = nn.Linear(config.channels, dim)
        self.variable_blocks = nn.ModuleList(
            AttentionBlock(dim, config.heads, config.ffn_mult) for _ in range(config.layers)
        )
        self.row_blocks = nn.ModuleList(
            AttentionBlock(dim, config.heads, config.ffn_mult) for _ in range(config.layers)
        )
        self.norm_out = nn.LayerNorm(dim)
        self.head_u = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, dim))
        self.head_v = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, dim))
        self.log_temperature = nn.Parameter(torch.tensor(2.0))
        self.bias = nn.Parameter(torch.tensor(-3.0))

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Edge logits.

        Args:
            x: ``(B, n, d, C)`` float: preprocessed value, intervention indicator (and log-std) per entry.
            mask: ``(B, n)`` bool, True for real rows and False for padding; None = all rows real.
                Every history needs at least one real row.

        Returns:
            ``(B, d, d)`` logits of ``P(i -> j)``; the diagonal is not masked here (see
            :func:`mask_diagonal`).
        """
        b, n, d, _ = x.shape
        z = self.embed(x)  # (B, n, d, D)
        dim = z.shape[-1]
        row_key_mask = None if mask is None else mask[:, None, :].expand(b, d, n).reshape(b * d, n)
        for var_block, row_block in zip(self.variable_blocks, self.row_blocks, strict=True):
            z = var_block(z.reshape(b * n, d, dim)).view(b, n, d, dim)
            zt = z.transpose(1, 2).reshape(b * d, n, dim)  # rows of one variable form a set
            zt = row_block(zt, row_key_mask)
            z = zt.view(b, d, n, dim).transpose(1, 2)
        z = self.norm_out(z)
        if mask is not None:
            z = z.masked_fill(~mask[:, :, None, None], float("-inf"))
        pooled = z.amax(dim=1).float()  # (B, d, D)
        with torch.autocast(device_type=pooled.device.type, enabled=False):  # edge head in float32
            u = F.normalize(self.head_u(pooled), dim=-1)
            v = F.normalize(self.head_v(pooled), dim=-1)
            return torch.exp(self.log_temperature) * (u @ v.transpose(1, 2)) + self.bias


def mask_diagonal(logits: torch.Tensor) -> torch.Tensor:
    """Set the diagonal of ``(B, d, d)`` logits to ``-inf`` (probability exactly 0)."""
    d = logits.shape[-1]
    eye = torch.eye(d, dtype=torch.bool, device=logits.device)
    return logits.masked_fill(eye, float("-inf"))


def edge_bce(logits: torch.Tensor, adjacency: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy over off-diagonal entries, averaged per history, then over the batch.

    Args:
        logits: ``(B, d, d)``.
        adjacency: ``(B, d, d)`` float or bool target.

    Returns:
        scalar loss.
    """
    d = logits.shape[-1]
    off = ~torch.eye(d, dtype=torch.bool, device=logits.device)
    loss = F.binary_cross_entropy_with_logits(logits.float(), adjacency.float(), reduction="none")
    return (loss * off).sum(dim=(1, 2)).mean() / (d * (d - 1))
