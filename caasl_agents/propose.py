"""Lab in the loop: the next experiments for a lab's own measurements, from a shipped (or trained) CAASL policy.

::

    from caasl_agents.propose import propose
    proposal = propose("CausalLinear-v0", data, intervened, n_designs=2, seed=0)
    proposal.table()               # the designs: targets and values in the data's units
    proposal.edge_probabilities    # (d, d) posterior edge probabilities, rows = source, columns = target

**Data.** ``data`` is a table ``(n, d)``: one column per variable, one row per sample (cell, unit), in time
order (the last rows are the most recent). ``intervened`` ``(n, d)`` marks the targets of each row (an
all-False row is observational); a :class:`pandas.DataFrame` may instead carry an ``intervention`` column
naming each row's targets, separated by ``;`` (empty = observational).

**Two domains**, the policy's (read from its value transform):

* ``"linear"`` (``CausalLinear-v0`` policy): real-valued measurements. Every variable is z-scored with the
  mean and (population) standard deviation of its *observational* rows, so the data look like the training
  prior's; the policy and the reward model see those z-scores. The policy's intervention values are in
  those standardised units (the environments' ``value_scale = 1``) and are mapped back as
  ``value = mean_j + std_j * z``: the proposals are in the data's units. Needs at least
  :data:`MIN_OBSERVATIONAL_ROWS` observational rows.
* ``"counts"`` (``SergioKnockout-v0`` policy): non-negative single-cell counts, passed on raw (the policy
  and the ``sergio`` reward model normalise counts themselves). Designs are gene knockouts: the value is
  always 0.

**Row budget.** The policy is trained on histories of ``N`` rows (its observation space, 60 for the shipped
ones). A longer history is shown to it as ``max_rows`` rows (default ``N``): the most recent interventional
rows, up to half of ``max_rows`` when there are at least that many observational rows, and observational
rows evenly spaced over all of them for the rest; a warning says how many of each. The edge posterior
always uses every row.

**Batches.** ``n_designs = k`` samples the stochastic policy ``k`` times on the same history, design ``i``
from its own generator (``rng.spawn(k)[i]``), so the first designs of a batch do not depend on ``k``. The
designs need not differ (a likely design can come up twice).

**Value designers.** ``policy="value:CausalLinear-v0"`` (or ``"value:SergioKnockout-v0"``) proposes with the
shipped value designer of that prior (:mod:`caasl_agents.value`), which scores whole candidate experiments
from the history and the proposal's own edge posterior and plays the best; sampled designs draw their
candidates from the design's generator. It has no per-variable target probabilities
(``Proposal.target_probabilities`` is None).
"""

from __future__ import annotations

import copy
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch as th
from stable_baselines3.common.base_class import BaseAlgorithm

import caasl_gym
from caasl_agents.pretrained import available_pretrained, load_pretrained
from caasl_agents.redq import REDQ, designs
from caasl_agents.redq.predict import predict_any_d
from caasl_agents.value import ValueDesigner, load_value_designer
from caasl_gym.envs.core import DesignCore
from caasl_gym.envs.scoring import resolve_reward_model
from caasl_gym.registration import config_for, domain_entry, training_id
from caasl_gym.reward.preprocessing import CONSTANT_RTOL, masked_moments

INTERVENTION_COLUMN = "intervention"
"""Name of the optional column of a data table that names each row's targets (``"a;b"``, empty = none)."""
TARGET_SEPARATOR = ";"
MIN_OBSERVATIONAL_ROWS = 5
"""Observational rows the linear domain needs to estimate each variable's mean and standard deviation."""
LAB_DOMAINS = {"linear": "CausalLinear-v0", "counts": "SergioKnockout-v0"}
"""Each lab domain and the training prior of its policy and reward model."""
LAB_DOMAIN_OF = {env_id: domain for domain, env_id in LAB_DOMAINS.items()}
"""Each training prior and its lab domain."""
VALUE_TRANSFORM_DOMAINS = {"standardize": "linear", "log1p_standardize": "counts"}
"""A policy's value transform and the lab domain it works on."""
VALUE_PREFIX = "value:"
"""``policy="value:<id>"``: the value designer shipped for ``<id>``'s prior instead of its policy."""
_SHIPPED: dict[str, BaseAlgorithm] = {}
_SHIPPED_VALUE: dict[str, ValueDesigner] = {}


@dataclass(frozen=True)
class LabData:
    """A validated table of measurements.

    Attributes:
        names: the ``d`` variable names.
        values: ``(n, d)`` float64 measurements in the data's units.
        intervened: ``(n, d)`` bool targets of each row.
        domain: ``"linear"`` or ``"counts"``.
        mean: ``(d,)`` observational means (linear; 0 for counts).
        std: ``(d,)`` observational standard deviations (linear; 1 for counts).
    """

    names: tuple[str, ...]
    values: np.ndarray
    intervened: np.ndarray
    domain: str
    mean: np.ndarray
    std: np.ndarray

    @property
    def model_values(self) -> np.ndarray:
        """``(n, d)`` what the policy and the reward model see: z-scores (linear) or the counts."""
        return (self.values - self.mean) / self.std

    @property
    def observational(self) -> np.ndarray:
        """``(n,)`` bool, rows without a target."""
        return ~self.intervened.any(axis=1)


@dataclass(frozen=True)
class Proposal:
    """The next experiments and the current posterior.

    Attributes:
        designs: ``k`` designs, each ``{target name: value in the data's units}`` (counts: 0 = knockout; an
            empty dict is an observational experiment).
        standardized_designs: the same values in the policy's standardised units (linear: z-scores).
        target_probabilities: ``(d,)`` probability that the stochastic policy targets each variable (at a ``d``
            other than the policy's training one, rescaled to its ``zero_shot_rate``); None for a value
            designer, which scores whole designs.
        edge_probabilities: ``(d, d)`` reward-model posterior ``P(source -> target | data)`` of every row.
        actions: ``(k, d, 2)`` the policy's raw actions.
        domain, intervention, policy, reward_model: what made the proposal (``intervention`` is ``"do"``
            or ``"knockout"``).
        rows, policy_rows: rows of the data, and rows the policy saw (see the module's row budget).
    """

    designs: tuple[dict[str, float], ...]
    standardized_designs: tuple[dict[str, float], ...]
    target_probabilities: pd.Series | None
    edge_probabilities: pd.DataFrame
    actions: np.ndarray
    domain: str
    intervention: str
    policy: str
    reward_model: str
    rows: int
    policy_rows: int

    def table(self) -> pd.DataFrame:
        """One row per (design, target): ``design, target, value, standardized_value, target_probability``;
        an observational design is one row with an empty target."""
        rows = []
        for i, (design, z) in enumerate(zip(self.designs, self.standardized_designs)):
            for name, value in design.items():
                p = float("nan") if self.target_probabilities is None else float(self.target_probabilities[name])
                rows.append((i, name, value, z[name], p))
            if not design:
                rows.append((i, "", float("nan"), float("nan"), float("nan")))
        columns = ["design", "target", "value", "standardized_value", "target_probability"]
        return pd.DataFrame(rows, columns=columns)

    def top_edges(self, k: int = 10) -> pd.DataFrame:
        """The ``k`` most probable edges: ``source, target, probability``, most probable first."""
        edges = self.edge_probabilities.stack().rename("probability").reset_index()
        edges = edges[edges.source != edges.target]
        return edges.sort_values("probability", ascending=False, kind="stable").head(k).reset_index(drop=True)

    def as_arrays(self, names: tuple[str, ...] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``(k, d)`` bool targets and ``(k, d)`` values in the data's units (NaN where not a target)."""
        names = tuple(self.edge_probabilities.index) if names is None else names
        targets = np.array([[n in design for n in names] for design in self.designs], dtype=bool)
        values = np.array([[design.get(n, np.nan) for n in names] for design in self.designs], dtype=np.float64)
        return targets.reshape(len(self.designs), len(names)), values.reshape(len(self.designs), len(names))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable record of the proposal."""
        return {
            "policy": self.policy,
            "reward_model": self.reward_model,
            "domain": self.domain,
            "intervention": self.intervention,
            "rows": self.rows,
            "policy_rows": self.policy_rows,
            "designs": [dict(d) for d in self.designs],
            "standardized_designs": [dict(d) for d in self.standardized_designs],
            "target_probabilities": None
            if self.target_probabilities is None
            else {k: float(v) for k, v in self.target_probabilities.items()},
            "edge_probabilities": {
                s: {t: float(p) for t, p in row.items()} for s, row in self.edge_probabilities.iterrows()
            },
            "actions": self.actions.tolist(),
        }


# ---------------------------------------------------------------------------------------------- the data
def _frame(data: Any) -> pd.DataFrame:
    if isinstance(data, pd.DataFrame):
        frame = data.copy()
        frame.columns = [str(c) for c in frame.columns]
    else:
        array = np.asarray(data)
        if array.ndim != 2:
            raise ValueError(f"data must be a table (n, d) of samples x variables, got an array of shape {array.shape}")
        frame = pd.DataFrame(array, columns=[f"X{j}" for j in range(array.shape[1])])
    duplicated = frame.columns[frame.columns.duplicated()].tolist()
    if duplicated:
        raise ValueError(f"data has duplicated column names: {', '.join(map(repr, duplicated))}")
    return frame.reset_index(drop=True)


def parse_intervention_column(column: pd.Series, names: tuple[str, ...]) -> np.ndarray:
    """``(n, d)`` bool targets from a column of ``;``-separated variable names (empty or NaN = observational).

    Raises:
        ValueError: a name that is not one of ``names`` (the message names the row and lists the variables),
            an empty name between separators, or a cell that is not text.
    """
    index = {name: j for j, name in enumerate(names)}
    mask = np.zeros((len(column), len(names)), dtype=bool)
    for i, cell in enumerate(column):
        if cell is None or (isinstance(cell, float) and np.isnan(cell)):
            continue
        if not isinstance(cell, str):
            raise ValueError(f"{INTERVENTION_COLUMN!r} column, row {i}: expected variable names, got {cell!r}")
        if not cell.strip():
            continue
        for target in (t.strip() for t in cell.split(TARGET_SEPARATOR)):
            if target not in index:
                what = "an empty name" if not target else f"unknown variable {target!r}"
                raise ValueError(
                    f"{INTERVENTION_COLUMN!r} column, row {i} ({cell!r}): {what}; variables: {', '.join(names)}"
                )
            mask[i, index[target]] = True
    return mask


def _numeric(frame: pd.DataFrame, what: str) -> np.ndarray:
    """``(n, d)`` float64 of a table whose cells must all be finite numbers; errors name column and row."""
    out = np.empty(frame.shape, dtype=np.float64)
    for j, name in enumerate(frame.columns):
        raw = frame[name]
        numbers = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=np.float64)
        for i in np.flatnonzero(~np.isfinite(numbers)):
            cell = raw.iloc[i]
            if pd.isna(cell):
                raise ValueError(f"{what} column {name!r}, row {i}: missing value (empty or NaN)")
            kind = "infinite" if np.isinf(numbers[i]) else "not a number"
            raise ValueError(f"{what} column {name!r}, row {i}: {cell!r} is {kind}")
        out[:, j] = numbers
    return out


def _intervened(intervened: Any, names: tuple[str, ...], n: int) -> np.ndarray:
    if isinstance(intervened, pd.DataFrame):
        columns = [str(c) for c in intervened.columns]
        if sorted(columns) != sorted(names):
            raise ValueError(f"intervened has columns {columns}, the data has {list(names)}; they must match")
        intervened = intervened.set_axis(columns, axis=1)[list(names)]
    mask = np.asarray(intervened)
    if mask.shape != (n, len(names)):
        raise ValueError(f"intervened must have the shape of the data (n, d) = {(n, len(names))}, got {mask.shape}")
    if mask.dtype == bool:
        return mask.copy()
    bad = ~np.isin(mask, (0, 1)) if np.issubdtype(mask.dtype, np.number) else np.ones(mask.shape, dtype=bool)
    if bad.any():
        i, j = np.argwhere(bad)[0]
        raise ValueError(f"intervened column {names[j]!r}, row {i}: {mask[i, j].item()!r} is not True/False or 1/0")
    return mask != 0


def _observational_moments(values: np.ndarray, observational: np.ndarray, names: tuple[str, ...]):
    count = int(observational.sum())
    if count < MIN_OBSERVATIONAL_ROWS:
        raise ValueError(
            f"the linear domain standardises each variable with its observational mean and std, which needs at "
            f"least {MIN_OBSERVATIONAL_ROWS} observational rows (rows without a target); the data has {count}"
        )
    mean, var = masked_moments(values, observational[:, None], axis=0)
    mean, std = mean[0], np.sqrt(var[0])
    constant = std <= CONSTANT_RTOL * (1.0 + np.abs(mean))
    if constant.any():
        j = int(np.flatnonzero(constant)[0])
        raise ValueError(
            f"column {names[j]!r} is constant (= {mean[j]:g}) in the observational rows, so it cannot be "
            "standardised; drop it or measure it in more conditions"
        )
    return mean, std


def _check_counts(values: np.ndarray, names: tuple[str, ...]) -> None:
    negative = np.argwhere(values < 0)
    if len(negative):
        i, j = negative[0]
        raise ValueError(f"column {names[j]!r}, row {i}: {values[i, j]:g} is negative; counts must be >= 0")
    constant = values.min(axis=0) == values.max(axis=0)
    unexpressed = constant & (values.max(axis=0) == 0)
    if (constant & ~unexpressed).any():
        j = int(np.flatnonzero(constant & ~unexpressed)[0])
        raise ValueError(
            f"column {names[j]!r} is constant (= {values[0, j]:g}) in every row, so it carries no information "
            "about the graph; drop it"
        )
    if unexpressed.any():  # ordinary in single-cell data (and in the SERGIO training prior): kept as they are
        warnings.warn(
            f"genes with zero counts in every cell: {', '.join(names[j] for j in np.flatnonzero(unexpressed))}; "
            "they are kept (the counts preprocessing maps them to 0) but carry no information about the graph",
            stacklevel=3,
        )


def check_data(data: Any, intervened: Any = None, domain: str = "linear") -> LabData:
    """Validate a lab's table of measurements (see the module docstring); nothing is dropped or altered.

    Args:
        data: ``(n, d)`` a :class:`pandas.DataFrame` (column names = variable names; an optional
            :data:`INTERVENTION_COLUMN`) or an array (variables named ``X0 .. X{d-1}``).
        intervened: ``(n, d)`` bool (or 0/1) targets of each row, an array or a DataFrame with the data's
            column names; None = all rows observational (or the intervention column).
        domain: ``"linear"`` or ``"counts"``.

    Raises:
        ValueError: the message names the column and row (0-based, the first data row is row 0) of a
            non-numeric, missing or infinite cell, a constant column, an unknown target, a negative count;
            or fewer than 2 variables, too few observational rows (linear), a mismatched ``intervened``.
    """
    if domain not in LAB_DOMAINS:
        raise ValueError(f"unknown domain {domain!r}; valid choices: {', '.join(LAB_DOMAINS)}")
    frame = _frame(data)
    column = None
    if INTERVENTION_COLUMN in frame.columns:
        if intervened is not None:
            raise ValueError(f"give the targets either as an {INTERVENTION_COLUMN!r} column or as intervened, not both")
        column = frame.pop(INTERVENTION_COLUMN)
    names = tuple(frame.columns)
    if len(names) < 2:
        raise ValueError(f"a causal graph needs at least 2 variables (columns), the data has {len(names)}: {names}")
    if len(frame) < 1:
        raise ValueError("the data has no rows")
    values = _numeric(frame, "data")
    if column is not None:
        mask = parse_intervention_column(column, names)
    elif intervened is None:
        mask = np.zeros(values.shape, dtype=bool)
    else:
        mask = _intervened(intervened, names, len(frame))
    if domain == "counts":
        _check_counts(values, names)
        mean, std = np.zeros(len(names)), np.ones(len(names))
    else:
        mean, std = _observational_moments(values, ~mask.any(axis=1), names)
    return LabData(names, values, mask, domain, mean, std)


# ---------------------------------------------------------------------------------------------- the policy
def load_policy(policy: Any) -> tuple[BaseAlgorithm, str]:
    """``(model, label)`` of a loaded model, a shipped id (an OOD id uses its training prior's policy), a run
    folder (its ``model.zip``) or a ``.zip`` path."""
    if isinstance(policy, BaseAlgorithm):
        return policy, type(policy).__name__
    if not isinstance(policy, str | os.PathLike):
        raise ValueError(f"policy must be a loaded model, a shipped id or a path, got {type(policy).__name__}")
    text = os.fspath(policy)
    shipped = available_pretrained()
    base = training_id(text) if text in caasl_gym.ALL_IDS else text
    if base in shipped:
        if base not in _SHIPPED:
            _SHIPPED[base] = load_pretrained(base)
        return _SHIPPED[base], base
    path = Path(text)
    if path.is_dir():
        path = path / "model.zip"
        if not path.is_file():
            raise ValueError(f"run folder {text} has no model.zip (a finished run of python -m caasl_agents.train)")
    if not path.is_file():
        raise ValueError(f"unknown policy {text!r}: not a shipped id ({', '.join(shipped)}), a run folder or a .zip")
    return REDQ.load(path, device="cpu"), str(path)


def value_designer_id(policy: Any) -> str | None:
    """The id ``<id>`` of ``policy="value:<id>"`` (None for any other policy).

    Raises:
        ValueError: an id that is not registered or whose prior has no lab domain (the message lists them).
    """
    if not isinstance(policy, str) or not policy.startswith(VALUE_PREFIX):
        return None
    env_id = policy.removeprefix(VALUE_PREFIX)
    if env_id not in caasl_gym.ALL_IDS or training_id(env_id) not in LAB_DOMAIN_OF:
        valid = ", ".join(VALUE_PREFIX + i for i in LAB_DOMAINS.values())
        raise ValueError(f"unknown value designer {policy!r}; valid: {valid} (or an OOD id of those priors)")
    return env_id


def value_designer(env_id: str, reward: Any) -> ValueDesigner:
    """The value designer shipped for ``env_id``'s prior, reading ``reward``'s posterior; its network is loaded
    (and its sha256 checked) once per process, as the shipped policies are."""
    base = training_id(env_id)
    if base not in _SHIPPED_VALUE:
        _SHIPPED_VALUE[base] = load_value_designer(base, model=reward)
    designer = copy.copy(_SHIPPED_VALUE[base])  # shares the network, reads this proposal's reward model
    designer.model = reward
    return designer


def policy_domain(model: BaseAlgorithm) -> str:
    """The lab domain of a per-variable policy, from its value transform."""
    kwargs = getattr(model.policy, "features_extractor_kwargs", None) or {}
    transform = kwargs.get("value_transform")
    if transform not in VALUE_TRANSFORM_DOMAINS:
        raise ValueError(
            f"the policy has no per-variable transformer extractor with a known value transform ({transform!r}); "
            "propose needs a caasl TransformerPolicy (e.g. a shipped id)"
        )
    return VALUE_TRANSFORM_DOMAINS[transform]


def policy_view(lab: LabData, max_rows: int) -> tuple[np.ndarray, int]:
    """The history the policy sees: ``(max(n', max_rows), d, 3)`` (value, intervened, filled; padded) and the
    number ``n'`` of rows in it (see the module docstring for the rule beyond ``max_rows``)."""
    n = len(lab.values)
    rows = np.arange(n)
    if n > max_rows:
        obs, inter = rows[lab.observational], rows[~lab.observational]
        n_inter = min(len(inter), max_rows - min(len(obs), max_rows // 2))
        n_obs = max_rows - n_inter
        keep_obs = obs[np.linspace(0, len(obs) - 1, n_obs).round().astype(int)] if n_obs else obs[:0]
        rows = np.sort(np.concatenate([keep_obs, inter[len(inter) - n_inter :]]))
        warnings.warn(
            f"the data has {n} rows, more than the policy's max_rows={max_rows}: the policy sees {n_obs} of the "
            f"{len(obs)} observational rows (evenly spaced) and the {n_inter} most recent of the {len(inter)} "
            f"interventional rows; the edge posterior uses all {n} rows",
            UserWarning,
            stacklevel=3,
        )
    history = np.zeros((max(len(rows), max_rows), len(lab.names), 3), dtype=np.float32)
    history[: len(rows), :, 0] = lab.model_values[rows]
    history[: len(rows), :, 1] = lab.intervened[rows]
    history[: len(rows), :, 2] = 1.0
    return history, len(rows)


def target_probabilities(model: BaseAlgorithm, history: np.ndarray) -> np.ndarray:
    """``(d,)`` probability that a sampled action targets each variable: ``P(mean + std * eps > 0)``."""
    policy = model.policy
    policy.set_training_mode(False)
    with th.inference_mode():
        mean, log_std, _ = policy.actor.get_action_dist_params(th.as_tensor(history[None], device=policy.device))
    return designs.target_probabilities(mean.double(), log_std.double(), policy.action_space.shape[-1])[0].cpu().numpy()


# ---------------------------------------------------------------------------------------------- proposing
def _reward_model(spec: Any, lab: LabData):
    """``(model, label)`` of a reward-model spec (``"auto"``: the environments' default for d)."""
    env_id = LAB_DOMAINS[lab.domain]
    config = config_for(env_id, num_nodes=len(lab.names))
    spec = config.reward_model if isinstance(spec, str) and spec == "auto" else spec
    label = os.fspath(spec) if isinstance(spec, str | os.PathLike) else type(spec).__name__
    try:
        model = resolve_reward_model(spec, config=config)
    except ValueError as err:
        raise ValueError(f"reward model {label!r} cannot score this data (d = {len(lab.names)}): {err}") from None
    return model, label


def edge_posterior(lab: LabData, model: Any) -> pd.DataFrame:
    """``(d, d)`` edge probabilities of every row of ``lab`` under ``model``; rows = source, columns = target."""
    probs = model.edge_probabilities(lab.model_values[None], lab.intervened[None], None)[0]
    index = pd.Index(lab.names, name="source")
    return pd.DataFrame(np.asarray(probs, dtype=np.float64), index=index, columns=pd.Index(lab.names, name="target"))


def posterior(data: Any, intervened: Any = None, reward_model: Any = "auto", domain: str = "linear") -> pd.DataFrame:
    """``(d, d)`` edge posterior of a lab's data (every row), without a policy; arguments as :func:`propose`."""
    lab = check_data(data, intervened, domain)
    return edge_posterior(lab, _reward_model(reward_model, lab)[0])


def decode_actions(actions: np.ndarray, lab: LabData) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Designs of ``(k, d, 2)`` actions, decoded as the lab domain's environments decode them.

    Returns:
        ``(k, d)`` bool targets, ``(k, d)`` values in the policy's standardised units and ``(k, d)`` values in
        the data's units (linear: ``mean + std * value``; counts: 0, a knockout); NaN where not a target.
    """
    config = config_for(LAB_DOMAINS[lab.domain], num_nodes=len(lab.names))
    core = DesignCore(config, domain_entry(LAB_DOMAINS[lab.domain]).domain(config), batch=len(actions))
    targets, z = core.parse_actions(actions)
    return targets, np.where(targets, z, np.nan), np.where(targets, lab.mean + lab.std * z, np.nan)


def propose(
    policy: Any,
    data: Any,
    intervened: Any = None,
    n_designs: int = 1,
    seed: int | np.random.Generator | None = None,
    reward_model: Any = "auto",
    *,
    domain: str | None = None,
    max_rows: int | None = None,
    deterministic: bool = False,
) -> Proposal:
    """Propose the next ``n_designs`` experiments for a lab's data and report the current edge posterior.

    Args:
        policy: a loaded REDQ model (:func:`~caasl_agents.pretrained.load_pretrained`, ``REDQ.load``), a shipped
            id (``"CausalLinear-v0"``, ``"SergioKnockout-v0"``), a run folder or a ``model.zip`` path; or
            ``"value:<shipped id>"`` for that prior's value designer (module docstring).
        data: ``(n, d)`` measurements in the lab's units (see :func:`check_data`), rows in time order.
        intervened: ``(n, d)`` bool targets of each row; None = all observational (or the data's
            ``intervention`` column).
        n_designs: ``k >= 1`` designs for one round, sampled independently from the policy.
        seed: an int or a :class:`numpy.random.Generator` (the only randomness); None = fresh entropy.
        reward_model: ``"auto"`` (linear: ``"exact"`` for d <= 12, else ``"linear"``; counts: ``"sergio"``), a
            shipped name, a path, or an object with ``edge_probabilities``.
        domain: ``"linear"`` or ``"counts"``; None = the policy's (a mismatch raises).
        max_rows: rows the policy sees (default: its training row budget ``N``); see the module docstring.
        deterministic: the policy's deterministic design (:mod:`caasl_agents.redq.designs`) instead of a sample; only
            with ``n_designs = 1``.

    Returns:
        A :class:`Proposal`: the designs in the data's units (linear values are mapped back from the
        standardised units with the observational mean and std), the policy's per-variable target
        probabilities and the edge posterior.

    Raises:
        ValueError: bad data (see :func:`check_data`), a policy or reward model that does not fit it.
    """
    if domain is not None and domain not in LAB_DOMAINS:
        raise ValueError(f"unknown domain {domain!r}; valid choices: {', '.join(LAB_DOMAINS)}")
    value_id = value_designer_id(policy)
    if value_id is None:
        model, label = load_policy(policy)
        own, rows = policy_domain(model), int(model.observation_space.shape[0])
    else:
        model, label = None, str(policy)
        own, rows = LAB_DOMAIN_OF[training_id(value_id)], config_for(value_id).num_rows
    if domain is not None and domain != own:
        raise ValueError(
            f"the policy {label!r} works on the {own!r} domain, not {domain!r}; e.g. use {LAB_DOMAINS[domain]}"
        )
    if isinstance(n_designs, bool) or not isinstance(n_designs, int | np.integer) or n_designs < 1:
        raise ValueError(f"n_designs must be an integer >= 1, got {n_designs!r}")
    if deterministic and n_designs > 1:
        raise ValueError("deterministic=True gives one design; sample (deterministic=False) for n_designs > 1")
    budget = rows if max_rows is None else max_rows
    if isinstance(budget, bool) or not isinstance(budget, int | np.integer) or budget < 1:
        raise ValueError(f"max_rows must be an integer >= 1, got {max_rows!r}")
    lab = check_data(data, intervened, own)
    reward, reward_label = _reward_model(reward_model, lab)
    posterior = edge_posterior(lab, reward)
    history, seen = policy_view(lab, int(budget))
    rngs = np.random.default_rng(seed).spawn(int(n_designs))
    # one history at a time (not a batch), so design i is bit for bit the same whatever n_designs is
    if model is None:
        designer = value_designer(value_id, reward)
        if deterministic:
            actions = designer.predict(history, deterministic=True)[0][None]
        else:
            actions = np.stack([designer.design(history[None], [r])[0] for r in rngs])
        probabilities = None
    else:
        actions = np.stack(
            [predict_any_d(model, history, deterministic=deterministic, rng=None if deterministic else r) for r in rngs]
        )
        probabilities = pd.Series(target_probabilities(model, history), index=list(lab.names), name="p_target")
    targets, z, user = decode_actions(actions, lab)
    pick = [np.flatnonzero(t) for t in targets]
    return Proposal(
        designs=tuple({lab.names[j]: float(user[i, j]) for j in p} for i, p in enumerate(pick)),
        standardized_designs=tuple({lab.names[j]: float(z[i, j]) for j in p} for i, p in enumerate(pick)),
        target_probabilities=probabilities,
        edge_probabilities=posterior,
        actions=np.asarray(actions, dtype=np.float64),
        domain=lab.domain,
        intervention="knockout" if lab.domain == "counts" else "do",
        policy=label,
        reward_model=reward_label,
        rows=len(lab.values),
        policy_rows=seen,
    )
