"""The ask / evaluate / tell loop: the one place where strategy and evaluator meet."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from .config import RunConfig
from .evaluator import Evaluation, Evaluator
from .seeding import STRATEGY, derive_seed
from .space import Genotype
from .strategies import make_strategy


@dataclass(frozen=True)
class GenerationRecord:
    generation: int
    global_best: float  # best objective found so far
    local_best: float  # best objective among this generation's new evaluations
    best_genotype: Genotype
    best_arch: str


@dataclass(frozen=True)
class SearchResult:
    best: Evaluation
    generations: list[GenerationRecord]
    evaluations: list[tuple[int, Evaluation]]
    n_requested: int
    n_trained: int
    seconds: float


def run_search(
    config: RunConfig,
    evaluator: Evaluator,
    on_generation: Callable[[GenerationRecord, list[Evaluation]], None] | None = None,
) -> SearchResult:
    """Generation 0 is the initial population; then `config.search.generations` more."""
    s = config.search
    strategy = make_strategy(
        s.strategy, config.space, s.population, derive_seed(STRATEGY, s.seed), distinct=s.distinct_survivors
    )
    start = time.perf_counter()
    best: Evaluation | None = None
    records: list[GenerationRecord] = []
    evaluations: list[tuple[int, Evaluation]] = []
    for generation in range(s.generations + 1):
        genotypes = strategy.ask()
        results = evaluator.evaluate(genotypes)
        strategy.tell(genotypes, [r.objective for r in results])
        local = min(results, key=lambda r: r.objective)
        if best is None or local.objective < best.objective:
            best = local
        record = GenerationRecord(generation, best.objective, local.objective, best.genotype, best.arch)
        records.append(record)
        evaluations.extend((generation, r) for r in results)
        if on_generation is not None:
            on_generation(record, results)
    assert best is not None
    return SearchResult(
        best=best,
        generations=records,
        evaluations=evaluations,
        n_requested=evaluator.n_requested,
        n_trained=evaluator.n_trained,
        seconds=time.perf_counter() - start,
    )
