"""Hyperband (Li et al., 2017): brackets of successive halving over training epochs. Many
candidates get few epochs; the best 1/eta of each rung go on with eta times more, up to the
full epochs. One ask is one rung; `epochs` says how long this batch trains.

Alone, each bracket's candidates are drawn at random, as many as Hyperband's schedule says.
Around another strategy (`inner`, e.g. `hyperband+regularized-evolution`), each bracket
starts from one batch that strategy asks for; when the bracket ends, the strategy is told
each candidate's result at the most epochs it was trained, so it learns from the cheap
early rungs as well (a candidate dropped early reports its short-training objective)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from nas4cnn.core.record import Evaluation, Status
from nas4cnn.core.space import Genotype, SearchSpace
from nas4cnn.strategies.base import Strategy


class Hyperband:
    def __init__(self, space: SearchSpace, population: int = 20, seed: int = 0, max_epochs: int = 8,
                 eta: int = 2, min_epochs: int = 1, inner: Strategy | None = None):
        self.space = space
        self.rng = np.random.default_rng(seed)
        self.max_epochs, self.eta = max_epochs, eta
        self.s_max = max(0, int(math.floor(math.log(max_epochs / min_epochs, eta) + 1e-9)))
        self.bracket = self.s_max  # the bracket being run, from the most exploratory down
        self.rung = 0
        self.candidates: list[Genotype] = []
        self.inner = inner
        self.batch: list[Genotype] = []  # the inner strategy's proposals for this bracket
        self.latest: dict[Genotype, Evaluation] = {}  # each one's result at the most epochs so far

    @property
    def epochs(self) -> int:
        """Training epochs of the batch the next `ask` returns."""
        r = self.max_epochs * self.eta ** -(self.bracket - self.rung)
        return max(1, int(round(r)))

    @property
    def first_full_batch(self) -> int:
        """The number of the first batch (0 = the first ask) trained for the full epochs: the
        top rung of the first, most exploratory bracket."""
        return self.s_max

    def _bracket_size(self) -> int:
        s = self.bracket
        return int(math.ceil((self.s_max + 1) / (s + 1) * self.eta**s))

    def ask(self) -> list[Genotype]:
        if self.rung == 0 and not self.candidates:
            if self.inner is None:
                self.candidates = [self.space.random_genotype(self.rng) for _ in range(self._bracket_size())]
            else:
                self.batch = [tuple(g) for g in self.inner.ask()]
                self.candidates = list(self.batch)
        return list(self.candidates)

    def tell(self, genotypes: Sequence[Genotype], results: Sequence) -> None:
        if self.inner is not None:
            for g, r in zip(genotypes, results):
                self.latest[tuple(g)] = r
        order = sorted(range(len(genotypes)), key=lambda i: float(results[i].objective))
        keep = max(1, len(genotypes) // self.eta)
        if self.rung < self.bracket:
            self.candidates = [tuple(genotypes[i]) for i in order[:keep]]
            self.rung += 1
        else:  # bracket finished: the next one (cycling back to the most exploratory)
            self.bracket = self.bracket - 1 if self.bracket > 0 else self.s_max
            self.rung = 0
            self.candidates = []
            if self.inner is not None:
                self.inner.tell(self.batch, [self.latest[g] for g in self.batch])
                self.batch, self.latest = [], {}

    def state_dict(self) -> dict:
        state = {"bracket": self.bracket, "rung": self.rung, "candidates": [list(g) for g in self.candidates],
                 "rng": self.rng.bit_generator.state}
        if self.inner is not None:
            state["inner"] = self.inner.state_dict()
            state["batch"] = [list(g) for g in self.batch]
            state["latest"] = [[list(g), e.to_dict()] for g, e in self.latest.items()]
        return state

    def load_state_dict(self, state: dict) -> None:
        self.bracket, self.rung = int(state["bracket"]), int(state["rung"])
        self.candidates = [tuple(g) for g in state["candidates"]]
        self.rng.bit_generator.state = state["rng"]
        if self.inner is not None:
            self.inner.load_state_dict(state["inner"])
            self.batch = [tuple(g) for g in state["batch"]]
            self.latest = {tuple(item[0]): self._outcome(item) for item in state["latest"]}

    def _outcome(self, item: list) -> Evaluation:
        """A stored result: [genotype, record] (or, from runs before records had a status,
        [genotype, objective, val_error, params, ok])."""
        if len(item) == 2:
            return Evaluation.from_dict(item[1])
        g, objective, val_error, params, ok = item
        return Evaluation(genotype=tuple(g), arch=self.space.name(g), params=int(params), epochs=self.max_epochs,
                          status=Status.OK if ok else Status.FAILED, val_error=float(val_error),
                          objective=float(objective))
