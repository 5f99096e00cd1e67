"""Search strategies, looked up by name: `STRATEGIES` is the one list of their names."""

from __future__ import annotations

import inspect

from nas4cnn.core.config import setting_name
from nas4cnn.core.errors import ConfigError
from nas4cnn.core.seeding import derive_seed
from nas4cnn.core.space import SearchSpace
from nas4cnn.strategies.base import Strategy
from nas4cnn.strategies.best_first import BestFirst
from nas4cnn.strategies.evolution import Evolution
from nas4cnn.strategies.grid import GridSearch
from nas4cnn.strategies.hyperband import Hyperband
from nas4cnn.strategies.local_search import LocalSearch
from nas4cnn.strategies.nsga2 import NSGA2
from nas4cnn.strategies.random_search import RandomSearch
from nas4cnn.strategies.regularized import RegularizedEvolution
from nas4cnn.strategies.tpe import OptunaTPE

# Strategies Hyperband can run around (`hyperband+NAME`): single-objective, batch by batch.
HYPERBAND_INNER = ("evolution", "regularized-evolution", "local-search", "best-first")

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
STRATEGIES.update({f"hyperband+{name}": Hyperband for name in HYPERBAND_INNER})


def check_strategy(name) -> None:
    """A ConfigError unless `name` is a registered strategy (the setting search.strategy)."""
    if not isinstance(name, str) or name not in STRATEGIES:
        raise ConfigError(f"{setting_name('search', 'strategy')} must be one of {list(STRATEGIES)}; got {name!r}")


def make_strategy(name: str, space: SearchSpace, population: int, seed: int, **options) -> Strategy:
    """The named strategy; options it does not take are ignored (e.g. `distinct` for all but evolution)."""
    check_strategy(name)
    cls = STRATEGIES[name]
    accepted = inspect.signature(cls).parameters
    kwargs = {k: v for k, v in options.items() if k in accepted}
    if name.startswith("hyperband+"):
        # The inner strategy draws from its own stream, apart from Hyperband's.
        kwargs["inner"] = make_strategy(name.split("+", 1)[1], space, population, derive_seed(seed, 1), **options)
    return cls(space, population=population, seed=seed, **kwargs)


__all__ = ["HYPERBAND_INNER", "STRATEGIES", "Strategy", "check_strategy", "make_strategy"]
