"""Search strategies, looked up by name."""

from __future__ import annotations

from ..errors import ConfigError
from ..space import SearchSpace
from .base import Strategy
from .evolution import Evolution

STRATEGIES = {"evolution": Evolution}


def make_strategy(name: str, space: SearchSpace, population: int, seed: int, **options) -> Strategy:
    if name not in STRATEGIES:
        raise ConfigError(f"search.strategy (--strategy) must be one of {sorted(STRATEGIES)}; got {name!r}")
    return STRATEGIES[name](space, population=population, seed=seed, **options)


__all__ = ["STRATEGIES", "Evolution", "Strategy", "make_strategy"]
