"""Hyperband (Li et al., 2017): brackets of successive halving over training epochs. Many
candidates get few epochs; the best 1/eta of each rung go on with eta times more, up to the
full epochs. One ask is one rung; `epochs` says how long this batch trains. New candidates
are drawn at random."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from ..space import Genotype, SearchSpace


class Hyperband:
    def __init__(self, space: SearchSpace, population: int = 20, seed: int = 0, max_epochs: int = 8,
                 eta: int = 2, min_epochs: int = 1):
        self.space = space
        self.rng = np.random.default_rng(seed)
        self.max_epochs, self.eta = max_epochs, eta
        self.s_max = max(0, int(math.floor(math.log(max_epochs / min_epochs, eta) + 1e-9)))
        self.bracket = self.s_max  # the bracket being run, from the most exploratory down
        self.rung = 0
        self.candidates: list[Genotype] = []

    @property
    def epochs(self) -> int:
        """Training epochs of the batch the next `ask` returns."""
        r = self.max_epochs * self.eta ** -(self.bracket - self.rung)
        return max(1, int(round(r)))

    def _bracket_size(self) -> int:
        s = self.bracket
        return int(math.ceil((self.s_max + 1) / (s + 1) * self.eta**s))

    def ask(self) -> list[Genotype]:
        if self.rung == 0 and not self.candidates:
            self.candidates = [self.space.random_genotype(self.rng) for _ in range(self._bracket_size())]
        return list(self.candidates)

    def tell(self, genotypes: Sequence[Genotype], results: Sequence) -> None:
        order = sorted(range(len(genotypes)), key=lambda i: float(results[i].objective))
        keep = max(1, len(genotypes) // self.eta)
        if self.rung < self.bracket:
            self.candidates = [tuple(genotypes[i]) for i in order[:keep]]
            self.rung += 1
        else:  # bracket finished: the next one (cycling back to the most exploratory)
            self.bracket = self.bracket - 1 if self.bracket > 0 else self.s_max
            self.rung = 0
            self.candidates = []

    def state_dict(self) -> dict:
        return {"bracket": self.bracket, "rung": self.rung, "candidates": [list(g) for g in self.candidates],
                "rng": self.rng.bit_generator.state}

    def load_state_dict(self, state: dict) -> None:
        self.bracket, self.rung = int(state["bracket"]), int(state["rung"])
        self.candidates = [tuple(g) for g in state["candidates"]]
        self.rng.bit_generator.state = state["rng"]
