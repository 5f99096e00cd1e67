"""Executors run groups of candidates somewhere and return their scores."""

from nas4cnn.searching.executors.local import (
    GroupResult,
    LocalExecutor,
    TrainJob,
    default_workers,
    resolve_device,
    run_group,
)

__all__ = ["GroupResult", "LocalExecutor", "TrainJob", "default_workers", "resolve_device", "run_group"]
