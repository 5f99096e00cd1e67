"""The data set record: tensors with fixed train/validation/test splits, checked once when built.

The sources (`nas4cnn.data.sources`) build it with `DataSet.from_arrays`; `nas4cnn.data.load`
picks the source a run names.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch

from nas4cnn.core.errors import DataError


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
    class_names: tuple[str, ...] = ()  # one per class; empty = the class indices
    # the largest raw pixel value of the data set's format: 255 for 8-bit images (IDX, CIFAR-10, image
    # folders, uint8 npz arrays), 16 for digits, the training split's largest value for other npz arrays
    pixel_max: float = 255.0

    def __post_init__(self) -> None:
        if not self.class_names:
            object.__setattr__(self, "class_names", tuple(str(i) for i in range(self.num_classes)))

    @property
    def input_shape(self) -> tuple[int, int, int]:
        c, h, w = self.train.x.shape[1:]
        return int(c), int(h), int(w)

    def to(self, device: torch.device | str) -> DataSet:
        return replace(self, train=self.train.to(device), val=self.val.to(device), test=self.test.to(device))

    @classmethod
    def from_arrays(
        cls,
        name: str,
        splits: dict[str, tuple[np.ndarray, np.ndarray]],
        num_classes: int | None = None,
        class_names: tuple[str, ...] = (),
        pixel_max: float = 255.0,
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
        if class_names and len(class_names) != num_classes:
            raise DataError(f"data set {name!r}: {len(class_names)} class names for {num_classes} classes")
        return cls(
            name=name,
            num_classes=num_classes,
            class_names=tuple(class_names),
            pixel_max=float(pixel_max),
            **{
                part: Split(torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(y, dtype=torch.int64))
                for part, (x, y) in arrays.items()
            },
        )


def check_arrays(name: str, arrays: dict[str, tuple[np.ndarray, np.ndarray]], num_classes: int) -> None:
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
        if y.min() < 0:
            raise DataError(f"data set {name!r}: {part} labels must be class indices 0, 1, ...; "
                            f"got values from {y.min()} to {y.max()}")
        if y.max() >= num_classes:
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
    if num_classes < 2:  # after the labels' range, which names negative labels
        raise DataError(f"data set {name!r}: expected at least 2 classes; got {num_classes}")
