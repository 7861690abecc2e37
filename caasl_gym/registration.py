"""Every environment id, registered from one table of domains.

Each domain module (:mod:`caasl_gym.envs.linear`, :mod:`caasl_gym.envs.sergio`) ends with a
:class:`~caasl_gym.envs.domain.DomainEntry`: its env classes and its ids, each a dict of kwargs
overrides of the training prior (OOD variants change the prior, never the code). Importing
:mod:`caasl_gym` calls :func:`register_envs`, which is idempotent; subprocess workers can also use
``gym.make("caasl_gym:CausalLinear-v0")``. A new domain is one module plus one row in :data:`ENTRIES`
(or :func:`register_domain` from outside the package).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym

from caasl_gym.envs import linear, sergio
from caasl_gym.envs.config import DesignConfig, build_config
from caasl_gym.envs.domain import DomainEntry

ENTRIES: tuple[DomainEntry, ...] = (linear.ENTRY, sergio.ENTRY)
"""The shipped domains, one row each."""
DOMAINS: dict[str, DomainEntry] = {}
"""Every registered domain by name (the shipped ones plus any added with :func:`register_domain`)."""

CAUSAL_LINEAR_IDS = tuple(linear.ENTRY.ids)
SERGIO_KNOCKOUT_IDS = tuple(sergio.ENTRY.ids)
BASE_IDS = tuple(e.training_id for e in ENTRIES)
"""The training priors (in-distribution)."""
ALL_IDS = tuple(i for e in ENTRIES for i in e.ids)
"""Every shipped id, in-distribution first within each domain."""
OOD_IDS = tuple(i for i in ALL_IDS if i not in BASE_IDS)
"""Zero-shot out-of-distribution variants."""


def register_domain(entry: DomainEntry) -> None:
    """Register a domain and each of its ids with Gymnasium (ids already registered are kept).

    Episodes terminate by themselves after ``budget`` steps, so no ``TimeLimit`` is added
    (``max_episode_steps=None``).

    Raises:
        ValueError: another domain of the same name, or an id owned by another domain.
    """
    known = DOMAINS.get(entry.name)
    if known is not None and known != entry:
        raise ValueError(f"a different domain named {entry.name!r} is already registered")
    for env_id in entry.ids:
        if _owner(env_id) not in (None, entry):
            raise ValueError(f"id {env_id!r} already belongs to the {_owner(env_id).name!r} domain")
    DOMAINS[entry.name] = entry
    for env_id, kwargs in entry.ids.items():
        if env_id not in gym.registry:
            gym.register(
                id=env_id,
                entry_point=f"{entry.env.__module__}:{entry.env.__qualname__}",
                vector_entry_point=f"{entry.vector_env.__module__}:{entry.vector_env.__qualname__}",
                max_episode_steps=None,
                kwargs=dict(kwargs),
            )


def register_envs() -> None:
    """Register every shipped domain (no-op for ids already registered)."""
    for entry in ENTRIES:
        register_domain(entry)


def _owner(env_id: str) -> DomainEntry | None:
    return next((e for e in DOMAINS.values() if env_id in e.ids), None)


def domain_entry(env_id: str) -> DomainEntry:
    """The :class:`~caasl_gym.envs.domain.DomainEntry` of a registered id; ``ValueError`` lists the ids."""
    entry = _owner(env_id)
    if entry is None:
        ids = [i for e in DOMAINS.values() for i in e.ids]
        raise ValueError(f"unknown environment id {env_id!r}; registered ids: {', '.join(ids)}")
    return entry


def domain_of(env_id: str) -> str:
    """The data domain (e.g. ``"linear"``, ``"sergio"``) of a registered id."""
    return domain_entry(env_id).name


def training_id(env_id: str) -> str:
    """The in-distribution id whose prior trains the policies and reward model used zero-shot on ``env_id``."""
    return domain_entry(env_id).training_id


def config_for(env_id: str, **kwargs: Any) -> DesignConfig:
    """The validated config of ``gym.make(env_id, **kwargs)``, without building the env."""
    entry = domain_entry(env_id)
    return build_config(entry.domain.config_class, {**entry.ids[env_id], **kwargs}, env_id, extra=())
