"""The ask / evaluate / tell loop: the one place where strategy, evaluator and store meet.

With a store, the records of each training group are committed as the group finishes, and
each generation after its evaluations, together with the strategy's state, so a killed
search loses nothing trained: it continues from its last finished generation, reuses every
record committed since, and ends exactly as an uninterrupted one would (see `resume`).
The same loop replays searches against a table (`nas4cnn.tables.compare`).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass

from nas4cnn.core.errors import Nas4cnnError
from nas4cnn.core.record import Evaluation
from nas4cnn.searching.evaluator import Evaluator
from nas4cnn.searching.history import Generation, History
from nas4cnn.searching.store import RunStore
from nas4cnn.strategies import Strategy


class SearchFailed(Nas4cnnError):
    """No network of the search was trained for the full epochs."""


@dataclass(frozen=True)
class Resumed:
    """Where a search continues: its next generation and the history so far."""

    generation: int
    history: History


@dataclass(frozen=True)
class SearchResult:
    best: Evaluation | None  # None when no network was trained for the full epochs
    history: History
    n_requested: int
    n_trained: int


def run_search(
    strategy: Strategy,
    evaluator: Evaluator,
    generations: int | None,
    store: RunStore | None = None,
    resumed: Resumed | None = None,
    on_generation: Callable[[Generation, list[Evaluation]], None] | None = None,
    until: Callable[[], bool] | None = None,
) -> SearchResult:
    """Generation 0 is the first batch; then `generations` more (None: no limit). The loop
    ends early when the strategy is `done` or `until()` says so, checked before each ask."""
    history = resumed.history if resumed is not None else History(evaluator.full_epochs)
    start = resumed.generation if resumed is not None else 0
    for generation in itertools.count(start):
        if generations is not None and generation > generations:
            break
        if getattr(strategy, "done", False) or (until is not None and until()):
            break
        began = time.perf_counter()
        genotypes = strategy.ask()
        epochs = getattr(strategy, "epochs", evaluator.full_epochs)
        batch = evaluator.plan(genotypes, epochs, prune_above=history.best.objective if history.best else None)
        for records in evaluator.train(batch):
            if store is not None:
                store.add_evaluations(generation, records)
        results = evaluator.results(batch)
        strategy.tell(genotypes, results)
        record = history.add(generation, genotypes, batch.epochs, results, strategy.state_dict(),
                             time.perf_counter() - began)
        if store is not None:
            store.add_generation(record)
        if on_generation is not None:
            on_generation(record, results)
    return SearchResult(history.best, history, evaluator.n_requested, evaluator.n_trained)


def resume(store: RunStore, strategy: Strategy, evaluator: Evaluator) -> Resumed:
    """Bring `strategy` and `evaluator` to where the stored run stopped, and return where it
    continues. Read top to bottom:
    1. the finished generations and every committed record;
    2. the strategy's state after the last finished generation;
    3. the evaluator's records: those of finished generations are reused as results; those
       an unfinished generation committed are reused when that generation asks again;
    4. the history of the finished generations, as the loop had built it."""
    generations, trained = store.generations(), store.evaluations()
    start = generations[-1].generation + 1 if generations else 0
    if generations:
        strategy.load_state_dict(generations[-1].strategy_state)
    evaluator.preload([e for g, e in trained if g < start], [e for g, e in trained if g == start],
                      n_requested=sum(len(g.genotypes) for g in generations))
    history = History.from_store(evaluator.space, evaluator.full_epochs, generations, trained)
    return Resumed(start, history)
