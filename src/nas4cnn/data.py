"""Data sets as tensors with fixed train/validation/test splits, checked once before use."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .errors import DataError


@dataclass(frozen=True)
class Split:
    x: torch.Tensor  # float32, N x C x H x W
    y: torch.Tensor  # int64, N

    def __len__(self) -> int:
        return int(self.y.shape[0])

    def to(self, device: torch.device | str) -> Split:
        return Split(self.x.to(device), self.y.to(device))


@dataclass(frozen=True)
class DataSet:
    name: str
    train: Split
    val: Split
    test: Split
    num_classes: int

    @property
    def input_shape(self) -> tuple[int, int, int]:
        c, h, w = self.train.x.shape[1:]
        return int(c), int(h), int(w)

    def to(self, device: torch.device | str) -> DataSet:
        return DataSet(self.name, self.train.to(device), self.val.to(device), self.test.to(device), self.num_classes)

    @classmethod
    def from_arrays(
        cls,
        name: str,
        splits: dict[str, tuple[np.ndarray, np.ndarray]],
        num_classes: int | None = None,
    ) -> DataSet:
        """Build from numpy arrays (x as N x H x W or N x C x H x W, y integer labels) and check it."""
        for part in ("train", "val", "test"):
            if part not in splits:
                raise DataError(f"data set {name!r}: the {part} split is missing")
        arrays = {}
        for part in ("train", "val", "test"):
            x, y = (np.asarray(a) for a in splits[part])
            if x.ndim == 3:
                x = x[:, None]
            if x.ndim != 4:
                raise DataError(
                    f"data set {name!r}: {part} images must be N x H x W or N x C x H x W; got shape {x.shape}"
                )
            arrays[part] = (x, y)
        if num_classes is None:
            num_classes = int(max((y.max() for _, y in arrays.values() if y.size), default=-1)) + 1
        check_arrays(name, arrays, num_classes)
        return cls(
            name=name,
            num_classes=num_classes,
            **{
                part: Split(torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(y, dtype=torch.int64))
                for part, (x, y) in arrays.items()
            },
        )


def check_arrays(name: str, arrays: dict[str, tuple[np.ndarray, np.ndarray]], num_classes: int) -> None:
    if num_classes < 2:
        raise DataError(f"data set {name!r}: expected at least 2 classes; got {num_classes}")
    shape = None
    for part, (x, y) in arrays.items():
        if len(x) == 0:
            raise DataError(f"data set {name!r}: the {part} split is empty")
        if y.ndim != 1 or len(y) != len(x):
            raise DataError(
                f"data set {name!r}: {part} has {len(x)} images but labels of shape {tuple(y.shape)}"
            )
        if not np.issubdtype(y.dtype, np.integer):
            raise DataError(f"data set {name!r}: {part} labels must be integers; got dtype {y.dtype}")
        if y.min() < 0 or y.max() >= num_classes:
            raise DataError(
                f"data set {name!r}: {part} labels must lie in 0..{num_classes - 1}; "
                f"got values from {y.min()} to {y.max()}"
            )
        if not np.issubdtype(x.dtype, np.number) or not np.isfinite(x).all():
            raise DataError(f"data set {name!r}: {part} images contain non-finite or non-numeric values")
        if shape is None:
            shape = x.shape[1:]
        elif x.shape[1:] != shape:
            raise DataError(
                f"data set {name!r}: image shapes differ between splits: {tuple(shape)} and {part} {x.shape[1:]}"
            )


def load_digits() -> DataSet:
    """scikit-learn's bundled 8x8 digits, split as the seed: first 1,000 / next 350 / last 447."""
    from sklearn.datasets import load_digits as sk_load_digits

    digits = sk_load_digits()
    x = digits.images.astype(np.float32)
    y = digits.target.astype(np.int64)
    return DataSet.from_arrays(
        "digits",
        {"train": (x[:1000], y[:1000]), "val": (x[1000:1350], y[1000:1350]), "test": (x[1350:], y[1350:])},
        num_classes=10,
    )


def load_dataset(name: str) -> DataSet:
    loaders = {"digits": load_digits}
    if name not in loaders:
        raise DataError(f"--dataset must be one of {sorted(loaders)}; got {name!r}")
    return loaders[name]()
