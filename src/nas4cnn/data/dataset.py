"""Data sets as tensors with fixed train/validation/test splits, checked once before use."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

import numpy as np
import torch

from nas4cnn.core.config import DataConfig
from nas4cnn.core.errors import DataError

log = logging.getLogger(__name__)


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
        pixel_max=16.0,
    )


def load_dataset(cfg: DataConfig | str = "digits") -> DataSet:
    """The data set a run's [data] settings name, loaded and checked once.

    - ``digits``: scikit-learn's 8x8 digits with the seed's fixed split (see `load_digits`);
    - ``mnist``, ``fashion-mnist``, ``kmnist``: IDX files (gzipped or not) in ``data_dir`` or the
      cache folder; ``cifar10``: its Python batches folder (see `nas4cnn.data.sources`);
      ``download`` fetches missing files from the official sources, checksum-verified;
    - ``folder:PATH``: one sub-folder of PNG/JPEG images per class (`nas4cnn.data.sources.folder`);
    - ``npz:PATH``: arrays x, y and optionally x_test, y_test, class_names (`nas4cnn.data.sources.npz`).

    Apart from digits, the validation split is a stratified ``val_fraction`` of the training
    images, seeded by ``split_seed``. Pixel values are kept raw (see `DataSet.pixel_max`).
    """
    from nas4cnn.core.config import RunConfig, validate
    from nas4cnn.data.sources import cifar, folder, idx, npz

    cfg = DataConfig(dataset=cfg) if isinstance(cfg, str) else cfg
    validate(RunConfig(data=cfg))  # the same checks and messages as a run's config
    loaders = {"digits": lambda c: load_digits(), "mnist": idx.load, "fashion-mnist": idx.load,
               "kmnist": idx.load, "cifar10": cifar.load}
    prefixes = {"folder": folder.load, "npz": npz.load}
    kind, sep, path = cfg.dataset.partition(":") if isinstance(cfg.dataset, str) else ("", "", "")
    if cfg.dataset in loaders:
        loader = loaders[cfg.dataset]
    elif sep and kind in prefixes and path:
        loader = prefixes[kind]
    else:
        raise DataError(f"--dataset must be one of {list(loaders)} or folder:PATH or npz:PATH; got {cfg.dataset!r}")
    _warn_unused(cfg, kind if sep else cfg.dataset)
    data = loader(cfg)
    log.info("data set %r: %s images, %d classes; %d train, %d validation, %d test",
             data.name, "x".join(map(str, data.input_shape)), data.num_classes, len(data.train), len(data.val),
             len(data.test))
    return data


def _warn_unused(cfg: DataConfig, kind: str) -> None:
    """Settings that the chosen data set does not use are named, not silently dropped."""
    default = DataConfig()
    unused = []
    if kind not in ("mnist", "fashion-mnist", "kmnist", "cifar10"):
        unused += [k for k in ("data_dir", "download") if getattr(cfg, k) != getattr(default, k)]
    if kind != "folder":
        unused += [k for k in ("image_size", "channels") if getattr(cfg, k) != getattr(default, k)]
    if kind == "digits":
        unused += [k for k in ("val_fraction", "split_seed") if getattr(cfg, k) != getattr(default, k)]
    if unused:
        log.warning("--dataset %s does not use %s; ignored", cfg.dataset,
                    ", ".join(f"--{k.replace('_', '-')}" for k in unused))
