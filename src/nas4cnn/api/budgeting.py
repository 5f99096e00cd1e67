"""A run's time budget (`--budget`): the search's share, and final epochs that fit what is left.

The budget bounds the whole run's wall time. The search gets SEARCH_SHARE of it and ends with
the batch that crosses that share (the loop asks before each batch); the final model then
gets as many epochs as fit in what is left (at most the configured final epochs), estimated
from a short timed probe of its own training on the full data. A resumed run counts the time
its stored generations took.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, replace

from nas4cnn.core.config import RunConfig
from nas4cnn.core.seeding import init_seed
from nas4cnn.core.space import Genotype
from nas4cnn.data.dataset import DataSet, Split
from nas4cnn.nn.engine import train_group
from nas4cnn.nn.groups import Candidate
from nas4cnn.nn.threads import single_thread

SEARCH_SHARE = 2 / 3
PROBE_BATCHES = 12  # training steps timed to estimate the final model's epoch
SAFETY = 0.9  # the share of what is left the final model's estimated time may take


def format_duration(seconds: float) -> str:
    """1h05m, 12m30s, 45s."""
    seconds = max(0, int(round(seconds)))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    if h:
        return f"{h}h{m:02d}m"
    return f"{m}m{s:02d}s" if m else f"{s}s"


@dataclass
class Budget:
    """`total` seconds for the run, `spent` of them before this process started on it."""

    total: float
    spent: float = 0.0
    started: float = field(default_factory=time.monotonic)

    def elapsed(self) -> float:
        return self.spent + time.monotonic() - self.started

    def left(self) -> float:
        return self.total - self.elapsed()

    @property
    def search_share(self) -> float:
        return self.total * SEARCH_SHARE

    def search_over(self) -> bool:
        """Whether the search has used its share (asked before each batch)."""
        return self.elapsed() >= self.search_share


def probe_epoch_seconds(config: RunConfig, genotype: Genotype, data: DataSet) -> float:
    """Estimated seconds of one final-training epoch of `genotype` on all of `data`'s training
    images, with its repeats as one group, validation included: PROBE_BATCHES steps timed on
    one thread (as the final model trains), scaled to the split."""
    cfg, s = config.train, config.search
    arch = config.space.decode(genotype)
    cands = [Candidate(arch, init_seed(s.seed + r, genotype)) for r in range(s.final_repeats)]
    n = min(len(data.train), PROBE_BATCHES * cfg.batch_size)
    m = min(len(data.val), 4 * cfg.batch_size)
    probe = replace(data, train=Split(data.train.x[:n], data.train.y[:n]), val=Split(data.val.x[:m], data.val.y[:m]))
    device = data.train.x.device
    with single_thread(device):
        train_group(cands, probe, cfg, 1, s.seed)  # warm up: the library, the caches
        start = time.perf_counter()
        train_group(cands, probe, cfg, 1, s.seed)
        seconds = time.perf_counter() - start
    per_image = seconds / (n + m / 3)  # a validation image costs about a third of a training one
    return per_image * (len(data.train) + len(data.val) / 3)


def fit_final_epochs(config: RunConfig, genotype: Genotype, data: DataSet, left: float,
                     parallel: bool) -> tuple[int, float]:
    """The final epochs (at most the configured) whose estimated time fits in `left` seconds,
    and the estimated seconds of one epoch of the whole final procedure. With train +
    validation retraining, that retraining runs beside the validation-watched run when
    `parallel`, after it otherwise."""
    s = config.search
    epoch = probe_epoch_seconds(config, genotype, data)
    if s.final_trainval:
        both = epoch * (len(data.train) + len(data.val)) / len(data.train)
        epoch = max(epoch, both) if parallel else epoch + both
    fits = math.floor(max(0.0, left) * SAFETY / epoch) if epoch > 0 else s.final_epochs
    return max(1, min(s.final_epochs, fits)), epoch
