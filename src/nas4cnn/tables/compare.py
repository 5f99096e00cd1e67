"""Replay searches against a tabular benchmark: no training, seconds per strategy.

Each repeat runs a strategy with its own seed and reads results from one of the table's
seeds (repeat r uses seed r mod n), as a real search would see them. Compute is counted as
a real run would spend it: a network (at a given number of epochs) trained once costs its
epochs; a repeat, or an equivalent genotype, is free when the strategy's run caches results
(as nas4cnn does); a candidate whose size penalty alone cannot beat the best objective so far
is not trained. With early stopping (see `early_stop`), a network stopped at a checkpoint
costs the epochs it trained. The space's optimum is the network with the best objective
averaged over the table's seeds; a repeat finds it when it trains that network for the full
epochs (a stopped training does not count). Against a sampled table the optimum is the
sample's best, and a network outside the sample is scored, and counts as found, as its
nearest sampled network (`Table.lookup`).
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field

import numpy as np

from nas4cnn.core.record import Evaluation
from nas4cnn.core.seeding import STRATEGY, derive_seed
from nas4cnn.searching.history import Generation
from nas4cnn.searching.loop import run_search
from nas4cnn.strategies import make_strategy
from nas4cnn.tables.table_evaluator import TableEvaluator
from nas4cnn.tables.tabulate import Table

STALL_LIMIT = 20  # asks in a row that train nothing new end a replay: the strategy has converged


@dataclass
class Replay:
    strategy: str
    found_networks: int | None = None  # trained networks when the optimum was first trained
    found_epochs: int | None = None
    trained_networks: int = 0
    trained_epochs: int = 0
    curve: list[tuple[int, float]] = field(default_factory=list)  # (trained epochs, regret) after each batch
    exact_lookups: int = 0  # trainings read from the table as they were
    nearest_lookups: int = 0  # trainings of networks outside a sampled table, scored as their nearest sampled one


def replay(table: Table, name: str, repeat: int, lam: float, budget: int, population: int,
           cache: bool = True, stop: float | None = None) -> Replay:
    """One search by strategy `name`, through the search loop with the table in place of
    training, until it trains the optimum, spends the budget (in trained architecture-epochs)
    or stops training anything new."""
    full = table.epochs
    mean_obj = table.objective(lam).mean(0)
    optimum = int(mean_obj.argmin())
    strategy = make_strategy(name, table.space, population, derive_seed(STRATEGY, repeat), max_epochs=full)
    ev = TableEvaluator(table, lam, repeat % len(table.seeds), early_stop=stop or 0.0, reuse=cache)
    result = Replay(name)
    stalled = 0  # asks in a row that trained nothing new: the strategy has converged
    spent = 0

    def after(generation: Generation, results: list[Evaluation]) -> None:
        nonlocal stalled, spent
        if generation.epochs == full and result.found_networks is None:
            if any(r.ok and table.lookup(r.genotype) == optimum for r in results):
                result.found_networks, result.found_epochs = ev.n_trained, ev.trained_epochs
        best = generation.best_genotype
        regret = math.inf if best is None else float(mean_obj[table.lookup(best)] - mean_obj.min())
        result.curve.append((ev.trained_epochs, regret))
        stalled = stalled + 1 if ev.trained_epochs == spent else 0
        spent = ev.trained_epochs

    run_search(strategy, ev, generations=None, on_generation=after,
               until=lambda: ev.trained_epochs >= budget or stalled >= STALL_LIMIT or result.found_networks is not None)
    result.trained_networks, result.trained_epochs = ev.n_trained, ev.trained_epochs
    result.exact_lookups, result.nearest_lookups = ev.exact, ev.nearest
    return result


def _quartiles(values: list[float]) -> tuple[float, float, float]:
    """Median and interquartile range, with `inf` for repeats that never found the optimum."""
    q1, med, q3 = np.percentile(np.asarray(values, dtype=float), [25, 50, 75], method="inverted_cdf")
    return float(med), float(q1), float(q3)


def summarize(replays: list[Replay], budget: int) -> dict:
    inf = math.inf
    nets = [r.found_networks if r.found_networks is not None else inf for r in replays]
    eps = [r.found_epochs if r.found_epochs is not None else inf for r in replays]
    med_n, _, _ = _quartiles(nets)
    med_e, q1_e, q3_e = _quartiles(eps)
    finite = lambda x: None if not math.isfinite(x) else x  # noqa: E731
    return {
        "strategy": replays[0].strategy,
        "repeats": len(replays),
        "budget_epochs": budget,
        "found_optimum_fraction": sum(r.found_networks is not None for r in replays) / len(replays),
        "median_trained_networks": finite(med_n),
        "median_trained_epochs": finite(med_e),
        "iqr_trained_epochs": None if not (math.isfinite(q1_e) and math.isfinite(q3_e)) else [q1_e, q3_e],
        "mean_trained_epochs_per_repeat": statistics.mean(r.trained_epochs for r in replays),
        "nearest_lookup_fraction": _share(sum(r.nearest_lookups for r in replays),
                                          sum(r.exact_lookups + r.nearest_lookups for r in replays)),
    }


def _share(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


def regret_curve(replays: list[Replay], grid: np.ndarray) -> np.ndarray:
    """Median regret over repeats at each compute level of `grid`."""
    rows = []
    for r in replays:
        xs = [e for e, _ in r.curve]
        ys = [g for _, g in r.curve]
        idx = np.searchsorted(xs, grid, side="right") - 1
        rows.append([ys[i] if i >= 0 else math.inf for i in idx])
    return np.median(np.asarray(rows), axis=0)
