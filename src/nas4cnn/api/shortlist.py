"""The shortlist: the search's few best networks trained again on all the data, before the
final model, so that the final architecture is chosen on the data it will learn from.

Where the search ranks candidates on subsets (large data), the networks at the top of its
ranking are apart by less than the subsets' noise: on Fashion-MNIST the five best of a
default search differ by 0.004 in validation error on 2,000 images, whose standard error
is 0.008. With `--shortlist K` (off by default: on that search the six best, trained on all
the data, kept the search's best on top, for 6 minutes of training) the search's K best
distinct networks are trained for the search's epochs on every training image, ranked by
the same objective on every validation image, and the best goes to the final model. Its networks train as one batch
on the batched engine, on this machine's workers (as the final model does, also for a
cluster's run), with the seeds the search used, so the result is the same whatever the
number of workers.

The shortlist is recorded in the run's store as one record (`Shortlist.to_dict`): a resumed
run that had finished it goes straight on to the final model, one interrupted inside it
trains it again (the same networks, the same figures).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import torch

from nas4cnn.api.budgeting import Budget, format_duration
from nas4cnn.api.preparation import notice
from nas4cnn.api.progress import BatchBar
from nas4cnn.core.config import RunConfig
from nas4cnn.core.record import Evaluation
from nas4cnn.core.space import Genotype
from nas4cnn.data.dataset import DataSet
from nas4cnn.searching.engine_evaluator import EngineEvaluator
from nas4cnn.searching.executors import LocalExecutor, TrainJob
from nas4cnn.searching.history import History

log = logging.getLogger(__name__)

BUDGET_SHARE = 0.5  # with a time budget, the shortlist may take this share of what the search left


@dataclass(frozen=True)
class Shortlist:
    """The shortlisted networks as trained on all the data (best first), and the winner."""

    networks: list[Evaluation]
    epochs: int
    ranked_on: dict[str, int]  # training and validation images
    search_best: Genotype  # the search's own best, for comparison

    @property
    def winner(self) -> Evaluation:
        return self.networks[0]

    def to_dict(self) -> dict:
        return {"epochs": self.epochs, "ranked_on": self.ranked_on, "search_best": list(self.search_best),
                "winner": {"genotype": list(self.winner.genotype), "arch": self.winner.arch},
                "networks": [e.to_dict() for e in self.networks]}

    @classmethod
    def from_dict(cls, d: dict) -> Shortlist:
        return cls([Evaluation.from_dict(e) for e in d["networks"]], d["epochs"], d["ranked_on"],
                   tuple(d["search_best"]))


def _rank(e: Evaluation) -> tuple:
    return e.objective, e.genotype  # ties broken by genotype: the same order whatever finished first


def contenders(history: History, k: int) -> list[Evaluation]:
    """The `k` best distinct networks the search trained for its full epochs (OK records),
    best first (the search's best among them)."""
    best: dict[Genotype, Evaluation] = {}
    for _, e in history.evaluations:
        if e.ok and e.epochs == history.full_epochs and e.genotype not in best:
            best[e.genotype] = e
    return sorted(best.values(), key=_rank)[:k]


def estimate_seconds(networks: list[Evaluation], ranked_on: dict[str, int], data: DataSet, workers: int) -> float:
    """The shortlist's wall time, estimated from the search's training times of `networks`
    (on `ranked_on` images) scaled to all of `data`, shared among `workers`."""
    scale = len(data.train) / max(1, ranked_on["train"])
    total = sum(e.seconds for e in networks) * scale
    return total / max(1, min(workers, len(networks)))


def run_shortlist(config: RunConfig, data: DataSet, history: History, ranked_on: dict[str, int],
                  device: torch.device, workers: int, budget: Budget | None, progress: bool) -> Shortlist | None:
    """Train the search's `config.search.shortlist` best networks on all of `data` and rank
    them (see the module's docstring); None when there is nothing to choose between (a
    shortlist of 1, a single contender, or no time left in the budget for two)."""
    s = config.search
    networks = contenders(history, s.shortlist)
    if s.shortlist < 2 or len(networks) < 2:
        return None
    if budget is not None:
        allowed = budget.left() * BUDGET_SHARE
        while len(networks) >= 2 and estimate_seconds(networks, ranked_on, data, workers) > allowed:
            networks.pop()
        if len(networks) < 2:
            notice.info("no shortlist: the budget leaves %s, too little to train two networks on all %s training "
                        "images", format_duration(budget.left()), f"{len(data.train):,}")
            return None
    notice.info("shortlist: the %d best networks of the search trained again on all %s training images for %d "
                "epochs and ranked on all %s validation images (about %s)", len(networks), f"{len(data.train):,}",
                config.train.epochs, f"{len(data.val):,}",
                format_duration(estimate_seconds(networks, ranked_on, data, workers)))
    job = TrainJob(config.train, config.train.epochs, s.seed)
    evaluator = EngineEvaluator(config.space, data, config.train, s.lam, s.seed,
                                executor=LocalExecutor(data, job, device, workers))
    bar = BatchBar(len(data.train), progress, desc="shortlist", leave=True)
    evaluator.progress = bar
    try:
        trained = evaluator.evaluate([e.genotype for e in networks])
    finally:
        bar.close()
        evaluator.close()
    result = Shortlist(sorted(trained, key=_rank), config.train.epochs,
                       {"train": len(data.train), "val": len(data.val)}, history.best.genotype)
    w = result.winner
    searched = next((e for e in trained if e.genotype == result.search_best), None)
    if w.genotype == result.search_best:
        notice.info("shortlist: the search's best, %s, stays the best on all the data (objective %.4f)", w.arch,
                    w.objective)
    elif searched is not None:
        notice.info("shortlist: %s is the best on all the data (objective %.4f; the search's best, %s: %.4f)",
                    w.arch, w.objective, searched.arch, searched.objective)
    return result
