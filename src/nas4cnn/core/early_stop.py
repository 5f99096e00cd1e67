"""Early stopping of clearly bad trainings (a quantile stopping rule).

A candidate trained for the full epochs is checked at a quarter, a half and three quarters
of its epochs: if its objective there (validation error + size penalty) is worse than the
`quantile` of the objectives that earlier candidates had at the same point, its training
stops and it is recorded as stopped (`Status.STOPPED`), never as a possible best. Thresholds are taken from
the candidates of earlier batches only, so a batch's outcome does not depend on the order
in which its groups finish, and a resumed run sees the same thresholds.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

MIN_HISTORY = 10  # earlier candidates needed at a checkpoint before it can stop anything

def checkpoints(epochs: int) -> tuple[int, ...]:
    """The epochs after which a training of `epochs` epochs is checked (none for 1 epoch)."""
    return tuple(sorted({max(1, round(epochs * k / 4)) for k in (1, 2, 3)} - {epochs}))


class StopRule:
    def __init__(self, quantile: float, epochs: int):
        if not 0 < quantile < 1:
            raise ValueError(f"quantile must be in (0, 1); got {quantile!r}")
        self.quantile = quantile
        self.history: dict[int, list[float]] = {e: [] for e in checkpoints(epochs)}

    def thresholds(self) -> dict[int, float]:
        """Per checkpoint epoch, the objective above which a candidate is stopped (infinity
        while fewer than MIN_HISTORY earlier candidates reached it)."""
        return {e: float(np.quantile(h, self.quantile)) if len(h) >= MIN_HISTORY else math.inf
                for e, h in self.history.items()}

    def add(self, checks: Mapping[int, float]) -> None:
        """Record one candidate's objectives at the checkpoints it reached."""
        for e, value in checks.items():
            if e in self.history and np.isfinite(value):
                self.history[e].append(float(value))
