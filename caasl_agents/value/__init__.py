"""Amortised designs by a learned one-step value (:mod:`~caasl_agents.value.designer`): a network that scores
whole candidate designs from the history, trained by regression on a teacher's scores
(``python -m benchmarks.one_step_value``), ensembles of such networks (``python -m caasl_agents.value.ensemble``),
and the shipped designers (:mod:`~caasl_agents.value.shipped`)."""

from caasl_agents.value.designer import ValueDesigner, history_generator
from caasl_agents.value.network import ValueEnsemble, ValueNet
from caasl_agents.value.shipped import (
    available_value_designers,
    load_value_designer,
    load_value_net,
    save_value_net,
)

__all__ = [
    "ValueDesigner",
    "ValueEnsemble",
    "ValueNet",
    "available_value_designers",
    "history_generator",
    "load_value_designer",
    "load_value_net",
    "save_value_net",
]
