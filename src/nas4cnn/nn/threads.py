"""One CPU thread for training, so results do not depend on the machine's core count.

PyTorch splits CPU kernels over its threads, and the order of a split sum changes its
rounding; over many steps that is another model. Training on one thread per process (the
search runs one process per core) gives the same numbers on any machine with the same
instructions."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch


@contextlib.contextmanager
def single_thread(device: torch.device | str) -> Iterator[None]:
    if torch.device(device).type != "cpu":
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)
