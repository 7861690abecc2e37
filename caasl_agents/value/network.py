"""The learned one-step value of a candidate design: inputs per variable and the network that scores them.

A design is a target set (``(d,)`` bool; on the linear domain every target takes the value +1). For a history,
:class:`ValueNet` predicts how much each of ``C`` candidate sets would raise the designer's criterion, relative to
the other candidates of the same history. It reads the reward model's edge posterior of the history, summarised
per variable (:func:`gene_statistics`, :func:`candidate_inputs`), and optionally the raw history itself.
:class:`ValueEnsemble` averages several such networks, and :func:`build_value_net` builds either from its options.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch as th
from torch import nn

from caasl_agents.common.posterior_features import relative_to_max, variable_statistics
from caasl_agents.common.torch_layers import AlternatingAttentionEncoder

N_INPUTS = 14
"""Features per variable and candidate of :func:`candidate_inputs`."""


def gene_statistics(probs: np.ndarray, counts: np.ndarray) -> th.Tensor:
    """Per-variable inputs ``(S, d, 9)`` float32 of ``probs`` ``(S, d, d)`` and ``counts`` ``(S, d)``: the policies'
    posterior statistics (:func:`~caasl_agents.common.posterior_features.variable_statistics`) and the
    uncertainty of the variable's children per targeting row, relative to the state's largest."""
    probs, counts = np.asarray(probs, dtype=np.float64), np.asarray(counts, dtype=np.float64)
    children = relative_to_max((probs * (1.0 - probs)).sum(axis=2) / (1.0 + counts))
    stats = np.concatenate([variable_statistics(probs, counts), children[..., None]], axis=-1)
    return th.as_tensor(stats, dtype=th.float32)


def candidate_inputs(gene: th.Tensor, probs: th.Tensor, counts: th.Tensor, sets: th.Tensor) -> th.Tensor:
    """Features ``(S, C, d, N_INPUTS)`` per state, candidate and variable: the state's :func:`gene_statistics`
    ``gene`` ``(S, d, 9)``, then from ``probs`` ``(S, d, d)``, ``counts`` ``(S, d)`` and ``sets`` ``(S, C, d)`` the
    variable's target indicator, its expected targeted parents and children, the candidate's share of targeted
    variables and the history's targeted rows / 10."""
    s, c, d = sets.shape
    m = sets.float()
    per_candidate = [
        m,
        th.einsum("sij,sci->scj", probs, m),  # expected targeted parents
        th.einsum("sjk,sck->scj", probs, m),  # expected targeted children
        m.mean(-1, keepdim=True).expand(s, c, d),
        (counts.sum(1) / 10.0)[:, None, None].expand(s, c, d),
    ]
    return th.cat([gene[:, None].expand(s, c, d, gene.shape[-1]), th.stack(per_candidate, -1)], -1)


class ValueNet(nn.Module):
    """Predicted one-step value ``(S, C)`` of candidate target sets: attention across the variables of each
    candidate (any ``d``, equivariant to variable order), then the mean over all variables and over the targeted
    ones. With ``history``, every variable's entry also adds its embedding of the raw history by the policies'
    encoder (:class:`~caasl_agents.common.torch_layers.AlternatingAttentionEncoder`: attention over samples and
    variables), so the value can read what the edge posterior does not summarise (effect sizes, noise)."""

    def __init__(self, width: int = 64, layers: int = 2, heads: int = 4, history: bool = False) -> None:
        super().__init__()
        self.width, self.layers, self.heads = width, layers, heads
        self.embed = nn.Sequential(nn.Linear(N_INPUTS, width), nn.ReLU(), nn.Linear(width, width))
        layer = nn.TransformerEncoderLayer(width, heads, 2 * width, dropout=0.0, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.head = nn.Sequential(nn.Linear(2 * width, width), nn.ReLU(), nn.Linear(width, 1))
        self.history: nn.ModuleDict | None = None
        if history:
            encoder = AlternatingAttentionEncoder(embed_dim=32, n_layers=2, n_heads=4)
            self.history = nn.ModuleDict({"encoder": encoder, "proj": nn.Linear(32, width)})

    @property
    def options(self) -> dict[str, int | bool]:
        """The constructor's arguments: ``ValueNet(**net.options)`` builds a net of the same architecture."""
        return dict(width=self.width, layers=self.layers, heads=self.heads, history=self.history is not None)

    @property
    def reads_history(self) -> bool:
        """Whether :meth:`forward` needs the histories (``obs``) or their :meth:`history_context`."""
        return self.history is not None

    def history_context(self, obs: th.Tensor) -> th.Tensor:
        """What a net with ``history`` adds to every candidate's variable entries: ``(S, 1, d, w)`` of the
        histories ``obs`` ``(S, N, d, 3)``. It does not depend on the candidates, so a designer computes it once
        per step."""
        if self.history is None:
            raise ValueError("this ValueNet does not read the history (built with history=False)")
        return self.history["proj"](self.history["encoder"](obs)[0])[:, None]

    def forward(
        self,
        gene: th.Tensor,
        probs: th.Tensor,
        counts: th.Tensor,
        sets: th.Tensor,
        obs: th.Tensor | None = None,
        context: th.Tensor | None = None,
    ) -> th.Tensor:
        """Values ``(S, C)`` from :func:`candidate_inputs` (``gene``: the states' :func:`gene_statistics`) and, for
        a net with ``history``, the histories ``obs`` ``(S, N, d, 3)`` or their :meth:`history_context`.

        Raises:
            ValueError: a net with ``history`` called without ``obs`` or ``context``.
        """
        if self.history is not None and context is None:
            if obs is None:
                raise ValueError("this ValueNet reads the history: pass obs (S, N, d, 3)")
            context = self.history_context(obs)
        return self.score(candidate_inputs(gene, probs, counts, sets), sets, context)

    def score(self, inputs: th.Tensor, sets: th.Tensor, context: th.Tensor | None = None) -> th.Tensor:
        """Values ``(S, C)`` of :func:`candidate_inputs` ``inputs`` ``(S, C, d, N_INPUTS)`` of the sets ``(S, C, d)``,
        with the :meth:`history_context` ``context`` for a net with ``history`` (:meth:`forward` checks it)."""
        x = self.embed(inputs)  # (S, C, d, w)
        if context is not None:
            x = x + context  # (S, 1, d, w) broadcast
        s, c, d, w = x.shape
        h = self.encoder(x.reshape(s * c, d, w))  # (S C, d, w)
        m = sets.reshape(s * c, d, 1).float()
        targeted = (h * m).sum(1) / m.sum(1).clamp_min(1)
        return self.head(th.cat([h.mean(1), targeted], -1)).reshape(s, c)


class ValueEnsemble(nn.Module):
    """The mean value ``(S, C)`` of several :class:`ValueNet` members of one architecture (trained on the same
    data from different seeds). Averaging cancels part of each member's own error, which is what limits a
    designer that plays the argmax.

    The members are trained on scores centred over each state's candidates, so each member's values carry an
    offset of its own per state; the mean carries the mean offset. That offset depends on the state only, never
    on which candidates a call scores, so values of one state compare across calls (a forward path scores its
    rounds in separate calls) and the ranking within a call is that of the members' centred values.

    Raises:
        ValueError: no members, or members of different architectures.
    """

    def __init__(self, members: Sequence[ValueNet]) -> None:
        super().__init__()
        if not members:
            raise ValueError("a ValueEnsemble needs at least one member")
        kinds = {tuple(sorted(m.options.items())) for m in members}
        if len(kinds) > 1:
            raise ValueError(f"the members of a ValueEnsemble must share one architecture, got {sorted(kinds)}")
        self.members = nn.ModuleList(members)

    @property
    def options(self) -> dict[str, int | bool]:
        """The members' options and their number: :func:`build_value_net` builds the same architecture."""
        return {**self.members[0].options, "members": len(self.members)}

    @property
    def reads_history(self) -> bool:
        return self.members[0].reads_history

    def history_context(self, obs: th.Tensor) -> th.Tensor:
        """Each member's :meth:`ValueNet.history_context` of ``obs`` ``(S, N, d, 3)``: ``(M, S, 1, d, w)``."""
        return th.stack([m.history_context(obs) for m in self.members])

    def forward(
        self,
        gene: th.Tensor,
        probs: th.Tensor,
        counts: th.Tensor,
        sets: th.Tensor,
        obs: th.Tensor | None = None,
        context: th.Tensor | None = None,
    ) -> th.Tensor:
        """:meth:`ValueNet.forward`'s arguments (``context`` from :meth:`history_context`); the members' mean
        value ``(S, C)``."""
        if self.reads_history and context is None:
            if obs is None:
                raise ValueError("this ValueEnsemble reads the history: pass obs (S, N, d, 3)")
            context = self.history_context(obs)
        inputs = candidate_inputs(gene, probs, counts, sets)  # (S, C, d, N_INPUTS), the same for every member
        values = [m.score(inputs, sets, None if context is None else context[i]) for i, m in enumerate(self.members)]
        return th.stack(values).mean(0)


def build_value_net(options: dict[str, Any]) -> ValueNet | ValueEnsemble:
    """An untrained network of a sidecar's ``net`` options: a :class:`ValueEnsemble` of ``members`` copies when
    they name a number of members, else a :class:`ValueNet`.

    Raises:
        ValueError: ``members`` that is not a positive integer, or options the constructor refuses.
    """
    options = dict(options)
    members = options.pop("members", None)
    try:
        if members is None:
            return ValueNet(**options)
        if not isinstance(members, int) or isinstance(members, bool) or members < 1:
            raise ValueError(f"members must be a positive integer, got {members!r}")
        return ValueEnsemble([ValueNet(**options) for _ in range(members)])
    except TypeError as err:
        raise ValueError(f"options {options} do not build a ValueNet ({err})") from None
