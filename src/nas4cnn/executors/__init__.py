"""Executors run groups of candidates somewhere and return their scores."""

from .local import GroupResult, LocalExecutor, TrainJob, resolve_device, default_workers

__all__ = ["GroupResult", "LocalExecutor", "TrainJob", "default_workers", "resolve_device"]
