"""An evaluator that reads a tabular benchmark instead of training: a network "trained" for
E epochs gets the validation figures the table recorded after epoch E (for one of its
seeds), and early stopping stops it at a checkpoint by the same rule as a real training.
It counts the compute a real run would have spent: the epochs each trained network took.
Against a sampled table, a network outside the sample is scored as its nearest sampled
network (`Table.lookup`: its figures and size), but pruned, as a real search prunes it,
where it does not itself fit the data's images or the space's parameter limit (for a table
that records the data's shape); `exact` and `nearest` count the lookups of each kind."""

from __future__ import annotations

from collections.abc import Iterator

from nas4cnn.core.early_stop import checkpoints
from nas4cnn.core.params import count_params, refusal
from nas4cnn.core.record import Evaluation, Status
from nas4cnn.core.space import Genotype
from nas4cnn.searching.evaluator import Evaluator
from nas4cnn.tables.tabulate import Table


class TableEvaluator(Evaluator):
    def __init__(self, table: Table, lam: float, seed_index: int, early_stop: float = 0.0, reuse: bool = True):
        super().__init__(table.space, table.nmax, lam, table.epochs, early_stop, reuse)
        self.table = table
        self.seed_index = seed_index
        self.trained_epochs = 0  # architecture-epochs spent, as a real run would
        self.exact = self.nearest = 0  # lookups of networks in the table, and of networks scored as a neighbour

    def params(self, genotype: Genotype) -> int:
        return int(self.table.params[self.table.lookup(genotype)])

    def refusal(self, genotype: Genotype, params: int) -> str | None:
        t = self.table
        if t.input_shape is None:
            return None
        arch = self.space.decode(genotype)  # the network's own size decides, not its neighbour's
        return refusal(self.space, arch, t.input_shape, count_params(arch, t.input_shape, t.num_classes))

    def _run(self, genotypes: list[Genotype], params: list[int], groups: list[list[int]], epochs: int,
             stop: dict[int, float] | None) -> Iterator[tuple[int, list[Evaluation]]]:
        for k, idx in enumerate(groups):
            yield k, [self._lookup(genotypes[i], params[i], epochs, stop) for i in idx]

    def _lookup(self, genotype: Genotype, params: int, epochs: int, stop: dict[int, float] | None) -> Evaluation:
        n = self.table.lookup(genotype)
        if self.table.genotypes[n] == self.space.canonical(genotype):
            self.exact += 1
        else:
            self.nearest += 1
        errors, nlls = self.table.val_error[self.seed_index, n], self.table.val_nll[self.seed_index, n]
        trained, checks = epochs, None
        if stop is not None:
            checks = {}
            penalty = self.penalty(params)
            for e in checkpoints(epochs):
                checks[e] = float(errors[e - 1])
                if checks[e] + penalty > stop[e]:
                    trained = e
                    break
        self.trained_epochs += trained
        status = Status.OK if trained == epochs else Status.STOPPED
        reason = None if status is Status.OK else f"stopped after epoch {trained} (from the table)"
        return self.record(genotype, params, epochs, status=status, reason=reason,
                           val_error=float(errors[trained - 1]), val_nll=float(nlls[trained - 1]), seconds=0.0,
                           checks=checks)
