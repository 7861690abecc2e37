"""Classical structure-learning baselines; their dependencies are the ``baselines`` extra
(``pip install 'caasl[baselines]'``), checked when a baseline runs, not on import."""
