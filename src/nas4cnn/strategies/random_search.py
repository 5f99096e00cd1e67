"""Random search: every genotype drawn uniformly from the space."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from nas4cnn.core.space import Genotype, SearchSpace


class RandomSearch:
    def __init__(self, space: SearchSpace, population: int = 20, seed: int = 0, batch: int | None = None):
        self.space = space
        self.batch = batch or population
        self.rng = np.random.default_rng(seed)

    def ask(self) -> list[Genotype]:
        return [self.space.random_genotype(self.rng) for _ in range(self.batch)]

    def tell(self, genotypes: Sequence[Genotype], results: Sequence) -> None:
        pass

    def state_dict(self) -> dict:
        return {"rng": self.rng.bit_generator.state}

    def load_state_dict(self, state: dict) -> None:
        self.rng.bit_generator.state = state["rng"]
