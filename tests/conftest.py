import os

import numpy as np
import pytest
import torch

from nas4cnn.data.dataset import DataSet


def make_dataset(shape=(1, 8, 8), num_classes=3, n=(60, 30, 30), seed=0, name="fixture") -> DataSet:
    """Small, learnable random data: each class has its own mean image."""
    rng = np.random.default_rng(seed)
    means = rng.normal(size=(num_classes, *shape)).astype(np.float32)
    splits = {}
    for part, size in zip(("train", "val", "test"), n):
        y = rng.integers(num_classes, size=size)
        x = means[y] + 0.5 * rng.normal(size=(size, *shape)).astype(np.float32)
        splits[part] = (x, y)
    return DataSet.from_arrays(name, splits, num_classes=num_classes)


@pytest.fixture
def small_data() -> DataSet:
    return make_dataset()


@pytest.fixture(autouse=True)
def _threads():
    torch.set_num_threads(1)


def require_fused() -> None:
    """Skip a test of the fused CPU step where it cannot be built (no C compiler); in CI
    (NAS4CNN_REQUIRE_FUSED=1) fail instead."""
    from nas4cnn.nn import fused

    if fused.library() is None:
        why = "the fused CPU step cannot be built here (see the log)"
        if os.environ.get("NAS4CNN_REQUIRE_FUSED") == "1":
            pytest.fail(f"NAS4CNN_REQUIRE_FUSED=1 but {why}")
        pytest.skip(why)


@pytest.fixture(params=["fused", "pytorch"])
def engine(request, monkeypatch) -> str:
    """Run a test with each CPU training path of the engine."""
    if request.param == "fused":
        require_fused()
        monkeypatch.setenv("NAS4CNN_FUSED", "1")
    else:
        monkeypatch.setenv("NAS4CNN_FUSED", "0")
    return request.param
