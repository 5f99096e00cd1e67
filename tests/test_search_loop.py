"""The search loop: one loop for searches and for table replays, committing per training
group, and resume that ends exactly where an uninterrupted search ends."""

from __future__ import annotations

import pytest
from fakes import TableExecutor, digits_table

from nas4cnn.core.config import TrainConfig
from nas4cnn.core.seeding import STRATEGY, derive_seed
from nas4cnn.data.sources.digits import load_digits
from nas4cnn.searching.engine_evaluator import EngineEvaluator
from nas4cnn.searching.loop import resume, run_search
from nas4cnn.searching.store import RunStore
from nas4cnn.strategies import STRATEGIES, make_strategy
from nas4cnn.tables.table_evaluator import TableEvaluator

NAMES = sorted(STRATEGIES)


def _strategy(name: str, population: int = 8, repeat: int = 0):
    if name == "optuna-tpe":
        pytest.importorskip("optuna")
    table = digits_table()
    return make_strategy(name, table.space, population, derive_seed(STRATEGY, repeat), max_epochs=table.epochs)


def _trace(result) -> list[tuple]:
    """Every result the strategy was told, with whether it was trained for that request."""
    return [(g, e.genotype, e.epochs, e.status, e.objective, e.val_error, e.cached)
            for g, e in result.history.evaluations]


@pytest.mark.parametrize("early_stop", [0.0, 0.5])
@pytest.mark.parametrize("name", NAMES)
def test_search_and_replay_train_the_same_networks(name, early_stop):
    """What `compare` measures is what `search` does: the real evaluator (its executor reading
    the table) and the table evaluator, through the same loop, train the same networks in the
    same order and tell the strategy the same results."""
    table = digits_table()
    executor = TableExecutor(table)
    real = EngineEvaluator(table.space, load_digits(), TrainConfig(epochs=table.epochs), 0.01, 0, executor=executor,
                           early_stop=early_stop)
    replayed = TableEvaluator(table, 0.01, 0, early_stop=early_stop)
    assert real.nmax == table.nmax
    a = run_search(_strategy(name), real, generations=8)
    b = run_search(_strategy(name), replayed, generations=8)
    assert _trace(a) == _trace(b)
    assert (a.n_trained, a.n_requested) == (b.n_trained, b.n_requested) and a.n_trained > 0
    space = table.space
    trained = [space.name(space.canonical(e.genotype)) for _, e in a.history.evaluations if not e.cached and e.trained]
    assert sorted(n for group in executor.groups for n in group) == sorted(trained)  # each trained once, in groups
    assert [r.global_best for r in a.history.records] == [r.global_best for r in b.history.records]


def _run(tmp_path, name: str, stop_after: int | None = None, early_stop: float = 0.5):
    """A search of `name` against the table with a store; with `stop_after`, interrupted
    (as Ctrl-C would) right after that many commits of records."""
    table = digits_table()
    tmp_path.mkdir()
    store = RunStore.create(tmp_path, {"train": {"epochs": table.epochs}}, {})
    commits = 0
    add = store.add_evaluations

    def add_then_maybe_stop(generation, records):
        nonlocal commits
        add(generation, records)
        commits += 1
        if commits == stop_after:
            raise KeyboardInterrupt

    store.add_evaluations = add_then_maybe_stop
    evaluator = TableEvaluator(table, 0.01, 0, early_stop=early_stop)
    strategy = _strategy(name)
    try:
        return run_search(strategy, evaluator, generations=6, store=store), strategy, store
    except KeyboardInterrupt:
        store.close()
        return None, None, None


@pytest.mark.parametrize("name", NAMES)
def test_an_interrupted_search_resumes_to_the_same_end(tmp_path, name):
    whole, strategy, store = _run(tmp_path / "whole", name)
    rows = store.evaluations()
    store.close()
    following = strategy.ask()
    for stop_after in (1, 5, 11):
        folder = tmp_path / f"cut{stop_after}"
        assert _run(folder, name, stop_after)[0] is None
        store = RunStore.open(folder)
        again, evaluator = _strategy(name), TableEvaluator(digits_table(), 0.01, 0, early_stop=0.5)
        resumed = resume(store, again, evaluator)
        assert resumed.generation <= 6
        result = run_search(again, evaluator, generations=6, store=store, resumed=resumed)
        assert _trace(result) == _trace(whole), stop_after
        assert [(r.generation, r.global_best, r.local_best, r.best_genotype) for r in result.history.records] == \
               [(r.generation, r.global_best, r.local_best, r.best_genotype) for r in whole.history.records]
        assert (result.n_trained, result.n_requested) == (whole.n_trained, whole.n_requested)
        assert again.ask() == following  # the strategy continues as the uninterrupted one would
        assert store.evaluations() == rows  # every network committed once, nothing lost or repeated
        store.close()


def test_the_loop_ends_when_told_or_when_the_strategy_is_done():
    table = digits_table()
    evaluator = TableEvaluator(table, 0.01, 0)
    result = run_search(_strategy("evolution"), evaluator, generations=None, until=lambda: evaluator.n_trained >= 30)
    assert 30 <= result.n_trained < 30 + 8 and len(result.history.records) >= 4
    grid = make_strategy("grid", table.space, 400, 0)
    result = run_search(grid, TableEvaluator(table, 0.01, 0), generations=None)
    assert grid.done and result.n_trained == len(table.genotypes)
