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
import queue
import signal
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass, replace

import torch

from nas4cnn.core.config import TrainConfig
from nas4cnn.core.errors import ConfigError
from nas4cnn.core.record import Status
from nas4cnn.data.dataset import DataSet
from nas4cnn.final.workers import check_workers, default_workers, die_with_parent
from nas4cnn.nn import fused
from nas4cnn.nn.engine import train_group
from nas4cnn.nn.groups import Candidate
from nas4cnn.nn.threads import single_thread

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainJob:
    """What every group of a run shares. With `curves`, validation is measured after every
    epoch and returned in `GroupResult.curves`."""

    train: TrainConfig
    epochs: int
    seed: int
    curves: bool = False


@dataclass(frozen=True, kw_only=True)
class GroupResult:
    """Per candidate: validation NLL and error (NaN when it failed), its status (OK, FAILED
    or STOPPED) and the reason (None if OK); the group's training time."""

    val_nll: list[float]
    val_error: list[float]
    status: list[Status]
    reason: list[str | None]
    seconds: float
    curves: list[list[tuple[float, float]]] | None = None  # per candidate, per epoch: (val_nll, val_error)
    checks: list[dict[int, float]] | None = None  # per candidate: validation error at early-stop checkpoints
    epochs_trained: int = 0  # epochs trained, summed over the candidates

    @staticmethod
    def concat(parts: Sequence[GroupResult]) -> GroupResult:
        return GroupResult(
            val_nll=[v for p in parts for v in p.val_nll],
            val_error=[v for p in parts for v in p.val_error],
            status=[s for p in parts for s in p.status],
            reason=[r for p in parts for r in p.reason],
            seconds=sum(p.seconds for p in parts),
            curves=None if any(p.curves is None for p in parts) else [c for p in parts for c in p.curves],
            checks=None if any(p.checks is None for p in parts) else [c for p in parts for c in p.checks],
            epochs_trained=sum(p.epochs_trained for p in parts),
        )


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device: 'cuda' was asked for but PyTorch sees no CUDA GPU; use --device cpu or auto")
    if device not in ("cpu", "cuda"):
        raise ConfigError(f"--device must be one of ['auto', 'cpu', 'cuda']; got {device!r}")
    return torch.device(device)


def _is_oom(e: BaseException) -> bool:
    return isinstance(e, torch.cuda.OutOfMemoryError) or "out of memory" in str(e).lower()


def run_group(data: DataSet, job: TrainJob, cands: Sequence[Candidate], cache: dict,
              stop: dict[int, float] | None = None, on_epochs: Callable[[int], None] | None = None) -> GroupResult:
    """Train one group (with early stopping at the checkpoint thresholds `stop`, if given);
    `on_epochs(n)` hears after each epoch how many candidates trained it. If the device runs
    out of memory, the group is split in halves and retried; a single candidate that does not
    fit is recorded as failed, not raised."""
    start = time.perf_counter()

    def tell(group, members: list[int], histories) -> dict:
        on_epochs(len(members))
        return {}  # only told: no candidate is stopped here

    try:
        _, hist, failed = train_group(cands, data, job.train, job.epochs, job.seed, patch_cache=cache,
                                      val_every_epoch=job.curves, stop=stop,
                                      after_epoch=tell if on_epochs is not None else None)
    except RuntimeError as e:
        if not _is_oom(e):
            raise
        if data.train.x.is_cuda:
            torch.cuda.empty_cache()
        if len(cands) == 1:
            log.warning("%s does not fit in memory on %s", cands[0].arch.name, data.train.x.device)
            nan = float("nan")
            return GroupResult(val_nll=[nan], val_error=[nan], status=[Status.FAILED],
                               reason=[f"out of memory on {data.train.x.device}"], seconds=time.perf_counter() - start,
                               curves=[[]] if job.curves else None, checks=[{}] if stop is not None else None)
        half = len(cands) // 2
        return GroupResult.concat([run_group(data, job, cands[:half], cache, stop, on_epochs),
                                   run_group(data, job, cands[half:], cache, stop, on_epochs)])
    nan = float("nan")
    status = [Status.OK if e is None else e.status for e in failed]
    measured = [s is not Status.FAILED for s in status]
    return GroupResult(
        val_nll=[h[-1].val_loss if m else nan for h, m in zip(hist, measured)],
        val_error=[h[-1].val_error if m else nan for h, m in zip(hist, measured)],
        status=status,
        reason=[None if e is None else e.reason for e in failed],
        seconds=time.perf_counter() - start,
        curves=[[(e.val_loss, e.val_error) for e in h] for h in hist] if job.curves else None,
        checks=None if stop is None else [{e: h[e - 1].val_error for e in stop if e <= len(h)} for h in hist],
        epochs_trained=sum(map(len, hist)),
    )


_WORKER: dict = {}
# Forked workers start in milliseconds and share the parent's data pages; they only ever
# run single-threaded CPU work, and a GPU is driven from the parent alone, so fork is safe.
_START_METHOD = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"


def _worker_init(data: DataSet, job: TrainJob, parent: int, epochs_done) -> None:
    die_with_parent(parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and stops the pool
    torch.set_num_threads(1)
    _WORKER.update(data=data, job=job, cache={}, epochs_done=epochs_done)


def _worker_run(cands: Sequence[Candidate], epochs: int, stop: dict[int, float] | None,
                report: bool) -> GroupResult:
    job = _WORKER["job"]
    tell = _WORKER["epochs_done"].put if report else None  # relayed to the parent's on_epochs
    return run_group(_WORKER["data"], replace(job, epochs=epochs), cands, _WORKER["cache"], stop, tell)


class LocalExecutor:
    """Trains groups in-process (workers=1) or in `workers` processes started once."""

    def __init__(self, data: DataSet, job: TrainJob, device: str | torch.device = "cpu", workers: int | None = None):
        self.device = resolve_device(device) if isinstance(device, str) else device
        check_workers(workers)
        self.workers = workers or default_workers(self.device)
        if self.device.type == "cuda":
            self.workers = 1  # one process keeps the GPU busy with large groups
        self.data = data.to(self.device)
        self.job = job
        if self.device.type == "cpu":
            fused.library()  # built (once per machine) and loaded here, before workers fork
        self._cache: dict = {}
        self._pool: ProcessPoolExecutor | None = None
        self._epochs_done = None  # the workers' queue of trained epochs (see `run`'s on_epochs)

    def _get_pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            log.info("starting %d worker processes", self.workers)
            context = multiprocessing.get_context(_START_METHOD)
            self._epochs_done = context.SimpleQueue()
            self._pool = ProcessPoolExecutor(
                self.workers,
                mp_context=context,
                initializer=_worker_init,
                initargs=(self.data, self.job, os.getpid(), self._epochs_done),
            )
        return self._pool

    def _drain(self, on_epochs: Callable[[int], None] | None) -> None:
        """Hand the epochs the workers have reported to `on_epochs`."""
        done = 0
        while not self._epochs_done.empty():
            with contextlib.suppress(queue.Empty, EOFError, OSError):
                done += self._epochs_done.get()
        if done and on_epochs is not None:
            on_epochs(done)

    def run(
        self,
        groups: Sequence[Sequence[Candidate]],
        costs: Sequence[float] | None = None,
        epochs: int | None = None,
        stop: dict[int, float] | None = None,
        on_epochs: Callable[[int], None] | None = None,
    ) -> Iterator[tuple[int, GroupResult]]:
        """(group number, result) for each of `groups`, as each finishes. Costlier groups start
        first when spread over workers. `epochs` overrides the job's training epochs for this
        call; `stop` gives early-stop thresholds; `on_epochs(n)` is called here as n more
        network-epochs are trained, also by the worker processes."""
        job = self.job if epochs is None else replace(self.job, epochs=epochs)
        if self.workers == 1 or len(groups) == 1:
            for i, g in enumerate(groups):
                with single_thread(self.device):
                    result = run_group(self.data, job, g, self._cache, stop, on_epochs)
                yield i, result
        else:
            order = sorted(range(len(groups)), key=lambda i: -(costs[i] if costs else 0))
            pool = self._get_pool()
            report = on_epochs is not None
            futures = {pool.submit(_worker_run, list(groups[i]), job.epochs, stop, report): i for i in order}
            pending = set(futures)
            while pending:
                finished, pending = wait(pending, timeout=0.5 if report else None, return_when=FIRST_COMPLETED)
                self._drain(on_epochs)
                for f in sorted(finished, key=futures.get):  # finished together: in group order
                    yield futures[f], f.result()
            self._drain(on_epochs)

    def close(self) -> None:
        """Stop the workers at once (work in flight is abandoned, never half-recorded)."""
        if self._pool is not None:
            processes = list(getattr(self._pool, "_processes", {}).values())
            self._pool.shutdown(wait=False, cancel_futures=True)
            for proc in processes:
                proc.terminate()
            for proc in processes:
                proc.join(timeout=5)
            self._pool = None

    def __enter__(self) -> LocalExecutor:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
