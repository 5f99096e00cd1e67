"""Run training groups as tasks on a Ray cluster (optional: `pip install 'nas4cnn[ray]'`).

Each task trains one group single-threaded with the same code as the local executor, so
results are identical to a local run with the same seed. A task whose worker dies is retried
by Ray elsewhere; results are recorded only by the driver, when a task has returned, so
nothing is recorded twice. A task asks for one GPU when the run's device is CUDA.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace

import torch

from nas4cnn.core.errors import ConfigError
from nas4cnn.data.dataset import DataSet
from nas4cnn.nn.groups import Candidate
from nas4cnn.searching.executors.local import GroupResult, TrainJob, run_group

log = logging.getLogger(__name__)


def _train_on_worker(data: DataSet, job: TrainJob, cands: list[Candidate], gpu: bool,
                     stop: dict[int, float] | None = None) -> GroupResult:
    torch.set_num_threads(1)
    if gpu:
        data = data.to("cuda")
    return run_group(data, job, cands, {}, stop)


def _check_reachable(address: str) -> None:
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise ConfigError(f"--ray-address: expected host:port, like 127.0.0.1:6379; got {address!r}")
    try:
        socket.create_connection((host, int(port)), timeout=5).close()
    except OSError as e:
        raise ConfigError(f"--ray-address: cannot reach a Ray cluster at {address} ({e.strerror or e})") from None


class RayExecutor:
    def __init__(self, data: DataSet, job: TrainJob, address: str | None = None, device: str = "auto",
                 retries: int = 3):
        try:
            import ray
        except ImportError:
            raise ConfigError("--executor ray needs Ray, an optional extra: pip install 'nas4cnn[ray]'") from None
        if address:
            _check_reachable(address)
        self._ray = ray
        self._owns = not ray.is_initialized()
        if self._owns:
            ray.init(address=address or None, logging_level=logging.WARNING, log_to_driver=False,
                     include_dashboard=False, configure_logging=False)
        resources = ray.cluster_resources()
        gpus = resources.get("GPU", 0)
        if device == "cuda" and not gpus:
            raise ConfigError("--device cuda: the Ray cluster has no GPU")
        self.device = torch.device("cuda" if device == "cuda" or (device == "auto" and gpus) else "cpu")
        self.workers = max(1, int(resources.get("CPU", 1)))
        self._gpu = self.device.type == "cuda"
        self._data = ray.put(data.to("cpu"))
        self._job = job
        self._task = ray.remote(num_cpus=1, num_gpus=1 if self._gpu else 0, max_retries=retries)(_train_on_worker)
        log.info("Ray cluster: %s CPUs, %s GPUs", resources.get("CPU", 0), gpus)

    def run(
        self,
        groups: Sequence[Sequence[Candidate]],
        costs: Sequence[float] | None = None,
        epochs: int | None = None,
        stop: dict[int, float] | None = None,
        on_epochs: Callable[[int], None] | None = None,
    ) -> Iterator[tuple[int, GroupResult]]:
        """As `LocalExecutor.run`: (group number, result) as each group finishes; `on_epochs`
        hears of a group's epochs when it finishes."""
        job = self._job if epochs is None else replace(self._job, epochs=epochs)
        order = sorted(range(len(groups)), key=lambda i: -(costs[i] if costs else 0))
        refs = {self._task.remote(self._data, job, list(groups[i]), self._gpu, stop): i for i in order}
        pending = list(refs)
        while pending:
            ready, pending = self._ray.wait(pending, num_returns=1)
            for ref in ready:
                result = self._ray.get(ref)
                if on_epochs is not None:
                    on_epochs(result.epochs_trained)
                yield refs[ref], result

    def close(self) -> None:
        if self._owns and self._ray.is_initialized():
            self._ray.shutdown()
            self._owns = False
