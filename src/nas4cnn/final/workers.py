"""Independent pieces of the final training side by side, one forked worker process each.

Each worker trains single-threaded, as the parent would, so a piece's result is the same
whether it ran here or in a worker. A piece reports its epochs through a queue that the
parent drains, so progress is still reported in the parent as the work goes on.
"""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing
import os
import pickle
import queue
import signal
import sys
import traceback
from collections.abc import Callable, Sequence
from typing import Any

import torch

from nas4cnn.core.errors import ConfigError
from nas4cnn.nn.train import EpochStats

# A piece of work: called with report(stats) for each of its candidate-epochs; returns a
# picklable result.
Piece = Callable[[Callable[[EpochStats], None]], Any]


def default_workers(device: torch.device | str) -> int:
    """The machine's cores (those this process may use) on a CPU; one process driving a GPU."""
    if torch.device(device).type != "cpu":
        return 1
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


def check_workers(workers: int | None) -> None:
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        raise ConfigError(f"--workers must be an integer >= 1; got {workers!r}")


def can_fork() -> bool:
    return "fork" in multiprocessing.get_all_start_methods()


def die_with_parent(parent: int) -> None:
    """A worker must not outlive a killed parent."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:
        os._exit(1)


def _work(i: int, piece: Piece, messages, parent: int) -> None:
    die_with_parent(parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and stops the workers
    torch.set_num_threads(1)
    try:
        result = piece(lambda stats: messages.put(("epoch", i, stats)))
        # pickled here with the plain pickler: tensors travel as bytes, not as shared memory
        messages.put(("done", i, pickle.dumps(result)))
    except Exception:  # noqa: BLE001 - any error is the parent's to raise, with this traceback
        messages.put(("error", i, traceback.format_exc()))


def run_forked(pieces: Sequence[Piece], on_epoch: Callable[[EpochStats], None] | None) -> list[Any]:
    """Each piece in its own forked, single-threaded worker process, all at once; `on_epoch`
    is called here for every epoch a piece reports. Returns the pieces' results in order;
    a piece's error is raised here with the worker's traceback."""
    ctx = multiprocessing.get_context("fork")
    messages = ctx.Queue()
    procs = [ctx.Process(target=_work, args=(i, p, messages, os.getpid()), daemon=True) for i, p in enumerate(pieces)]
    results: dict[int, Any] = {}
    try:
        for proc in procs:
            proc.start()
        while len(results) < len(pieces):
            try:
                kind, i, value = messages.get(timeout=1.0)
            except queue.Empty:
                dead = [i for i, proc in enumerate(procs) if i not in results and proc.exitcode not in (None, 0)]
                if dead:
                    raise RuntimeError(f"final training: worker {dead[0]} died (exit code {procs[dead[0]].exitcode})")
                continue
            if kind == "epoch":
                if on_epoch is not None:
                    on_epoch(value)
            elif kind == "done":
                results[i] = pickle.loads(value)
            else:
                raise RuntimeError(f"final training: worker {i} failed:\n{value}")
        for proc in procs:
            proc.join()
    finally:
        for proc in procs:
            if proc.is_alive():
                proc.terminate()
                proc.join(timeout=5)
        messages.close()
    return [results[i] for i in range(len(pieces))]
