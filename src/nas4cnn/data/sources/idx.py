"""MNIST, Fashion-MNIST and Kuzushiji-MNIST from their IDX files, gzipped or not.

The IDX format: a 4-byte magic number (two zero bytes, a type code, the number of dimensions),
one big-endian 32-bit size per dimension, then the values in C order. Parsed here with numpy.
"""

from __future__ import annotations

import gzip
import logging
import zlib
from pathlib import Path

import numpy as np

from nas4cnn.core.config import DataConfig
from nas4cnn.core.errors import DataError
from nas4cnn.data.dataset import DataSet
from nas4cnn.data.sources.download import data_folder, fetch, missing_error
from nas4cnn.data.sources.splits import hold_out

log = logging.getLogger(__name__)

CLASS_NAMES = {
    "mnist": tuple(str(i) for i in range(10)),
    "fashion-mnist": ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                      "Ankle boot"),
    "kmnist": ("o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"),
}
FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
_TYPES = {0x08: np.dtype(">u1"), 0x09: np.dtype(">i1"), 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"),
          0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}


def read_idx(path: Path, ndim: int) -> np.ndarray:
    """The array in an IDX file (gzip-compressed or not, recognised by its content), which must
    have `ndim` dimensions; any problem is a DataError naming the file."""
    try:
        with open(path, "rb") as f:
            packed = f.read(2) == b"\x1f\x8b"
        with (gzip.open(path, "rb") if packed else open(path, "rb")) as f:
            raw = f.read()
    except (OSError, EOFError, zlib.error) as e:  # gzip.BadGzipFile is an OSError
        what = "truncated gzip data" if isinstance(e, EOFError) else (getattr(e, "strerror", None) or e)
        raise DataError(f"cannot read the IDX file {str(path)!r}: {what}") from None
    if len(raw) < 4:
        raise DataError(f"the IDX file {str(path)!r} is truncated: {len(raw)} bytes, no complete header")
    if raw[0] != 0 or raw[1] != 0 or raw[2] not in _TYPES:
        raise DataError(f"{str(path)!r} is not an IDX file: bad magic number 0x{raw[:4].hex()}")
    if raw[3] != ndim:
        kind = "images" if ndim == 3 else "labels"
        raise DataError(f"the IDX file {str(path)!r} holds a {raw[3]}-dimensional array; expected {ndim} "
                        f"dimensions ({kind})")
    head = 4 + 4 * ndim
    if len(raw) < head:
        raise DataError(f"the IDX file {str(path)!r} is truncated: its header is incomplete")
    shape = tuple(int(d) for d in np.frombuffer(raw, ">u4", ndim, 4))
    dtype = _TYPES[raw[2]]
    want = int(np.prod(shape)) * dtype.itemsize
    have = len(raw) - head
    if have < want:
        raise DataError(f"the IDX file {str(path)!r} is truncated: its header announces {shape} values "
                        f"({want:,} bytes), but {have:,} bytes follow")
    if have > want:
        raise DataError(f"the IDX file {str(path)!r} has {have - want:,} bytes after the {shape} values its "
                        "header announces")
    return np.frombuffer(raw, dtype, int(np.prod(shape)), head).reshape(shape).astype(dtype.newbyteorder("="))


def _locate(name: str, folder: Path, base: str) -> Path | None:
    for candidate in (folder / base, folder / f"{base}.gz"):
        if candidate.is_file():
            return candidate
    return None


def find_files(name: str, folder: Path, download: bool) -> dict[str, Path]:
    """Each of the four files, plain or gzipped; missing ones are downloaded if allowed."""
    paths: dict[str, Path] = {}
    for base in (b for pair in FILES.values() for b in pair):
        path = _locate(name, folder, base)
        if path is None:
            if not download:
                raise missing_error(name, f"{base}.gz (or {base})", folder)
            path = fetch(name, f"{base}.gz", folder)
        paths[base] = path
    return paths


def load(cfg: DataConfig) -> DataSet:
    """The data set's own 60,000/10,000 train/test split; a stratified `val_fraction` of the
    training images (seeded by `split_seed`) is the validation split. Raw 8-bit pixels."""
    name = cfg.dataset
    folder = data_folder(name, cfg.data_dir)
    paths = find_files(name, folder, cfg.download)
    arrays = {}
    for part, (images, labels) in FILES.items():
        x = read_idx(paths[images], 3)
        y = read_idx(paths[labels], 1)
        if len(x) != len(y):
            raise DataError(f"data set {name!r}: {str(paths[images])!r} has {len(x):,} images but "
                            f"{str(paths[labels])!r} has {len(y):,} labels")
        if not np.issubdtype(y.dtype, np.integer):
            raise DataError(f"data set {name!r}: {str(paths[labels])!r} holds {y.dtype} values, not integer labels")
        arrays[part] = (x, y.astype(np.int64))
    train, val = hold_out(name, *arrays["train"], cfg.val_fraction, cfg.split_seed, "val")
    log.info("data set %r: read from %s", name, folder)
    return DataSet.from_arrays(name, {"train": train, "val": val, "test": arrays["test"]},
                               num_classes=len(CLASS_NAMES[name]), class_names=CLASS_NAMES[name], pixel_max=255.0)
