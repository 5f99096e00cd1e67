import numpy as np
import pytest
import torch

from nas4cnn.data import DataSet


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
