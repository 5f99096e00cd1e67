"""scikit-learn's bundled 8x8 digits (1,797 images, pixels 0-16), split as the seed did."""

from __future__ import annotations

import numpy as np

from nas4cnn.core.config import DataConfig
from nas4cnn.data.dataset import DataSet


def load_digits() -> DataSet:
    """The seed's fixed split: the first 1,000 images train, the next 350 validate, the last 447 test."""
    from sklearn.datasets import load_digits as sk_load_digits

    digits = sk_load_digits()
    x = digits.images.astype(np.float32)
    y = digits.target.astype(np.int64)
    return DataSet.from_arrays(
        "digits",
        {"train": (x[:1000], y[:1000]), "val": (x[1000:1350], y[1000:1350]), "test": (x[1350:], y[1350:])},
        num_classes=10,
        pixel_max=16.0,
    )


def load(cfg: DataConfig) -> DataSet:
    """The source's loader (`nas4cnn.data.sources`): digits reads no setting."""
    return load_digits()
