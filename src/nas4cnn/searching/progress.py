"""What a batch's training reports while it runs, for a progress display.

An evaluator with a `progress` (anything with these three methods) tells it, for each batch
that trains networks: `start(networks, epochs)` before training, `advance(network_epochs)` as
epochs are trained (summed over the networks; from worker processes too, where the executor
can relay them), and `done(records)` as each training group finishes. Nothing here changes
what is trained or recorded.
"""

from __future__ import annotations

from typing import Protocol

from nas4cnn.core.record import Evaluation


class BatchProgress(Protocol):
    def start(self, networks: int, epochs: int) -> None:
        """A batch starts training `networks` new networks for `epochs` epochs each."""

    def advance(self, network_epochs: int) -> None:
        """`network_epochs` more epochs were trained (over all networks of the batch)."""

    def done(self, records: list[Evaluation]) -> None:
        """A training group finished with these records."""
