"""Executors run groups of candidates somewhere and return their scores.

Every executor (`LocalExecutor`: this machine's workers; `ray.RayExecutor`: a Ray cluster)
offers the same narrow interface, `Executor`; a group's result depends only on the group,
never on which worker ran it or when."""

from collections.abc import Callable, Iterator, Sequence
from typing import Protocol

import torch

from nas4cnn.nn.groups import Candidate
from nas4cnn.searching.executors.local import (
    GroupResult,
    LocalExecutor,
    TrainJob,
    default_workers,
    resolve_device,
    run_group,
)


class Executor(Protocol):
    device: torch.device  # where the groups train

    def run(self, groups: Sequence[Sequence[Candidate]], costs: Sequence[float] | None = None,
            epochs: int | None = None, stop: dict[int, float] | None = None,
            on_epochs: Callable[[int], None] | None = None) -> Iterator[tuple[int, GroupResult]]:
        """(group number, result) for each of `groups`, in the order they finish; `epochs`
        overrides the job's, `stop` gives early-stop thresholds, `costs` say which to start first.
        `on_epochs(n)`, if given, is called in this process as n more network-epochs are
        trained (an executor that cannot tell calls it as each group finishes)."""

    def close(self) -> None:
        """Stop the workers; work in flight is abandoned, never half-recorded."""


__all__ = ["Executor", "GroupResult", "LocalExecutor", "TrainJob", "default_workers", "resolve_device", "run_group"]
