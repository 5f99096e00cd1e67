"""Arrays of your own: ``npz:PATH``, a NumPy .npz file (``numpy.savez``).

Keys: ``x`` (N x H x W, N x C x H x W, or channels-last N x H x W x C with C 1, 3 or 4) and ``y``
(N integer labels, 0 to classes - 1); optionally ``x_test``/``y_test`` as the data set's own test
split (else a stratified TEST_FRACTION of x is held out, seeded by ``split_seed``), ``x_val``/
``y_val`` as its own validation split (else a stratified ``val_fraction`` of the training images),
and ``class_names`` (a string array, one per class; else the class indices).

pixel_max, the largest pixel value of the format (used to scale inputs to 0-1), is 255 when x is
uint8 and otherwise the largest value of the training images (1 if that is not positive).
"""

from __future__ import annotations

import logging
import zipfile
from pathlib import Path

import numpy as np

from nas4cnn.core.config import DataConfig
from nas4cnn.core.errors import DataError
from nas4cnn.data.dataset import DataSet
from nas4cnn.data.sources.splits import hold_out

log = logging.getLogger(__name__)

TEST_FRACTION = 0.2


def _images(name: str, key: str, x: np.ndarray) -> np.ndarray:
    if x.ndim == 3:
        return x[:, None]
    if x.ndim == 4 and x.shape[-1] in (1, 3, 4) and x.shape[1] not in (1, 3, 4):
        log.info("data set %r: %s is channels-last %s; using it as N x C x H x W", name, key, x.shape)
        return x.transpose(0, 3, 1, 2)
    if x.ndim != 4:
        raise DataError(f"data set {name!r}: {key} must be N x H x W or N x C x H x W images; got shape {x.shape}")
    return x


def _labels(name: str, key: str, y: np.ndarray, n: int) -> np.ndarray:
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1 or len(y) != n:
        raise DataError(f"data set {name!r}: {key} must hold one label per image ({n}); got shape {y.shape}")
    if not np.issubdtype(y.dtype, np.integer):
        raise DataError(f"data set {name!r}: {key} must hold integer labels; got dtype {y.dtype}")
    return y.astype(np.int64)


def read_arrays(path: Path) -> dict[str, np.ndarray]:
    """Every array of the .npz file at `path` (numeric or string arrays only, never pickles)."""
    if not zipfile.is_zipfile(path):
        raise DataError(f"{str(path)!r} is not a .npz file (the zip archive of arrays that numpy.savez writes)")
    try:
        with np.load(path, allow_pickle=False) as f:
            return {k: f[k] for k in f.files}
    except ValueError as e:
        if "allow_pickle" in str(e):
            raise DataError(f"cannot read {str(path)!r}: it holds Python objects (pickled arrays); save numeric "
                            "arrays (and names as string arrays)") from None
        raise DataError(f"cannot read {str(path)!r} as a .npz file: {e}") from None
    except (OSError, zipfile.BadZipFile, EOFError) as e:
        raise DataError(f"cannot read {str(path)!r} as a .npz file: {e}") from None


def load(cfg: DataConfig) -> DataSet:
    name = cfg.dataset
    path = Path(cfg.dataset.split(":", 1)[1]).expanduser()
    if not path.is_file():
        raise DataError(f"--dataset {name}: no such file {str(path)!r}")
    arrays = read_arrays(path)
    found = sorted(arrays)
    for key in ("x", "y"):
        if key not in arrays:
            raise DataError(f"{str(path)!r} has no {key!r} array (found: {', '.join(found) or 'none'}); expected x "
                            "and y, optionally x_test/y_test, x_val/y_val and class_names")
    for part in ("test", "val"):
        if (f"x_{part}" in arrays) != (f"y_{part}" in arrays):
            have, lack = (f"x_{part}", f"y_{part}") if f"x_{part}" in arrays else (f"y_{part}", f"x_{part}")
            raise DataError(f"{str(path)!r} has {have} but no {lack} (found: {', '.join(found)}); give both or neither")
    given = {}
    for part, suffix in (("train", ""), ("val", "_val"), ("test", "_test")):
        if f"x{suffix}" in arrays:
            x = _images(name, f"x{suffix}", arrays[f"x{suffix}"])
            given[part] = (x, _labels(name, f"y{suffix}", arrays[f"y{suffix}"], len(x)))
    x, y = given["train"]
    uint8 = x.dtype == np.uint8
    if "test" not in given:
        (x, y), given["test"] = hold_out(name, x, y, TEST_FRACTION, cfg.split_seed, "test")
    if "val" not in given:
        (x, y), given["val"] = hold_out(name, x, y, cfg.val_fraction, cfg.split_seed, "val")
    given["train"] = (x, y)
    class_names: tuple[str, ...] = ()
    num_classes = None
    if "class_names" in arrays:
        names = arrays["class_names"]
        if names.ndim != 1 or names.dtype.kind not in "US":
            raise DataError(f"data set {name!r}: class_names must be a 1-D array of strings; got {names.dtype} "
                            f"of shape {names.shape}")
        class_names = tuple(n.decode() if isinstance(n, bytes) else str(n) for n in names.tolist())
        num_classes = len(class_names)
        top = max(int(labels.max()) for _, labels in given.values() if labels.size)
        if top >= num_classes:
            raise DataError(f"data set {name!r}: the labels go up to {top}, but class_names names "
                            f"{num_classes} classes (labels 0 to {num_classes - 1})")
    if uint8:
        pixel_max = 255.0
    else:
        top = float(np.max(x)) if x.size and np.issubdtype(x.dtype, np.number) else 1.0
        pixel_max = top if np.isfinite(top) and top > 0 else 1.0
    return DataSet.from_arrays(name, given, num_classes=num_classes, class_names=class_names, pixel_max=pixel_max)
