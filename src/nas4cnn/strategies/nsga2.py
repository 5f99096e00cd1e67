"""NSGA-II (Deb et al., 2002) on two objectives, validation error and parameter count, both
minimised. Its result is the Pareto front of everything evaluated, not one lambda-weighted
winner. Children: binary tournaments on (front rank, crowding distance), one-point
crossover, one-gene mutation."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from nas4cnn.core.pareto import Point, fronts
from nas4cnn.core.space import Genotype, SearchSpace
from nas4cnn.strategies.evolution import mutate_one_gene, one_point_crossover


def crowding(points: Sequence[Point], front: list[int]) -> dict[int, float]:
    dist = {i: 0.0 for i in front}
    for k in (1, 2):
        ordered = sorted(front, key=lambda i: points[i][k])
        lo, hi = points[ordered[0]][k], points[ordered[-1]][k]
        dist[ordered[0]] = dist[ordered[-1]] = math.inf
        if hi > lo:
            for a, b, c in zip(ordered, ordered[1:], ordered[2:]):
                dist[b] += (points[c][k] - points[a][k]) / (hi - lo)
    return dist


class NSGA2:
    def __init__(self, space: SearchSpace, population: int = 20, seed: int = 0):
        self.space = space
        self.mu = population
        self.rng = np.random.default_rng(seed)
        self.population: list[Point] = []
        self.rank: dict[int, tuple[int, float]] = {}

    def ask(self) -> list[Genotype]:
        if not self.population:
            return [self.space.random_genotype(self.rng) for _ in range(self.mu)]
        children: list[Genotype] = []
        while len(children) < self.mu:
            a, b = self._tournament(), self._tournament()
            children.extend(one_point_crossover(a, b, self.rng))
        return [mutate_one_gene(c, self.space, self.rng) for c in children[: self.mu]]

    def _tournament(self) -> Genotype:
        i, j = self.rng.choice(len(self.population), size=2, replace=False)
        ri, rj = self.rank[int(i)], self.rank[int(j)]
        win = i if (ri[0], -ri[1]) <= (rj[0], -rj[1]) else j
        return self.population[int(win)][0]

    def tell(self, genotypes: Sequence[Genotype], results: Sequence) -> None:
        new = [(tuple(g), float(r.val_error) if r.ok else math.inf, float(r.params))
               for g, r in zip(genotypes, results)]
        pool = self.population + new
        chosen: list[int] = []
        for front in fronts(pool):
            if len(chosen) + len(front) <= self.mu:
                chosen.extend(front)
            else:
                dist = crowding(pool, front)
                chosen.extend(sorted(front, key=lambda i: -dist[i])[: self.mu - len(chosen)])
                break
        self.population = [pool[i] for i in chosen]
        self.rank = {}
        for r, front in enumerate(fronts(self.population)):
            dist = crowding(self.population, front)
            for i in front:
                self.rank[i] = (r, dist[i])

    def state_dict(self) -> dict:
        return {"population": [[list(g), e if math.isfinite(e) else None, p] for g, e, p in self.population],
                "rng": self.rng.bit_generator.state}

    def load_state_dict(self, state: dict) -> None:
        pts = [(tuple(g), math.inf if e is None else float(e), float(p)) for g, e, p in state["population"]]
        self.population = []
        if pts:
            self.population = pts
            self.rank = {}
            for r, front in enumerate(fronts(pts)):
                dist = crowding(pts, front)
                for i in front:
                    self.rank[i] = (r, dist[i])
        self.rng.bit_generator.state = state["rng"]
