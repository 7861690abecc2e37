"""Reward-model training: its ``config``, data ``stream`` and ``loop``; the CLI is :mod:`caasl_gym.reward.train`."""
