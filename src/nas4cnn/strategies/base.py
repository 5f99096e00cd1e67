"""The narrow interface every search strategy implements.

A strategy sees genotypes and their objectives only: never the trainer, the store
or torch. The search loop asks for a batch, evaluates it, and tells the results.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from ..space import Genotype


class Strategy(Protocol):
    def ask(self) -> list[Genotype]:
        """The next batch of genotypes to evaluate (one generation)."""

    def tell(self, genotypes: Sequence[Genotype], objectives: Sequence[float]) -> None:
        """The objectives of the batch returned by the last `ask`, in the same order."""

    def state_dict(self) -> dict:
        """Everything needed to continue exactly where the strategy is."""

    def load_state_dict(self, state: dict) -> None: ...
