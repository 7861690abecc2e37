"""caasl_agents: transformer policies and REDQ (on Stable-Baselines3's SAC) for caasl_gym environments."""

__version__ = "0.1.0"
