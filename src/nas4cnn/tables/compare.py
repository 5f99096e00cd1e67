"""Replay searches against a tabular benchmark: no training, seconds per strategy.

Each repeat runs a strategy with its own seed and reads results from one of the table's
seeds (repeat r uses seed r mod n), as a real search would see them. Compute is counted as
a real run would spend it: a network (at a given number of epochs) trained once costs its
epochs; a repeat, or an equivalent genotype, is free when the strategy's run caches results
(as nas4cnn does); a candidate whose size penalty alone cannot beat the best objective so far
is not trained. With early stopping (see `early_stop`), a network stopped at a checkpoint
costs the epochs it trained. The space's optimum is the network with the best objective
averaged over the table's seeds; a repeat finds it when it trains that network for the full
epochs (a stopped training does not count).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import SimpleNamespace

import numpy as np

from nas4cnn.core.early_stop import StopRule, checkpoints
from nas4cnn.core.seeding import STRATEGY, derive_seed
from nas4cnn.strategies import make_strategy
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


class TableEvaluator:
    def __init__(self, table: Table, lam: float, seed_index: int, cache: bool = True, stop: float | None = None):
        self.table, self.lam, self.cache = table, lam, cache
        self.index = table.index()
        self.s = seed_index
        self.results: dict[tuple, SimpleNamespace] = {}
        self.networks = 0
        self.epochs = 0
        self.rule = StopRule(stop, table.epochs) if stop else None

    def evaluate(self, genotypes: Sequence, epochs: int, best: float) -> list:
        out = []
        thresholds = self.rule.thresholds() if self.rule and epochs == self.table.epochs else {}
        checked = []
        for g in genotypes:
            n = self.index[self.table.space.canonical(g)]
            params = int(self.table.params[n])
            penalty = self.lam * params / self.table.nmax
            if penalty >= best:  # cannot beat the best: not trained
                out.append(SimpleNamespace(objective=math.inf, val_error=math.inf, params=params, ok=False, n=n))
                continue
            key = (n, epochs)
            if self.cache and key in self.results:
                out.append(self.results[key])
                continue
            errors = self.table.val_error[self.s, n]
            trained, checks = epochs, {}
            if self.rule and epochs == self.table.epochs:
                for e in checkpoints(epochs):
                    checks[e] = float(errors[e - 1]) + penalty
                    if checks[e] > thresholds[e]:
                        trained = e
                        break
                checked.append(checks)
            self.networks += 1
            self.epochs += trained
            err = float(errors[trained - 1])
            ok = trained == epochs
            r = SimpleNamespace(objective=err + penalty if ok else math.inf, val_error=err, params=params, ok=ok, n=n)
            self.results[key] = r
            out.append(r)
        for checks in checked:
            self.rule.add(checks)
        return out


def replay(table: Table, name: str, repeat: int, lam: float, budget: int, population: int,
           cache: bool = True, stop: float | None = None) -> Replay:
    """One search by strategy `name`, until it trains the optimum, spends the budget (in trained
    architecture-epochs) or stops training anything new."""
    full = table.epochs
    mean_obj = table.objective(lam).mean(0)
    optimum = int(mean_obj.argmin())
    strategy = make_strategy(name, table.space, population, derive_seed(STRATEGY, repeat), max_epochs=full)
    ev = TableEvaluator(table, lam, repeat % len(table.seeds), cache, stop)
    result = Replay(name)
    incumbent, best_seen = None, math.inf
    stalled = 0  # asks in a row that trained nothing new: the strategy has converged
    while (ev.epochs < budget and stalled < STALL_LIMIT and result.found_networks is None
           and not getattr(strategy, "done", False)):
        spent = ev.epochs
        genotypes = strategy.ask()
        epochs = getattr(strategy, "epochs", full)
        results = ev.evaluate(genotypes, epochs, best_seen)
        strategy.tell(genotypes, results)
        if epochs == full:
            for r in results:
                if r.ok and r.objective < best_seen:
                    best_seen, incumbent = r.objective, r.n
                if r.ok and r.n == optimum and result.found_networks is None:
                    result.found_networks, result.found_epochs = ev.networks, ev.epochs
        regret = math.inf if incumbent is None else float(mean_obj[incumbent] - mean_obj[optimum])
        result.curve.append((ev.epochs, regret))
        stalled = stalled + 1 if ev.epochs == spent else 0
    result.trained_networks, result.trained_epochs = ev.networks, ev.epochs
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
    }


def regret_curve(replays: list[Replay], grid: np.ndarray) -> np.ndarray:
    """Median regret over repeats at each compute level of `grid`."""
    rows = []
    for r in replays:
        xs = [e for e, _ in r.curve]
        ys = [g for _, g in r.curve]
        idx = np.searchsorted(xs, grid, side="right") - 1
        rows.append([ys[i] if i >= 0 else math.inf for i in idx])
    return np.median(np.asarray(rows), axis=0)
