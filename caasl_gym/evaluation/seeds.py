"""The three seed families of the environments' episodes, side by side: train, validation and test.

An episode is identified by its reset seed (copy ``i`` of a vector env reset with ``s`` is episode
``s + i``). The families are disjoint ranges, so a policy is never selected on, or tested on, an
episode it was trained on:

* **train** ``[0, 1_000_000)``: the training CLI resets its ``n`` copies at ``--seed s`` (copies ``s + i``;
  an exact resume restores the environments' state, and only a checkpoint of the older format reseeds
  session ``k`` at ``s + k n``), and the demonstrations of ``caasl_agents.imitate`` use these seeds too;
  every such seed must lie here.
* **validation** ``[1_000_000, 10_000_000)``: the training CLI's final evaluation and checkpoint
  selection (``--eval-seed``, default ``1_000_000``; episodes ``eval_seed + i``).
* **test** ``[10_000_000, 20_000_000)``: every committed benchmark result (episodes ``10_000_000 + i``).

A strategy's own randomness (Random's designs, a policy's sampled noise) comes from one generator per
episode, :func:`strategy_rngs`, so results do not depend on how episodes are batched.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SeedFamily:
    """The half-open range ``[start, stop)`` of episode seeds named ``name``."""

    name: str
    start: int
    stop: int

    def __contains__(self, seed: object) -> bool:
        return isinstance(seed, int | np.integer) and self.start <= int(seed) < self.stop


TRAIN = SeedFamily("train", 0, 1_000_000)
VALIDATION = SeedFamily("validation", 1_000_000, 10_000_000)
TEST = SeedFamily("test", 10_000_000, 20_000_000)
FAMILIES = (TRAIN, VALIDATION, TEST)
"""Every family, in order; :func:`family_of` looks a seed up."""

STRATEGY_SEED = 77
"""Episode ``s``'s strategy generator is ``np.random.default_rng([STRATEGY_SEED, s])``."""


def family_of(seed: int) -> SeedFamily:
    """The family holding ``seed``; ``ValueError`` lists the families' ranges."""
    for family in FAMILIES:
        if seed in family:
            return family
    raise ValueError(f"seed {seed!r} is in no seed family; families: {describe()}")


def check_in_family(seeds: range, family: SeedFamily, what: str = "seeds") -> None:
    """Raise ``ValueError`` unless every seed of ``seeds`` lies in ``family`` (an empty range passes)."""
    if len(seeds) and not (seeds.start in family and seeds[-1] in family):
        raise ValueError(
            f"{what} {seeds.start}..{seeds[-1]} must lie in the {family.name} family "
            f"{family.start}..{family.stop - 1} (families: {describe()})"
        )


def describe() -> str:
    """``"train 0..999999, validation ..."``: the families for error messages."""
    return ", ".join(f"{f.name} {f.start}..{f.stop - 1}" for f in FAMILIES)


def strategy_rngs(seeds: Iterable[int]) -> list[np.random.Generator]:
    """One strategy generator per episode seed: ``np.random.default_rng([STRATEGY_SEED, s])``."""
    return [np.random.default_rng([STRATEGY_SEED, int(s)]) for s in seeds]
