"""A search's history: one record per generation and every evaluation in request order.

The loop builds it as it goes; the same history is rebuilt from a run's store alone
(`History.from_store`) for resume and for the outputs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from nas4cnn.core.record import Evaluation
from nas4cnn.core.space import Genotype, SearchSpace


@dataclass(frozen=True, kw_only=True)
class Generation:
    """One finished generation: what was asked, the bests after it, and the strategy's state
    after it was told the results (to continue from here)."""

    generation: int
    genotypes: list[Genotype]
    epochs: int  # the training epochs of this generation's batch
    global_best: float  # best objective found so far (infinity while nothing trained for the full epochs)
    local_best: float  # best objective among this generation's results
    best_genotype: Genotype | None
    best_arch: str | None
    strategy_state: dict
    seconds: float


@dataclass
class History:
    """Per-generation records and every evaluation, in request order. Only results of
    batches trained for `full_epochs` can be the best."""

    full_epochs: int
    records: list[Generation] = field(default_factory=list)
    evaluations: list[tuple[int, Evaluation]] = field(default_factory=list)
    best: Evaluation | None = None
    seconds: float = 0.0

    def add(self, generation: int, genotypes: Sequence[Genotype], epochs: int, results: Sequence[Evaluation],
            strategy_state: dict, seconds: float) -> Generation:
        local = self._take_best(epochs, results)
        b = self.best
        record = Generation(generation=generation, genotypes=[tuple(g) for g in genotypes], epochs=epochs,
                            global_best=b.objective if b else math.inf,
                            local_best=local.objective if local else math.inf,
                            best_genotype=b.genotype if b else None, best_arch=b.arch if b else None,
                            strategy_state=strategy_state, seconds=seconds)
        self._append(record, results)
        return record

    def _take_best(self, epochs: int, results: Sequence[Evaluation]) -> Evaluation | None:
        """The batch's best result (None if it has none that counts); the overall best updated."""
        ok = [r for r in results if r.ok] if epochs == self.full_epochs else []
        local = min(ok, key=lambda r: r.objective) if ok else None
        if local is not None and (self.best is None or local.objective < self.best.objective):
            self.best = local
        return local

    def _append(self, record: Generation, results: Sequence[Evaluation]) -> None:
        self.records.append(record)
        self.evaluations.extend((record.generation, r) for r in results)
        self.seconds += record.seconds

    @classmethod
    def from_store(cls, space: SearchSpace, full_epochs: int, generations: Sequence[Generation],
                   trained: Sequence[tuple[int, Evaluation]]) -> History:
        """The history of the finished `generations`, each request's result looked up among
        the `trained` records (the store's, one per network and epochs) as the evaluator
        would have handed it back."""
        by_key = {(e.genotype, e.epochs): e for _, e in trained}
        history = cls(full_epochs)
        seen: set[tuple] = set()
        for g in generations:
            results = []
            for genotype in g.genotypes:
                key = (space.canonical(genotype), g.epochs)
                results.append(by_key[key].as_request(genotype, space.name(genotype), key not in seen))
                seen.add(key)
            history._take_best(g.epochs, results)
            history._append(g, results)
        return history
