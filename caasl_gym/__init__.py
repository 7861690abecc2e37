"""caasl_gym: Gymnasium environments for amortized active causal structure learning.

Importing the package registers every environment id (see :mod:`caasl_gym.registration`).
"""

__version__ = "0.1.0"
