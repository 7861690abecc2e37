"""Histories like the environments produce, drawn from the simulators (training and evaluation data).

A history of one causal model is ``n_obs`` observational rows followed by ``n_int`` interventional
rows, each row under its own design (a set of target variables). The data are what an environment
observes: raw real values (linear) or counts (SERGIO), the *intended* intervention indicators and the
hidden graph. Everything is batched over ``B`` models and driven by one explicit
``numpy.random.Generator``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from caasl_gym.envs.config import DesignConfig
from caasl_gym.registration import DOMAINS, config_for

DESIGN_KINDS = ("mixed", "random", "single")
"""How interventional rows choose targets: ``random`` = every variable w.p. 0.5 (the environments'
Random policy), ``single`` = one uniformly chosen variable, ``mixed`` = per row one of those two or
every variable with a per-row probability ``U(0, 1)`` (the training mix)."""


def default_setting(domain: str) -> DesignConfig:
    """The config of the domain's in-distribution id (``CausalLinear-v0`` / ``SergioKnockout-v0``)."""
    if domain not in DOMAINS:
        raise ValueError(f"unknown domain {domain!r}; valid choices: {', '.join(DOMAINS)}")
    return config_for(DOMAINS[domain].training_id)


@dataclass
class Histories:
    """A batch of ``B`` histories with ``n`` rows over ``d`` variables.

    Attributes:
        values: ``(B, n, d)`` float: raw values (linear) or counts (SERGIO).
        intervened: ``(B, n, d)`` bool intended intervention indicators.
        adjacency: ``(B, d, d)`` bool true graphs.
        mask: ``(B, n)`` bool valid rows, or None when every row is valid.
    """

    values: np.ndarray
    intervened: np.ndarray
    adjacency: np.ndarray
    mask: np.ndarray | None = None

    def head(self, rows: int) -> Histories:
        """The first ``rows`` rows of every history (the history at an earlier time step)."""
        mask = None if self.mask is None else self.mask[:, :rows]
        return Histories(self.values[:, :rows], self.intervened[:, :rows], self.adjacency, mask)


def sample_designs(rng: np.random.Generator, batch: int, rows: int, d: int, kind: str = "mixed") -> np.ndarray:
    """Target sets of interventional rows.

    Args:
        rng: the only source of randomness.
        batch: number of models ``B``.
        rows: rows per model.
        d: number of variables.
        kind: one of :data:`DESIGN_KINDS`.

    Returns:
        ``(B, rows, d)`` bool.
    """
    if kind not in DESIGN_KINDS:
        raise ValueError(f"unknown design kind {kind!r}; valid choices: {', '.join(DESIGN_KINDS)}")
    shape = (batch, rows, d)
    single = np.zeros(shape, dtype=bool)
    np.put_along_axis(single, rng.integers(0, d, size=(batch, rows, 1)), True, axis=2)
    if kind == "single":
        return single
    random = rng.random(shape) < 0.5
    if kind == "random":
        return random
    u = rng.random((batch, rows, 1))
    dense = rng.random(shape) < rng.random((batch, rows, 1))
    return np.where(u < 0.4, single, np.where(u < 0.8, random, dense))


def simulate_histories(
    rng: np.random.Generator,
    setting: DesignConfig,
    batch: int,
    d: int,
    n_obs: int,
    n_int: int,
    *,
    design_kind: str = "random",
    value_scale: np.ndarray | float | None = None,
) -> Histories:
    """Draw ``B`` new causal models and one history each.

    Args:
        rng: the only source of randomness.
        setting: the env config whose prior is simulated (its ``num_nodes`` and episode fields are
            ignored: ``d`` and the row counts are given here).
        batch: number of models ``B``.
        d: number of variables.
        n_obs: observational rows (``>= 1``).
        n_int: interventional rows, one design per row (``>= 0``).
        design_kind: how the designs are drawn (:data:`DESIGN_KINDS`).
        value_scale: domains with intervention values (linear): ``(B,)`` or scalar scale of the
            ``U(-1, 1)`` values; None = ``setting.value_scale``.

    Returns:
        :class:`Histories` with ``n = n_obs + n_int`` rows and no padding.
    """
    if n_obs < 1 or n_int < 0:
        raise ValueError(f"need n_obs >= 1 and n_int >= 0, got {n_obs} and {n_int}")
    designs = sample_designs(rng, batch, n_int, d, design_kind)
    domain = DOMAINS[setting.domain].domain
    return Histories(*domain.simulate(rng, setting, batch, d, n_obs, designs, value_scale))


@dataclass(frozen=True)
class TrainingPrior:
    """Distribution of training batches: one ``d`` and one row count per batch, settings per group.

    The batch size scales as ``batch_size * 600 / (n * d)`` so that every batch holds about as many
    tokens as ``batch_size`` histories of 60 rows over 10 variables.

    Args:
        domain: ``"linear"`` or ``"sergio"``.
        batch_size: histories per batch at ``d = 10`` and ``n = 60``.
        d_min, d_max: range of ``d`` (uniform), except that ``d = d_focus`` (if in range) gets extra mass
            ``p_focus``.
        n_obs_range: inclusive range of the observational rows.
        n_int_max: interventional rows are ``U{1..n_int_max}``, or 0 with probability ``p_obs_only``;
            None = 50 for linear, 20 for SERGIO (each SERGIO row is one simulator run, so rows are costly).
        groups: independent simulator settings per batch (at most), each drawn by the domain's
            ``sample_training_config`` (a broad prior that covers every registered id).
    """

    domain: str = "linear"
    batch_size: int = 64
    d_min: int = 5
    d_max: int = 30
    d_focus: int = 10
    p_focus: float = 0.25
    n_obs_range: tuple[int, int] = (20, 100)
    n_int_max: int | None = None
    p_obs_only: float = 0.15
    groups: int = 4

    def __post_init__(self) -> None:
        if self.domain not in DOMAINS:
            raise ValueError(f"unknown domain {self.domain!r}; valid choices: {', '.join(DOMAINS)}")
        if self.n_int_max is None:
            object.__setattr__(self, "n_int_max", 50 if self.domain == "linear" else 20)
        if not 2 <= self.d_min <= self.d_max:
            raise ValueError(f"need 2 <= d_min <= d_max, got {self.d_min}, {self.d_max}")

    def to_dict(self) -> dict:
        return asdict(self)

    def sample_batch(self, rng: np.random.Generator) -> Histories:
        """One training batch (one ``d``, one ``n``, no padding)."""
        if self.d_min <= self.d_focus <= self.d_max and rng.random() < self.p_focus:
            d = self.d_focus
        else:
            d = int(rng.integers(self.d_min, self.d_max + 1))
        n_obs = int(rng.integers(self.n_obs_range[0], self.n_obs_range[1] + 1))
        n_int = 0 if rng.random() < self.p_obs_only else int(rng.integers(1, self.n_int_max + 1))
        batch = max(1, round(self.batch_size * 600 / ((n_obs + n_int) * d)))
        n_groups = min(self.groups, batch)
        sizes = np.diff(np.linspace(0, batch, n_groups + 1).round().astype(int))
        parts = []
        domain = DOMAINS[self.domain].domain
        for size in sizes[sizes > 0]:
            setting, scale = domain.sample_training_config(rng, int(size))  # the broad prior of the domain
            parts.append(
                simulate_histories(rng, setting, int(size), d, n_obs, n_int, design_kind="mixed", value_scale=scale)
            )
        return Histories(
            np.concatenate([p.values for p in parts]),
            np.concatenate([p.intervened for p in parts]),
            np.concatenate([p.adjacency for p in parts]),
        )
