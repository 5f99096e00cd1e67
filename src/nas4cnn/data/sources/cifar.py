"""CIFAR-10 from its Python batches folder (cifar-10-batches-py).

data_batch_1 ... data_batch_5 and test_batch are pickled dicts whose b"data" is an N x 3072 uint8
array (1,024 red, then green, then blue values of a 32 x 32 image, row by row) and whose
b"labels" is a list of N labels 0-9; batches.meta's b"label_names" names the classes. The
pickles are read with an unpickler that builds numpy arrays and plain containers only, so a
tampered file cannot run code.
"""

from __future__ import annotations

import logging
import os
import pickle
import tarfile
import tempfile
from pathlib import Path

import numpy as np

from nas4cnn.core.config import DataConfig
from nas4cnn.core.errors import DataError
from nas4cnn.data.dataset import DataSet
from nas4cnn.data.sources.download import data_folder, fetch, missing_error
from nas4cnn.data.sources.splits import hold_out

log = logging.getLogger(__name__)

NAME = "cifar10"
FOLDER = "cifar-10-batches-py"
ARCHIVE = "cifar-10-python.tar.gz"
TRAIN = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST = "test_batch"
META = "batches.meta"


def _allowed() -> dict[tuple[str, str], object]:
    try:
        from numpy._core import multiarray, numeric  # numpy >= 2
    except ImportError:  # pragma: no cover - numpy 1.x
        from numpy.core import multiarray, numeric
    allowed: dict[tuple[str, str], object] = {("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): np.dtype}
    for package in ("numpy.core", "numpy._core"):  # pickles name the module of the numpy that wrote them
        allowed[(f"{package}.multiarray", "_reconstruct")] = multiarray._reconstruct
        allowed[(f"{package}.multiarray", "scalar")] = multiarray.scalar
        if hasattr(numeric, "_frombuffer"):
            allowed[(f"{package}.numeric", "_frombuffer")] = numeric._frombuffer
    allowed[("_codecs", "encode")] = __import__("codecs").encode  # bytes in protocol-2 pickles
    return allowed


class _Unpickler(pickle.Unpickler):
    _ALLOWED = _allowed()

    def find_class(self, module: str, name: str):
        try:
            return self._ALLOWED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"it refers to {module}.{name}, which a CIFAR-10 batch does not") from None


def _unpickle(path: Path) -> dict:
    try:
        with open(path, "rb") as f:
            d = _Unpickler(f, encoding="bytes").load()
    except OSError as e:
        raise DataError(f"cannot read {str(path)!r}: {e.strerror or e}") from None
    except Exception as e:  # any malformed pickle: unpickling, EOF, value, type errors
        raise DataError(f"{str(path)!r} is not a CIFAR-10 Python batch: {type(e).__name__}: {e}") from None
    if not isinstance(d, dict):
        raise DataError(f"{str(path)!r} is not a CIFAR-10 Python batch: it holds a {type(d).__name__}, not a dict")
    return {(k.decode("latin1") if isinstance(k, bytes) else k): v for k, v in d.items()}


def read_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """One batch as N x 3 x 32 x 32 uint8 images and int64 labels."""
    d = _unpickle(path)
    for key in ("data", "labels"):
        if key not in d:
            raise DataError(f"{str(path)!r} is not a CIFAR-10 Python batch: no {key!r} entry "
                            f"(found {sorted(map(str, d))})")
    x, y = d["data"], np.asarray(d["labels"])
    if not isinstance(x, np.ndarray) or x.dtype != np.uint8 or x.ndim != 2 or x.shape[1] != 3 * 32 * 32:
        got = f"{x.dtype} array of shape {x.shape}" if isinstance(x, np.ndarray) else type(x).__name__
        raise DataError(f"{str(path)!r}: 'data' must be an N x 3072 uint8 array; got a {got}")
    if y.ndim != 1 or len(y) != len(x) or not np.issubdtype(y.dtype, np.integer):
        raise DataError(f"{str(path)!r}: 'labels' must be {len(x)} integers, one per image; got {y.dtype} "
                        f"values of shape {y.shape}")
    return x.reshape(-1, 3, 32, 32), y.astype(np.int64)


def read_names(path: Path) -> tuple[str, ...]:
    d = _unpickle(path)
    names = d.get("label_names")
    if not isinstance(names, list) or not all(isinstance(n, (bytes, str)) for n in names):
        raise DataError(f"{str(path)!r} is not CIFAR-10's batches.meta: no list of 'label_names'")
    return tuple(n.decode("utf-8") if isinstance(n, bytes) else n for n in names)


def batches_folder(data_dir: str) -> Path:
    """`data_dir` (or the cache folder) itself when it holds the batches, else its
    cifar-10-batches-py sub-folder."""
    folder = data_folder(NAME, data_dir)
    if folder.name == FOLDER or (folder / TRAIN[0]).is_file():
        return folder
    return folder / FOLDER


def _download(folder: Path, missing: list[str]) -> None:
    """Fetch the official archive next to `folder`, check it, unpack the missing batches, and
    delete the archive."""
    archive = fetch(NAME, ARCHIVE, folder.parent)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tarfile.open(archive, "r:gz") as tar:
            for name in missing:
                try:
                    member = tar.extractfile(f"{FOLDER}/{name}")
                except KeyError:
                    member = None
                if member is None:
                    raise DataError(f"data set {NAME!r}: the archive {str(archive)!r} has no {FOLDER}/{name}")
                fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{name}.", suffix=".part")
                try:
                    with os.fdopen(fd, "wb") as out:
                        while chunk := member.read(1 << 20):
                            out.write(chunk)
                    os.replace(tmp, folder / name)
                finally:
                    Path(tmp).unlink(missing_ok=True)
    except (tarfile.TarError, OSError, EOFError) as e:
        raise DataError(f"data set {NAME!r}: cannot unpack {str(archive)!r}: {e}") from None
    finally:
        archive.unlink(missing_ok=True)


def load(cfg: DataConfig) -> DataSet:
    """The official 50,000/10,000 train/test split; a stratified `val_fraction` of the training
    images (seeded by `split_seed`) is the validation split. Raw 8-bit RGB pixels."""
    folder = batches_folder(cfg.data_dir)
    missing = [n for n in (*TRAIN, TEST, META) if not (folder / n).is_file()]
    if missing:
        if not cfg.download:
            raise missing_error(NAME, missing[0], folder)
        _download(folder, missing)
    parts = [read_batch(folder / n) for n in TRAIN]
    x = np.concatenate([p[0] for p in parts])
    y = np.concatenate([p[1] for p in parts])
    names = read_names(folder / META)
    train, val = hold_out(NAME, x, y, cfg.val_fraction, cfg.split_seed, "val")
    log.info("data set %r: read from %s", NAME, folder)
    return DataSet.from_arrays(NAME, {"train": train, "val": val, "test": read_batch(folder / TEST)},
                               num_classes=len(names), class_names=names, pixel_max=255.0)
