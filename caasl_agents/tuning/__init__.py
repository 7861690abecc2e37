"""The parts of the sweep CLI ``python -m caasl_agents.tune`` (:mod:`caasl_agents.tune`).

:mod:`~caasl_agents.tuning.space` (search spaces), :mod:`~caasl_agents.tuning.config` (the sweep's
configuration and each trial's :class:`~caasl_agents.train_config.TrainConfig`),
:mod:`~caasl_agents.tuning.trial` (the Ray Tune trainable: the train CLI's run with validation reports) and
:mod:`~caasl_agents.tuning.results` (tables, plot and ``best.json``). Ray (the ``tune`` extra) is imported
only when a sweep runs; importing ``caasl_agents`` never imports it.
"""
