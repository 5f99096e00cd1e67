"""Best-improvement local search over one-gene neighbours, restarting from a random genotype
when no neighbour improves. One ask is one neighbourhood (or one restart point)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from nas4cnn.core.space import Genotype, SearchSpace


def neighbours(space: SearchSpace, g: Genotype) -> list[Genotype]:
    """Genotypes that differ from `g` in exactly one gene, as distinct networks."""
    out: dict[Genotype, None] = {}
    base = space.canonical(g)
    for i, n in enumerate(space.sizes):
        for v in range(n):
            if v != g[i]:
                h = space.canonical(g[:i] + (v,) + g[i + 1 :])
                if h != base:
                    out[h] = None
    return list(out)


def _encode(point: tuple[Genotype, float] | None) -> list | None:
    return None if point is None else [list(point[0]), point[1]]


def _decode(value: list | None) -> tuple[Genotype, float] | None:
    return None if value is None else (tuple(value[0]), float(value[1]))


class LocalSearch:
    def __init__(self, space: SearchSpace, population: int = 20, seed: int = 0):
        self.space = space
        self.rng = np.random.default_rng(seed)
        self.current: tuple[Genotype, float] | None = None
        self.best_seen: tuple[Genotype, float] | None = None
        self.seen: set[Genotype] = set()

    def ask(self) -> list[Genotype]:
        if self.current is None:
            for _ in range(100):  # a restart point not seen before, if one is easy to find
                g = self.space.canonical(self.space.random_genotype(self.rng))
                if g not in self.seen:
                    break
            return [g]
        return neighbours(self.space, self.current[0])

    def tell(self, genotypes: Sequence[Genotype], results: Sequence) -> None:
        scored = [(self.space.canonical(tuple(g)), float(r.objective)) for g, r in zip(genotypes, results)]
        self.seen.update(g for g, _ in scored)
        best = min(scored, key=lambda x: x[1])
        if self.best_seen is None or best[1] < self.best_seen[1]:
            self.best_seen = best
        if self.current is None:
            self.current = scored[0]
        elif best[1] < self.current[1]:
            self.current = best
        else:
            self.current = None  # a local optimum: restart

    def state_dict(self) -> dict:
        return {"current": _encode(self.current), "best": _encode(self.best_seen),
                "seen": [list(g) for g in self.seen], "rng": self.rng.bit_generator.state}

    def load_state_dict(self, state: dict) -> None:
        self.current, self.best_seen = _decode(state["current"]), _decode(state["best"])
        self.seen = {tuple(g) for g in state["seen"]}
        self.rng.bit_generator.state = state["rng"]


