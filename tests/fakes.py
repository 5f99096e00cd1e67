"""Test doubles shared by the loop, store and evaluator tests: an evaluator that "trains" by
reading the shipped digits table (no torch), and an executor that does the same behind the
real evaluator, so a search can run both ways in milliseconds."""

from __future__ import annotations

from nas4cnn.core.record import Status
from nas4cnn.searching.executors.local import GroupResult
from nas4cnn.tables.tabulate import Table

_TABLE: list[Table] = []


def digits_table() -> Table:
    """The shipped table of every digits network's learning curves, loaded once."""
    if not _TABLE:
        _TABLE.append(Table.load())
    return _TABLE[0]


class TableExecutor:
    """An executor for `EngineEvaluator` whose groups "train" by reading the table: each
    candidate gets the table's figures after the epochs asked for, and is stopped at an
    early-stop checkpoint by the engine's rule (objective there above the threshold)."""

    def __init__(self, table: Table, seed_index: int = 0, device: str = "cpu"):
        import torch

        self.table = table
        self.seed_index = seed_index
        self.device = torch.device(device)
        self.by_name = {table.space.name(g): n for n, g in enumerate(table.genotypes)}
        self.groups: list[list[str]] = []  # the networks of every group run, in order

    def run(self, groups, costs=None, epochs=None, stop=None, on_epochs=None):
        from nas4cnn.core.early_stop import checkpoints

        for k, group in enumerate(groups):
            self.groups.append([c.arch.name for c in group])
            errs, nlls, status, reason, checks = [], [], [], [], []
            for c in group:
                n = self.by_name[c.arch.name]
                curve = self.table.val_error[self.seed_index, n]
                trained, seen = epochs, {}
                for e in (checkpoints(epochs) if stop is not None else ()):
                    seen[e] = float(curve[e - 1])
                    if seen[e] + c.penalty > stop[e]:
                        trained = e
                        break
                errs.append(float(curve[trained - 1]))
                nlls.append(float(self.table.val_nll[self.seed_index, n, trained - 1]))
                status.append(Status.OK if trained == epochs else Status.STOPPED)
                reason.append(None if trained == epochs else f"stopped after epoch {trained}")
                checks.append(seen)
            if on_epochs is not None:
                on_epochs(sum(1 if s is Status.OK else 0 for s in status) * epochs)
            yield k, GroupResult(val_nll=nlls, val_error=errs, status=status, reason=reason,
                                 seconds=0.01 * len(group), checks=checks if stop is not None else None)

    def close(self) -> None:
        pass
