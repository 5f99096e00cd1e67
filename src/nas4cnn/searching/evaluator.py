"""Turn requests for genotypes into evaluation records: the rules every evaluator shares.

A genotype's result depends only on (run seed, genotype, epochs, training config), so a
network seen before in this run, or one that builds the same network (see
`SearchSpace.canonical`), reuses the recorded result instead of training again. A new
network whose size penalty alone cannot beat the best objective so far is pruned (not
trained). With early stopping, the thresholds come from earlier batches only, so a batch's
outcome does not depend on the order in which its groups finish.

How networks are trained is a subclass's business (`EngineEvaluator` trains them with the
batched engine, `TableEvaluator` reads a tabular benchmark): it forms groups and yields each
group's records as it finishes. The search loop drives an evaluator in three steps:

    batch = evaluator.plan(genotypes, epochs, prune_above)
    for records in evaluator.train(batch):  # newly made records, one training group at a time
        store.add_evaluations(generation, records)
    results = evaluator.results(batch)  # one per request, in request order
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from nas4cnn.core.early_stop import StopRule, checkpoints
from nas4cnn.core.objective import objective
from nas4cnn.core.record import Evaluation, Status
from nas4cnn.core.space import Genotype, SearchSpace
from nas4cnn.searching.progress import BatchProgress

Key = tuple  # (canonical genotype, epochs), plus a request number where results are not reused


@dataclass
class Batch:
    """One request: the requested genotypes and what has to be made for them."""

    requested: list[Genotype]
    epochs: int
    keys: list[Key]
    new: list[Key]  # networks without a record yet, in the order of their first request
    prune_above: float | None
    made: list[Evaluation] = field(default_factory=list)  # records made (or recovered) for this batch


class Evaluator:
    """The shared rules (reuse, pruning, early-stop thresholds, resume); subclasses train.

    `reuse=False` trains every request anew, even a repeat (the original project's evolution
    did; only replays of a table offer it)."""

    def __init__(self, space: SearchSpace, nmax: int, lam: float, full_epochs: int, early_stop: float = 0.0,
                 reuse: bool = True):
        self.space = space
        self.nmax = nmax
        self.lam = lam
        self.full_epochs = full_epochs
        self.reuse = reuse
        self.stop_rule = StopRule(early_stop, full_epochs) if early_stop and checkpoints(full_epochs) else None
        self.n_requested = 0
        self.n_trained = 0
        self.progress: BatchProgress | None = None  # told of each batch's training (a progress display)
        self._records: dict[Key, Evaluation] = {}
        self._recovered: dict[Key, Evaluation] = {}

    def preload(self, done: Iterable[Evaluation], pending: Iterable[Evaluation], n_requested: int) -> None:
        """Resume: `done` were made by finished generations; `pending` were committed by an
        unfinished one, and are reused when that generation asks for them again (a group
        whole, as it was trained), instead of being trained or committed a second time."""
        done = list(done)
        for e in done:
            self._records[(e.genotype, e.epochs)] = e
        self._add_checks(done)
        self._recovered = {(e.genotype, e.epochs): e for e in pending}
        self.n_trained = sum(1 for e in self._records.values() if e.trained)
        self.n_requested = n_requested

    def plan(self, genotypes: Sequence[Genotype], epochs: int | None = None,
             prune_above: float | None = None) -> Batch:
        """What `genotypes` trained for `epochs` (default: the configured epochs) need. With
        `prune_above`, a new network whose size penalty alone is at least that is not trained."""
        epochs = self.full_epochs if epochs is None else epochs
        requested = [self.space.validate(g) for g in genotypes]
        keys = [(self.space.canonical(g), epochs) for g in requested]
        if not self.reuse:
            keys = [(*k, self.n_requested + i) for i, k in enumerate(keys)]
        new = list(dict.fromkeys(k for k in keys if k not in self._records))
        return Batch(requested, epochs, keys, new, prune_above)

    def train(self, batch: Batch) -> Iterator[list[Evaluation]]:
        """Make the records `batch` lacks. Yields the newly made ones: first the pruned, then
        each training group's as the group finishes (records recovered on resume are reused
        and not yielded: they are committed already)."""
        keys, params = [], []
        pruned = []
        for k in batch.new:
            p = self.params(k[0])
            penalty = self.penalty(p)
            why = self.refusal(k[0], p)
            if why is None and (batch.prune_above is None or penalty < batch.prune_above):
                keys.append(k)
                params.append(p)
                continue
            e = self._recovered.pop(k[:2], None)
            if e is None:
                e = Evaluation(genotype=k[0], arch=self.space.name(k[0]), params=p, epochs=batch.epochs,
                               status=Status.PRUNED, reason=why or f"its size penalty {penalty:.4f} cannot beat the "
                                                                   f"best objective {batch.prune_above:.4f}")
                pruned.append(e)
            self._records[k] = e
        if pruned:
            yield pruned
        if not keys:
            return
        stop = self.stop_rule.thresholds() if self.stop_rule is not None and batch.epochs == self.full_epochs else None
        genotypes = [k[0] for k in keys]
        groups = self._groups(genotypes, params)
        todo = []
        for idx in groups:
            if all(keys[i][:2] in self._recovered for i in idx):
                for i in idx:
                    self._keep(batch, keys[i], self._recovered.pop(keys[i][:2]))
            else:
                todo.append(idx)
        if self.progress is not None and todo:
            self.progress.start(sum(map(len, todo)), batch.epochs)
        for k, records in self._run(genotypes, params, todo, batch.epochs, stop):
            for i, e in zip(todo[k], records):
                self._keep(batch, keys[i], e)
            if self.progress is not None:
                self.progress.done(records)
            yield records
        if stop is not None:
            self._add_checks(batch.made)
        self.n_trained += len(keys)

    def results(self, batch: Batch) -> list[Evaluation]:
        """One record per request, in request order, after `train` has run: the first request
        of a network made for this batch carries its training time, the others reuse it."""
        self.n_requested += len(batch.requested)
        first = set(batch.new)
        out = []
        for g, k in zip(batch.requested, batch.keys):
            out.append(self._records[k].as_request(g, self.space.name(g), k in first))
            first.discard(k)
        return out

    def evaluate(self, genotypes: Sequence[Genotype], epochs: int | None = None,
                 prune_above: float | None = None) -> list[Evaluation]:
        """`plan`, `train` and `results` in one call, for use without a store."""
        batch = self.plan(genotypes, epochs, prune_above)
        for _ in self.train(batch):
            pass
        return self.results(batch)

    def params(self, genotype: Genotype) -> int:
        """The network's parameter count."""
        raise NotImplementedError

    def refusal(self, genotype: Genotype, params: int) -> str | None:
        """Why the network cannot be trained at all (it does not fit the data's images, or is
        above the space's parameter limit), or None; such a network is pruned with that reason."""
        return None

    def penalty(self, params: int) -> float:
        """The size term of the objective."""
        return objective(0.0, params, self.nmax, self.lam)

    def record(self, genotype: Genotype, params: int, epochs: int, *, status: Status, reason: str | None,
               val_error: float, val_nll: float, seconds: float, checks: dict[int, float] | None) -> Evaluation:
        """The record of a network trained for `epochs`, its objective computed if it is OK."""
        ok = status is Status.OK
        return Evaluation(genotype=genotype, arch=self.space.name(genotype), params=params, epochs=epochs,
                          status=status, reason=reason, val_error=val_error, val_nll=val_nll,
                          objective=objective(val_error, params, self.nmax, self.lam) if ok else math.inf,
                          seconds=seconds, checks=checks)

    def _groups(self, genotypes: list[Genotype], params: list[int]) -> list[list[int]]:
        """How the new networks of a batch train together (indices into `genotypes`); each
        alone unless a subclass groups them. Groups are formed from all of a batch's new
        networks, so that a resumed run trains exactly the same groups."""
        return [[i] for i in range(len(genotypes))]

    def _run(self, genotypes: list[Genotype], params: list[int], groups: list[list[int]], epochs: int,
             stop: dict[int, float] | None) -> Iterator[tuple[int, list[Evaluation]]]:
        """Train `groups` (early-stopped at the checkpoint thresholds `stop`, if given) and
        yield (group number, its records in group order) as each group finishes."""
        raise NotImplementedError

    def _keep(self, batch: Batch, key: Key, e: Evaluation) -> None:
        self._records[key] = e
        batch.made.append(e)

    def _add_checks(self, evals: Iterable[Evaluation]) -> None:
        if self.stop_rule is None:
            return
        for e in evals:
            if e.checks and e.epochs == self.full_epochs:
                self.stop_rule.add({k: v + self.penalty(e.params) for k, v in e.checks.items()})

    def close(self) -> None:
        """Release what training holds (worker processes); nothing for the base."""

    def __enter__(self) -> Evaluator:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
