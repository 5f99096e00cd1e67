"""Regularized (aging) evolution (Real et al., 2019): tournament selection, mutate the
winner, remove the oldest. Each ask makes `batch` children from the current population."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from nas4cnn.core.space import Genotype, SearchSpace
from nas4cnn.strategies.evolution import mutate_one_gene


class RegularizedEvolution:
    def __init__(self, space: SearchSpace, population: int = 20, seed: int = 0, batch: int | None = None,
                 sample: int | None = None):
        self.space = space
        self.size = population
        self.batch = batch or population
        self.sample = sample or max(2, population // 4)
        self.rng = np.random.default_rng(seed)
        self.population: list[tuple[Genotype, float]] = []  # oldest first

    def ask(self) -> list[Genotype]:
        if len(self.population) < self.size:
            return [self.space.random_genotype(self.rng) for _ in range(self.size - len(self.population))]
        children = []
        for _ in range(self.batch):
            picks = self.rng.choice(len(self.population), size=min(self.sample, len(self.population)), replace=False)
            parent = min((self.population[i] for i in sorted(picks)), key=lambda ind: ind[1])[0]
            children.append(mutate_one_gene(parent, self.space, self.rng, must_change=True))
        return children

    def tell(self, genotypes: Sequence[Genotype], results: Sequence) -> None:
        self.population.extend((tuple(g), float(r.objective)) for g, r in zip(genotypes, results))
        del self.population[: max(0, len(self.population) - self.size)]

    @property
    def best(self) -> tuple[Genotype, float]:
        return min(self.population, key=lambda ind: ind[1])

    def state_dict(self) -> dict:
        return {"population": [[list(g), o] for g, o in self.population], "rng": self.rng.bit_generator.state}

    def load_state_dict(self, state: dict) -> None:
        self.population = [(tuple(g), float(o)) for g, o in state["population"]]
        self.rng.bit_generator.state = state["rng"]
