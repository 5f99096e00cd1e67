"""The narrow interface every search strategy implements.

A strategy sees genotypes and their results only (`nas4cnn.core.record.Evaluation`
records: it reads `objective`, `val_error`, `params` and `ok`): never the trainer, the store
or torch. The search loop asks for a
batch, evaluates it, and tells the results. A strategy may also have:
- `epochs`: the training epochs of the batch the next `ask` returns (multi-fidelity
  strategies); without it, the configured epochs;
- `done`: True when it has nothing more to ask (an exhausted grid).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from nas4cnn.core.record import Evaluation
from nas4cnn.core.space import Genotype


class Strategy(Protocol):
    def ask(self) -> list[Genotype]:
        """The next batch of genotypes to evaluate (one generation)."""

    def tell(self, genotypes: Sequence[Genotype], results: Sequence[Evaluation]) -> None:
        """The results of the batch returned by the last `ask`, in the same order."""

    def state_dict(self) -> dict:
        """Everything needed to continue exactly where the strategy is."""

    def load_state_dict(self, state: dict) -> None: ...
