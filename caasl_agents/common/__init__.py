"""Building blocks shared by the agents: network layers and the SB3 vector-env adapter."""
