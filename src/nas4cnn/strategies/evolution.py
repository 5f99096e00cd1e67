"""The seed's genetic algorithm: (mu + lambda) with one-point crossover and one-gene mutation.

Generation 0 evaluates mu random genotypes. Each later generation makes lambda = mu
children in pairs: two distinct parents drawn uniformly, a one-point crossover at a
random cut, then one randomly chosen gene of each child reset to a random value of that
gene. Survivors are the best mu of parents and children (a stable sort, parents first,
so ties keep the older individual).

With `distinct=True` (the default), survivor selection counts each genotype once.
The seed re-trained a repeated genotype and got a new, noisy score; here a genotype's
score is fixed (it is never trained twice), so copies of the best would otherwise fill
the population and the search would stall on one architecture. Copies are used only
when there are fewer than mu distinct genotypes. `distinct=False` is the seed's exact rule.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from nas4cnn.core.errors import ConfigError
from nas4cnn.core.space import Genotype, SearchSpace


def one_point_crossover(a: Genotype, b: Genotype, rng: np.random.Generator) -> tuple[Genotype, Genotype]:
    """Swap the tails after a cut drawn uniformly from 1..len-1, so each child mixes both parents."""
    cut = int(rng.integers(1, len(a)))
    return a[:cut] + b[cut:], b[:cut] + a[cut:]


def mutate_one_gene(g: Genotype, space: SearchSpace, rng: np.random.Generator, must_change: bool = False) -> Genotype:
    """Reset one randomly chosen gene to a random value of that gene: possibly the same one,
    as the seed does, or, with `must_change`, a different one (when the gene has a choice)."""
    i = int(rng.integers(len(g)))
    child = list(g)
    n = space.sizes[i]
    if must_change and n > 1:
        child[i] = (g[i] + 1 + int(rng.integers(n - 1))) % n
    else:
        child[i] = int(rng.integers(n))
    return tuple(child)


class Evolution:
    def __init__(self, space: SearchSpace, population: int = 20, seed: int = 0, distinct: bool = True):
        if population < 2:
            raise ConfigError(f"search.population (--population) must be an integer >= 2; got {population!r}")
        self.space = space
        self.mu = population
        self.distinct = distinct
        self.rng = np.random.default_rng(seed)
        self.population: list[tuple[Genotype, float]] = []
        self.generation = 0  # the generation the next `ask` produces

    def ask(self) -> list[Genotype]:
        if self.generation == 0:
            return [self.space.random_genotype(self.rng) for _ in range(self.mu)]
        parents = [g for g, _ in self.population]
        children: list[Genotype] = []
        while len(children) < self.mu:
            i, j = self.rng.choice(len(parents), size=2, replace=False)
            children.extend(one_point_crossover(parents[i], parents[j], self.rng))
        return [mutate_one_gene(c, self.space, self.rng) for c in children[: self.mu]]

    def tell(self, genotypes: Sequence[Genotype], results: Sequence) -> None:
        pool = self.population + [(tuple(g), float(r.objective)) for g, r in zip(genotypes, results)]
        ranked = [pool[k] for k in sorted(range(len(pool)), key=lambda k: pool[k][1])]  # stable
        if self.distinct:
            seen: set[Genotype] = set()
            firsts, copies = [], []
            for ind in ranked:
                (copies if ind[0] in seen else firsts).append(ind)
                seen.add(ind[0])
            ranked = firsts + copies
        self.population = ranked[: self.mu]
        self.generation += 1

    @property
    def best(self) -> tuple[Genotype, float]:
        return self.population[0]

    def state_dict(self) -> dict:
        return {
            "generation": self.generation,
            "population": [[list(g), o] for g, o in self.population],
            "rng": self.rng.bit_generator.state,
        }

    def load_state_dict(self, state: dict) -> None:
        self.generation = int(state["generation"])
        self.population = [(tuple(g), float(o)) for g, o in state["population"]]
        self.rng.bit_generator.state = state["rng"]
