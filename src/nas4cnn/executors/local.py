"""Run training groups in this process or in a pool of worker processes on this machine.

Each group's result depends only on the group (its candidates, seeds and the data), never on
which worker ran it or in which order: on a CPU every group is trained single-threaded, and
parallelism comes from running groups side by side.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

import torch

from ..config import TrainConfig
from ..data import DataSet
from ..engine import Candidate, train_group
from ..errors import ConfigError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainJob:
    """What every group of a run shares."""

    train: TrainConfig
    epochs: int
    seed: int


@dataclass(frozen=True)
class GroupResult:
    val_nll: list[float]
    val_error: list[float]
    seconds: float


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device: 'cuda' was asked for but PyTorch sees no CUDA GPU; use --device cpu or auto")
    if device not in ("cpu", "cuda"):
        raise ConfigError(f"--device must be one of ['auto', 'cpu', 'cuda']; got {device!r}")
    return torch.device(device)


def default_workers(device: torch.device) -> int:
    """One single-threaded worker per core on a CPU; one process driving a GPU."""
    if device.type == "cuda":
        return 1
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


@contextlib.contextmanager
def _single_thread(device: torch.device) -> Iterator[None]:
    if device.type != "cpu":
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _run_group(data: DataSet, job: TrainJob, cands: Sequence[Candidate], cache: dict) -> GroupResult:
    start = time.perf_counter()
    group, hist = train_group(cands, data, job.train, job.epochs, job.seed, patch_cache=cache)
    return GroupResult([h[-1].val_loss for h in hist], [h[-1].val_error for h in hist], time.perf_counter() - start)


_WORKER: dict = {}


def _worker_init(data: DataSet, job: TrainJob) -> None:
    torch.set_num_threads(1)
    _WORKER.update(data=data, job=job, cache={})


def _worker_run(cands: Sequence[Candidate]) -> GroupResult:
    return _run_group(_WORKER["data"], _WORKER["job"], cands, _WORKER["cache"])


class LocalExecutor:
    """Trains groups in-process (workers=1) or in `workers` processes started once."""

    def __init__(self, data: DataSet, job: TrainJob, device: str | torch.device = "cpu", workers: int | None = None):
        self.device = resolve_device(device) if isinstance(device, str) else device
        if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
            raise ConfigError(f"--workers must be an integer >= 1; got {workers!r}")
        self.workers = workers or default_workers(self.device)
        if self.device.type == "cuda":
            self.workers = 1  # one process keeps the GPU busy with large groups
        self.data = data.to(self.device)
        self.job = job
        self._cache: dict = {}
        self._pool: ProcessPoolExecutor | None = None

    def _get_pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            log.info("starting %d worker processes", self.workers)
            self._pool = ProcessPoolExecutor(
                self.workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_worker_init,
                initargs=(self.data, self.job),
            )
        return self._pool

    def run(self, groups: Sequence[Sequence[Candidate]], costs: Sequence[float] | None = None) -> list[GroupResult]:
        """Results in the order of `groups`. Costlier groups start first when spread over workers."""
        if self.workers == 1 or len(groups) == 1:
            with _single_thread(self.device):
                return [_run_group(self.data, self.job, g, self._cache) for g in groups]
        order = sorted(range(len(groups)), key=lambda i: -(costs[i] if costs else 0))
        pool = self._get_pool()
        futures = {i: pool.submit(_worker_run, list(groups[i])) for i in order}
        return [futures[i].result() for i in range(len(groups))]

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None

    def __enter__(self) -> LocalExecutor:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
