"""Every random draw comes from a seed derived from the run seed and what it is for,
so results do not depend on worker count, grouping or completion order."""

from collections.abc import Iterable

import numpy as np


def derive_seed(*parts: int | Iterable[int]) -> int:
    flat: list[int] = []
    for p in parts:
        flat.extend(p if isinstance(p, Iterable) else [p])
    return int(np.random.SeedSequence([int(v) for v in flat]).generate_state(1)[0])


# Purposes, so that streams for different uses never coincide.
INIT, DATA_ORDER, STRATEGY, AUGMENT, SUBSET, TABLE_SAMPLE = 1, 2, 3, 4, 5, 6


def init_seed(run_seed: int, genotype: Iterable[int]) -> int:
    """The initialisation seed of a network: the same for the same run seed and genotype."""
    return derive_seed(INIT, run_seed, genotype)
