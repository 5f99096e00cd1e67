"""Best-first neighbourhood search: after a random start, each ask is the untried one-gene
neighbours of the best networks found so far, best parent first. It spends its compute
next to the incumbents, where (with noisy scores) the true optimum most often lies."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from nas4cnn.core.space import Genotype, SearchSpace
from nas4cnn.strategies.local_search import neighbours


class BestFirst:
    def __init__(self, space: SearchSpace, population: int = 20, seed: int = 0, batch: int | None = None):
        self.space = space
        self.batch = batch or population
        self.rng = np.random.default_rng(seed)
        self.scores: dict[Genotype, float] = {}
        self.asked: set[Genotype] = set()
        self.n_networks = space.n_networks

    def ask(self) -> list[Genotype]:
        out: list[Genotype] = []
        if self.scores:
            for parent in sorted(self.scores, key=lambda g: (self.scores[g], g)):
                for n in neighbours(self.space, parent):
                    if n not in self.asked and n not in out:
                        out.append(n)
                        if len(out) == self.batch:
                            return out
        while len(out) < self.batch:  # the start, or every neighbour tried: random genotypes
            g = self.space.canonical(self.space.random_genotype(self.rng))
            if g not in self.asked or len(self.asked) >= self.n_networks:
                out.append(g)
        return out

    def tell(self, genotypes: Sequence[Genotype], results: Sequence) -> None:
        for g, r in zip(genotypes, results):
            c = self.space.canonical(tuple(g))
            self.asked.add(c)
            self.scores[c] = min(self.scores.get(c, float("inf")), float(r.objective))

    def state_dict(self) -> dict:
        return {"scores": [[list(g), s] for g, s in self.scores.items()],
                "asked": [list(g) for g in sorted(self.asked)], "rng": self.rng.bit_generator.state}

    def load_state_dict(self, state: dict) -> None:
        self.scores = {tuple(g): float(s) for g, s in state["scores"]}
        self.asked = {tuple(g) for g in state["asked"]}
        self.rng.bit_generator.state = state["rng"]
