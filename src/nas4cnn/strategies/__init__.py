"""Search strategies, looked up by name."""

from __future__ import annotations

import inspect

from ..errors import ConfigError
from ..space import SearchSpace
from .base import Strategy
from .best_first import BestFirst
from .evolution import Evolution
from .grid import GridSearch
from .hyperband import Hyperband
from .local_search import LocalSearch
from .nsga2 import NSGA2
from .random_search import RandomSearch
from .regularized import RegularizedEvolution
from .tpe import OptunaTPE

STRATEGIES = {
    "evolution": Evolution,
    "regularized-evolution": RegularizedEvolution,
    "random": RandomSearch,
    "grid": GridSearch,
    "local-search": LocalSearch,
    "best-first": BestFirst,
    "hyperband": Hyperband,
    "nsga2": NSGA2,
    "optuna-tpe": OptunaTPE,
}


def make_strategy(name: str, space: SearchSpace, population: int, seed: int, **options) -> Strategy:
    """The named strategy; options it does not take are ignored (e.g. `distinct` for all but evolution)."""
    if name not in STRATEGIES:
        raise ConfigError(f"search.strategy (--strategy) must be one of {sorted(STRATEGIES)}; got {name!r}")
    cls = STRATEGIES[name]
    accepted = inspect.signature(cls).parameters
    return cls(space, population=population, seed=seed, **{k: v for k, v in options.items() if k in accepted})


__all__ = ["STRATEGIES", "Strategy", "make_strategy"]
