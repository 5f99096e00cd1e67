"""The ask / evaluate / tell loop: the one place where strategy, evaluator and store meet.

With a store, every generation is committed after its evaluations, together with the
strategy's state, so a killed search continues from its last finished generation, reuses
every evaluation committed since, and ends exactly as an uninterrupted one would.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from nas4cnn.core.config import RunConfig
from nas4cnn.core.errors import Nas4cnnError
from nas4cnn.core.seeding import STRATEGY, derive_seed
from nas4cnn.core.space import Genotype, SearchSpace
from nas4cnn.search.evaluator import Evaluation, Evaluator
from nas4cnn.search.store import RunStore, StoredEvaluation, StoredGeneration
from nas4cnn.strategies import make_strategy


class SearchFailed(Nas4cnnError):
    """Every candidate of the search failed to train."""


@dataclass(frozen=True)
class GenerationRecord:
    generation: int
    global_best: float  # best objective found so far (infinity while every candidate failed)
    local_best: float  # best objective among this generation's evaluations
    best_genotype: Genotype | None
    best_arch: str | None


@dataclass
class History:
    """Per-generation records and every evaluation, in request order."""

    records: list[GenerationRecord] = field(default_factory=list)
    evaluations: list[tuple[int, Evaluation]] = field(default_factory=list)
    best: Evaluation | None = None
    seconds: float = 0.0

    def add(self, generation: int, results: Sequence[Evaluation], seconds: float,
            full: bool = True) -> GenerationRecord:
        """`full`: the batch trained for the configured epochs (only such results can be the best)."""
        ok = [r for r in results if r.ok] if full else []
        local = min(ok, key=lambda r: r.objective) if ok else None
        if local is not None and (self.best is None or local.objective < self.best.objective):
            self.best = local
        b = self.best
        record = GenerationRecord(
            generation,
            b.objective if b else math.inf,
            local.objective if local else math.inf,
            b.genotype if b else None,
            b.arch if b else None,
        )
        self.records.append(record)
        self.evaluations.extend((generation, r) for r in results)
        self.seconds += seconds
        return record


@dataclass(frozen=True)
class SearchResult:
    best: Evaluation
    generations: list[GenerationRecord]
    evaluations: list[tuple[int, Evaluation]]
    n_requested: int
    n_trained: int
    seconds: float


def stored_evaluation(e: StoredEvaluation) -> Evaluation:
    return Evaluation(e.canonical, e.arch, e.params, e.val_error, e.val_nll, e.objective, e.seconds,
                      failed=e.reason if e.status != "ok" else None, epochs=e.epochs, checks=e.checks)


def replay(space: SearchSpace, generations: Sequence[StoredGeneration],
           evaluations: Sequence[StoredEvaluation]) -> History:
    """Rebuild the history of finished generations from the store."""
    trained = {(e.canonical, e.epochs): stored_evaluation(e) for e in evaluations}
    history = History()
    seen: set[tuple] = set()
    for g in generations:
        results = []
        for genotype in g.genotypes:
            key = (space.canonical(genotype), g.epochs)
            results.append(trained[key].as_request(genotype, space.name(genotype), key not in seen))
            seen.add(key)
        history.add(g.generation, results, g.seconds, full=g.epochs is None)
    return history


def run_search(
    config: RunConfig,
    evaluator: Evaluator,
    store: RunStore | None = None,
    on_generation: Callable[[GenerationRecord, list[Evaluation]], None] | None = None,
) -> SearchResult:
    """Generation 0 is the initial population; then `config.search.generations` more."""
    s = config.search
    full = config.train.epochs
    strategy = make_strategy(
        s.strategy, config.space, s.population, derive_seed(STRATEGY, s.seed), distinct=s.distinct_survivors,
        max_epochs=full,
    )
    history = History()
    start = 0
    if store is not None:
        generations, stored = store.generations(), store.evaluations()
        if generations:
            start = generations[-1].generation + 1
            strategy.load_state_dict(generations[-1].strategy_state)
            history = replay(config.space, generations, stored)
        evaluator.preload(
            [stored_evaluation(e) for e in stored if e.generation < start],
            [stored_evaluation(e) for e in stored if e.generation == start],
            n_requested=sum(len(g.genotypes) for g in generations),
        )
    for generation in range(start, s.generations + 1):
        if getattr(strategy, "done", False):
            break
        began = time.perf_counter()
        if store is not None:
            evaluator.on_trained = lambda evals, gen=generation: store.add_evaluations(
                [StoredEvaluation(gen, e.genotype, e.arch, e.params, e.val_error, e.val_nll, e.objective, e.seconds,
                                  e.status, e.failed, e.epochs, e.checks)
                 for e in evals]
            )
        genotypes = strategy.ask()
        epochs = getattr(strategy, "epochs", full)
        best = history.best.objective if history.best else None
        results = evaluator.evaluate(genotypes, epochs, prune_above=best)
        strategy.tell(genotypes, results)
        seconds = time.perf_counter() - began
        record = history.add(generation, results, seconds, full=epochs == full)
        if store is not None:
            store.add_generation(StoredGeneration(
                generation, list(genotypes), record.global_best, record.local_best, record.best_genotype,
                record.best_arch, strategy.state_dict(), seconds, None if epochs == full else epochs,
            ))
        if on_generation is not None:
            on_generation(record, results)
    evaluator.on_trained = None
    if history.best is None:
        reasons = {e.failed for _, e in history.evaluations if e.failed and not e.pruned}
        raise SearchFailed(
            f"every one of the {len(history.evaluations)} evaluations failed to train "
            f"(for example: {sorted(reasons)[0] if reasons else 'unknown'}); check the training settings"
        )
    return SearchResult(
        best=history.best,
        generations=history.records,
        evaluations=history.evaluations,
        n_requested=evaluator.n_requested,
        n_trained=evaluator.n_trained,
        seconds=history.seconds,
    )
