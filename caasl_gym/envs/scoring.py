"""Reward models and the score ``S(h)`` the environments telescope into rewards.

Two scores are available (the ``reward`` kwarg), both computed in closed form from the reward model's
edge probabilities ``p = q(A | h)`` ``(B, d, d)`` and the true adjacency ``A``:

* ``"expected_correct"`` (default, the CAASL paper's reward): ``S = sum_ij A p + (1 - A)(1 - p)`` over
  all ``d^2`` entries, diagonal included (it adds the constant ``d`` since ``p_ii = 0``);
* ``"log_likelihood"`` (Barber–Agakov variant): ``S = sum_{i != j} log q(A_ij)`` over the ``d(d-1)``
  off-diagonal entries only, with probabilities clipped to ``[1e-6, 1 - 1e-6]``.

Reward models given by name or path are loaded once per ``(name, device)`` and shared by every env
of the process.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from caasl_gym.metrics import expected_correct, log_likelihood

LOG_LIKELIHOOD_EPS = 1e-6
"""Probabilities are clipped to ``[eps, 1 - eps]`` inside the log-likelihood score."""

_MODEL_CACHE: dict[tuple[str, str], Any] = {}


def register_reward_model(name: str, model: Any, device: str = "cpu", *, replace: bool = False) -> None:
    """Make ``gym.make(id, reward_model=name)`` use ``model`` in this process (and in forked workers).

    Env kwargs stay JSON-serialisable (the name, not the object), so ``env.spec.to_json()``, pickling
    and ``AsyncVectorEnv`` keep working.

    Args:
        name: the name to register; shipped names and ``"exact"`` cannot be shadowed.
        model: an object with ``edge_probabilities(values, intervened, mask)`` (and a ``domain``
            attribute, ``"linear"`` or ``"sergio"``, to have it checked against the env's).
        device: the device key the envs look it up under.
        replace: allow re-registering ``name`` with another object.

    Raises:
        ValueError: a reserved name, an object without ``edge_probabilities``, or a name already taken.
    """
    from caasl_gym.reward.loading import EXACT_MODEL, SHIPPED_MODELS

    if name in (*SHIPPED_MODELS, EXACT_MODEL):
        raise ValueError(f"{name!r} is a built-in reward model name; choose another")
    if not callable(getattr(model, "edge_probabilities", None)):
        raise ValueError(f"a reward model needs an edge_probabilities(values, intervened, mask) method, got {model!r}")
    key = (name, str(device))
    if key in _MODEL_CACHE and _MODEL_CACHE[key] is not model and not replace:
        raise ValueError(f"reward model name {name!r} is already registered; pass replace=True to overwrite it")
    _MODEL_CACHE[key] = model


def resolve_reward_model(spec: Any, device: str = "cpu", config: Any = None) -> Any:
    """Turn the ``reward_model`` kwarg into an object with ``edge_probabilities``.

    Args:
        spec: a shipped model name (e.g. ``"linear"``), ``"exact"``, a path to saved weights, or an object
            with an ``edge_probabilities(values, intervened, mask)`` method (used as is).
        device: torch device for models loaded by name or path.
        config: the env configuration; ``"exact"`` is built for its prior (edge density, weight mean).

    Returns:
        The model; loaded models are cached per ``(name, device)``.

    Raises:
        ValueError: ``"exact"`` on a non-linear env or with ``d > 12``; a model whose domain differs from
            the env's.
    """
    if callable(getattr(spec, "edge_probabilities", None)):
        return spec
    if spec == "exact" and config is not None:
        from caasl_gym.reward.exact import ExactLinearPosterior

        return ExactLinearPosterior.for_config(config, device=device)
    if isinstance(spec, str | os.PathLike):
        key = (os.fspath(spec), str(device))
        if key not in _MODEL_CACHE:
            from caasl_gym.reward import load_reward_model

            _MODEL_CACHE[key] = load_reward_model(key[0], device=device)
        model = _MODEL_CACHE[key]
        domain = getattr(config, "domain", None)
        if domain is not None and getattr(model, "domain", domain) != domain:
            raise ValueError(
                f"reward model {key[0]!r} was trained on the {model.domain!r} domain, but this environment "
                f"is {domain!r}; use a {domain} model (e.g. reward_model={domain!r})"
            )
        return model
    raise ValueError(f"cannot use {spec!r} as a reward model")


def score(probs: np.ndarray, adjacency: np.ndarray, kind: str = "expected_correct") -> np.ndarray:
    """The score ``S(h)`` of each posterior (see the module docstring).

    Args:
        probs: ``(B, d, d)`` edge probabilities.
        adjacency: ``(B, d, d)`` bool true graphs.
        kind: ``"expected_correct"`` or ``"log_likelihood"``.

    Returns:
        ``(B,)`` float64.
    """
    if kind == "expected_correct":
        return expected_correct(probs, adjacency)
    if kind == "log_likelihood":
        return log_likelihood(probs, adjacency, eps=LOG_LIKELIHOOD_EPS)
    raise ValueError(f"unknown reward {kind!r}")
