"""One evaluation engine: design strategies, the batched rollout, paired statistics and seed families.

::

    from caasl_gym.evaluation import TEST, ObservationalStrategy, RandomStrategy, evaluate, final, summarize

    episodes = evaluate("CausalLinear-v0", [RandomStrategy(), ObservationalStrategy()], 100, TEST.start,
                        metrics=True)            # one row per (strategy, episode, t): score S(h_t), ...
    table = final(summarize(episodes))           # score and gain S(h_T) - S_Random(h_T) at t = T, 95% CIs

A trained ``caasl_agents`` policy plugs in as ``caasl_agents.evaluation.PolicyStrategy``. The privileged
:class:`PrivilegedProbe` (``probe.py``) is a headroom reference that reads the hidden model, not a strategy.
This package never imports ``caasl_agents`` or ``benchmarks``.
"""

from caasl_gym.evaluation.probe import PROBE_NAME, PrivilegedProbe
from caasl_gym.evaluation.rollout import DEFAULT_CHUNK, METRICS, Rollout, evaluate, rollout
from caasl_gym.evaluation.seeds import (
    FAMILIES,
    STRATEGY_SEED,
    TEST,
    TRAIN,
    VALIDATION,
    SeedFamily,
    check_in_family,
    family_of,
    strategy_rngs,
)
from caasl_gym.evaluation.stats import final, mean_ci95, paired_difference, summarize
from caasl_gym.evaluation.strategies import ObservationalStrategy, RandomStrategy, RoundRobinStrategy, Strategy

__all__ = [
    "DEFAULT_CHUNK",
    "FAMILIES",
    "METRICS",
    "PROBE_NAME",
    "STRATEGY_SEED",
    "TEST",
    "TRAIN",
    "VALIDATION",
    "ObservationalStrategy",
    "PrivilegedProbe",
    "RandomStrategy",
    "Rollout",
    "RoundRobinStrategy",
    "SeedFamily",
    "Strategy",
    "check_in_family",
    "evaluate",
    "family_of",
    "final",
    "mean_ci95",
    "paired_difference",
    "rollout",
    "strategy_rngs",
    "summarize",
]
