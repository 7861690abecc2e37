"""The amortized posterior network ``q(A | h)``: an AVICI-style alternating-attention encoder, or a pair
encoder over the history's summary statistics.

Input is a history of ``n`` rows over ``d`` variables, encoded as ``(B, n, d, C)`` (channel 0 the
preprocessed value, channel 1 the 0/1 intervention indicator and, with ``scale_channel``, channel 2 the
log standard deviation of each variable's raw values, repeated on every row) plus an optional
``(B, n)`` bool row mask. The trunk, shared with the policies' extractor, alternates self-attention across
variables and across rows and max-pools over the real rows (:func:`~caasl_gym.reward.layers.alternating_attention`):
padding rows never change the output, and the network is equivariant to permutations of the variables.
Edge logits come from two per-variable embeddings ``u_i`` and ``v_j``:
``logit_ij = exp(tau) * cos(u_i, v_j) + beta`` with learned scalars ``tau`` and ``beta``.

With ``encoder="statistics"`` (linear domain, scale channel required) the network instead reads the
history's second-moment statistics (:mod:`caasl_gym.reward.statistics`: per variable, scale and residual
variance; per ordered pair, correlation, regression and partial-correlation coefficients and the
interventional slope), which for linear-Gaussian data carry what the exact posterior uses. One token per
ordered pair ``(i, j)`` (an MLP of the pair's and the reverse pair's statistics and both variables'),
then alternating self-attention along the rows ``i`` and the columns ``j`` of the ``d × d`` token grid (so
each edge sees the competing explanations of both its endpoints), then a linear logit per token. It is
equivariant to permutations of the variables and invariant to the order of rows and to padding rows.
"""

from __future__ import annotations

import functools
import itertools
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from caasl_gym.reward.layers import AttentionBlock, PlainLayerNorm, alternating_attention
from caasl_gym.reward.statistics import NODE_FEATURES, PAIR_FEATURES, encoded_statistics

DOMAINS = ("linear", "sergio")
"""Data domains: ``linear`` inputs are real values, ``sergio`` inputs are gene-expression counts."""
ENCODERS = ("rows", "statistics")
"""``rows``: alternating attention over the rows and variables of the history (AVICI); ``statistics``:
attention over ordered pairs of variables, fed with the history's summary statistics (linear only)."""


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
        encoder: one of :data:`ENCODERS`; ``statistics`` needs ``domain="linear"`` and ``scale_channel``.
            ``layers`` then counts pairs of (along-rows, along-columns) blocks over the pair grid.
    """

    domain: str = "linear"
    dim: int = 32
    layers: int = 2
    heads: int = 2
    ffn_mult: int = 2
    scale_channel: bool = False
    encoder: str = "rows"

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
        if self.encoder not in ENCODERS:
            raise ValueError(f"unknown encoder {self.encoder!r}; valid choices: {', '.join(ENCODERS)}")
        if self.encoder == "statistics" and (self.domain != "linear" or not self.scale_channel):
            raise ValueError(
                "encoder='statistics' reads linear-Gaussian moments and the raw scale: it needs domain='linear' "
                f"and scale_channel=True, got domain={self.domain!r}, scale_channel={self.scale_channel}"
            )
        if self.dim % self.heads:
            raise ValueError(f"dim ({self.dim}) must be divisible by heads ({self.heads})")

    def to_dict(self) -> dict:
        return asdict(self)


class EdgePosteriorNet(nn.Module):
    """Edge logits ``(B, d, d)`` from an encoded history ``(B, n, d, C)``; see the module docstring."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        dim = config.dim
        block = functools.partial(AttentionBlock, None, dim, config.heads, config.ffn_mult, activation_fn=nn.ReLU)
        if config.encoder == "statistics":
            features = 2 * NODE_FEATURES + 2 * PAIR_FEATURES
            self.pair_embed = nn.Sequential(nn.Linear(features, dim), nn.ReLU(), nn.Linear(dim, dim))
            self.along_rows = nn.ModuleList(block() for _ in range(config.layers))
            self.along_columns = nn.ModuleList(block() for _ in range(config.layers))
            self.pair_out = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, 1))
            return
        self.embed = nn.Linear(config.channels, dim)
        self.variable_blocks = nn.ModuleList(block() for _ in range(config.layers))
        self.row_blocks = nn.ModuleList(block() for _ in range(config.layers))
        self.norm_out = PlainLayerNorm(dim)
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
        if self.config.encoder == "statistics":
            return self._pair_logits(x, mask)
        blocks = itertools.chain.from_iterable(zip(self.variable_blocks, self.row_blocks, strict=True))
        pooled = alternating_attention(self.embed(x), blocks, self.norm_out, mask).float()  # (B, d, D)
        with torch.autocast(device_type=pooled.device.type, enabled=False):  # edge head in float32
            u = F.normalize(self.head_u(pooled), dim=-1)
            v = F.normalize(self.head_v(pooled), dim=-1)
            return torch.exp(self.log_temperature) * (u @ v.transpose(1, 2)) + self.bias

    def _pair_logits(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        """The ``statistics`` encoder: ``(B, n, d, 3)`` -> statistics -> ``(B, d, d, D)`` pair tokens -> logits."""
        with torch.autocast(device_type=x.device.type, enabled=False):  # moments and solves in float64
            node, pair = encoded_statistics(x.float(), mask)  # (B, d, F_node), (B, d, d, F_pair)
        b, d, _ = node.shape
        tokens = torch.cat(
            [node[:, :, None].expand(b, d, d, -1), node[:, None].expand(b, d, d, -1), pair, pair.transpose(1, 2)], -1
        )
        z = self.pair_embed(tokens)  # (B, d(i), d(j), D)
        for along_rows, along_columns in zip(self.along_rows, self.along_columns, strict=True):
            z = along_rows(z)  # edge i -> j attends to i -> k (the other children of i)
            z = along_columns(z.transpose(1, 2)).transpose(1, 2)  # ... and to k -> j (the other parents of j)
        return self.pair_out(z).squeeze(-1).float()

    def _load_from_state_dict(self, state_dict: dict, prefix: str, *args) -> None:
        """Also load weights saved before the blocks were shared (the shipped ones): ``norm_ffn``, ``ffn.0``, ``ffn.2``.

        Only these names changed, not shapes or parameter order, so old training checkpoints resume too."""
        for old in [k for k in state_dict if ".ffn." in k or ".norm_ffn." in k]:
            new = old.replace(".norm_ffn.", ".norm_ff.").replace(".ffn.0.", ".ff_in.").replace(".ffn.2.", ".ff_out.")
            state_dict[new] = state_dict.pop(old)
        super()._load_from_state_dict(state_dict, prefix, *args)


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
