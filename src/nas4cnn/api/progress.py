"""The search's progress display: one bar over the generations (elapsed time, an estimate of
what remains, the best objective) and one inside the current batch (networks and epochs
done, throughput, the best so far), plus notices at the start of long work."""

from __future__ import annotations

import math
import time

from tqdm.auto import tqdm

from nas4cnn.api.budgeting import Budget, format_duration
from nas4cnn.api.preparation import notice
from nas4cnn.core.record import Evaluation, Status
from nas4cnn.searching.history import Generation

LONG = 15 * 60  # seconds: a search estimated to take longer is told so after its first batch


class BatchBar:
    """A bar inside one batch's training: network-epochs done, networks finished, images per
    second and the best objective so far; a `BatchProgress` for an evaluator. Each `start`
    opens a new bar (closing the last); `images` is the training images of a network-epoch."""

    def __init__(self, images: int, enabled: bool, desc: str = "  batch", leave: bool = False):
        self.images, self.enabled, self.desc, self.leave = images, enabled, desc, leave
        self.best = math.inf
        self.bar: tqdm | None = None
        self._start = 0.0
        self._networks = self._done = 0

    def start(self, networks: int, epochs: int) -> None:
        self.close()
        self._networks, self._done = networks, 0
        self._start = time.monotonic()
        self.bar = tqdm(total=networks * epochs, desc=self.desc, unit="epoch", leave=self.leave,
                        disable=not self.enabled,
                        bar_format="{desc}: {bar} {n_fmt}/{total_fmt} network-epochs [{elapsed}<{remaining}"
                                   "{postfix}]")
        self._postfix()

    def advance(self, network_epochs: int) -> None:
        if self.bar is not None:
            self.bar.update(min(network_epochs, self.bar.total - self.bar.n))
            self._postfix()

    def done(self, records: list[Evaluation]) -> None:
        self._done += len(records)
        ok = [r.objective for r in records if r.status is Status.OK]
        self.best = min([self.best, *ok])
        self._postfix()

    def _postfix(self) -> None:
        if self.bar is None:
            return
        seconds = max(time.monotonic() - self._start, 1e-9)
        rate = self.bar.n * self.images / seconds
        best = f", best {self.best:.4f}" if math.isfinite(self.best) else ""
        self.bar.set_postfix_str(f"networks {self._done}/{self._networks}, {rate:,.0f} img/s{best}", refresh=False)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


class SearchProgress(BatchBar):
    """Bars for a search of `generations` + 1 batches (from `first` on, for a resumed run), on
    `images` training images per network-epoch: the generations' bar and, inside it, the
    current batch's (`BatchBar`); a `BatchProgress` for the evaluator."""

    def __init__(self, generations: int, first: int, images: int, budget: Budget | None,
                 enabled: bool):
        super().__init__(images, enabled)
        self.total, self.first = generations + 1, first
        self.budget = budget
        self.gen = tqdm(total=self.total, initial=first, desc="search", unit="gen", disable=not enabled,
                        bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} gen [{elapsed}<{remaining}{postfix}]")

    # the loop's generations
    def generation(self, record: Generation, trained: int) -> None:
        super().close()
        self.best = min(self.best, record.global_best)
        postfix = {"best": f"{record.global_best:.4f}", "trained": trained}
        if self.budget is not None:
            postfix["budget left"] = format_duration(self.budget.left())
        self.gen.set_postfix(postfix)
        self.gen.update()
        if record.generation == self.first and self.budget is None:
            self._estimate(record)

    def _estimate(self, record: Generation) -> None:
        """After the first batch, without a budget: say how long the search could take."""
        left = self.total - 1 - record.generation
        if left <= 0 or record.seconds <= 0:
            return
        upper = record.seconds * left
        if upper >= LONG:
            notice.info("generation %d took %s; the %d generations left could take up to %s at that pace (less "
                        "where networks repeat); give --budget TIME (like 30m or 2h) to bound the run",
                        record.generation, format_duration(record.seconds), left, format_duration(upper))

    def close(self) -> None:
        super().close()
        self.gen.close()
