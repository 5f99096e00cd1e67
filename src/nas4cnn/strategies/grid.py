"""Grid search: every distinct network of the space once, in index order."""

from __future__ import annotations

from collections.abc import Sequence

from nas4cnn.core.errors import ConfigError
from nas4cnn.core.space import Genotype, SearchSpace

GRID_LIMIT = 100_000  # networks: a grid over more is refused (a deep space holds billions)


class GridSearch:
    def __init__(self, space: SearchSpace, population: int = 20, seed: int = 0, batch: int | None = None):
        if space.n_networks > GRID_LIMIT:
            raise ConfigError(f"search.strategy (--strategy) grid trains every network once, and this space has "
                              f"{space.n_networks:,}; use a sampling strategy (evolution, random, ...) or a smaller "
                              "space")
        self.batch = batch or population
        self.order = sorted({space.canonical(g) for g in space.all_genotypes()})
        self.position = 0

    @property
    def done(self) -> bool:
        return self.position >= len(self.order)

    def ask(self) -> list[Genotype]:
        return self.order[self.position : self.position + self.batch]

    def tell(self, genotypes: Sequence[Genotype], results: Sequence) -> None:
        self.position += len(genotypes)

    def state_dict(self) -> dict:
        return {"position": self.position}

    def load_state_dict(self, state: dict) -> None:
        self.position = int(state["position"])
