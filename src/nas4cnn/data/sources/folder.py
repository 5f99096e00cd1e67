"""Your own images: ``folder:PATH`` with one sub-folder of PNG/JPEG images per class.

If PATH has ``train/`` and ``test/`` sub-folders (and optionally ``val/``), each holds one
sub-folder per class and they are the data set's own split; otherwise PATH's sub-folders are the
classes and a stratified TEST_FRACTION of the images, seeded by ``split_seed``, is held out for
testing. The class names are the training class folders' names, sorted.

Every image is stretched to ``image_size`` x ``image_size`` pixels (0: 28) and read as grey or
colour per ``channels`` (1, 3; 0: grey unless some image has colour, that is, pixels whose red,
green and blue values differ). Colour images read as grey are converted with ITU-R 601-2 luma, as
Pillow's "L" mode; an alpha channel is dropped; 16-bit images are scaled to 8 bits. Pixel values
stay 0-255 (pixel_max 255).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from nas4cnn.core.config import DataConfig
from nas4cnn.core.errors import DataError
from nas4cnn.data.dataset import DataSet
from nas4cnn.data.sources.splits import hold_out

log = logging.getLogger(__name__)

EXTENSIONS = (".png", ".jpg", ".jpeg")
DEFAULT_SIZE = 28
TEST_FRACTION = 0.2


def _images(folder: Path) -> list[Path]:
    """The image files under a class folder (any depth), in a fixed order; hidden files skipped."""
    files, skipped = [], 0
    for p in sorted(folder.rglob("*")):
        if any(part.startswith(".") for part in p.relative_to(folder).parts) or not p.is_file():
            continue
        if p.suffix.lower() in EXTENSIONS:
            files.append(p)
        else:
            skipped += 1
    if skipped:
        log.warning("%s: skipped %d file(s) that are not PNG or JPEG images", folder, skipped)
    return files


def _classes(root: Path) -> list[Path]:
    return sorted((p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")), key=lambda p: p.name)


def read_image(path: Path, width: int, height: int | None = None) -> np.ndarray:
    """One image file as a height x width x 3 uint8 array, read the one way every part of the
    tool reads image files (training images and images to predict): EXIF orientation
    applied, 16- or 32-bit grey scaled to 8 bits, alpha dropped, converted to RGB, stretched
    to width x height (bilinear)."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    height = width if height is None else height
    try:
        with Image.open(path) as img:
            img = ImageOps.exif_transpose(img)
            if img.mode == "F":
                raise DataError(f"{str(path)!r}: floating-point images have no fixed range; convert it to 8-bit, "
                                "or give the raw values in an .npz")
            if img.mode.startswith("I"):  # 16- or 32-bit grey
                a = np.asarray(img, dtype=np.float64)
                scale = 255.0 / (65535.0 if img.mode.startswith("I;16") or a.max() > 255 else 255.0)
                img = Image.fromarray(np.clip(a * scale, 0, 255).round().astype(np.uint8))
            img = img.convert("RGB")
            if img.size != (width, height):
                img = img.resize((width, height), Image.Resampling.BILINEAR)
            return np.asarray(img, dtype=np.uint8)
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, ValueError, SyntaxError) as e:
        reason = " ".join(str(e).split())
        raise DataError(f"cannot read the image {str(path)!r} (PNG, JPEG, ...): {reason}") from None


def _read_classes(root: Path, size: int, class_index: dict[str, int] | None, what: str):
    """Images and labels of one class-per-sub-folder tree; `class_index` given: its classes only."""
    folders = _classes(root)
    if not folders:
        raise DataError(f"{what} {str(root)!r} has no class sub-folders; expected one folder of images per class")
    if class_index is None:
        class_index = {f.name: i for i, f in enumerate(folders)}
    images, labels = [], []
    for f in folders:
        if f.name not in class_index:
            raise DataError(f"{what} {str(root)!r} has the class folder {f.name!r}, which the training "
                            f"folder lacks (its classes: {sorted(class_index)})")
        files = _images(f)
        if not files:
            raise DataError(f"the class folder {str(f)!r} holds no PNG or JPEG images")
        images += [read_image(p, size) for p in files]
        labels += [class_index[f.name]] * len(files)
    return np.stack(images), np.asarray(labels, np.int64), class_index


def _to_channels(x: np.ndarray, channels: int) -> np.ndarray:
    """N x H x W x 3 uint8 -> N x C x H x W with C = `channels` (0: 1 unless some image has colour)."""
    from PIL import Image

    grey = (x[..., 0] == x[..., 1]).all(axis=(1, 2)) & (x[..., 1] == x[..., 2]).all(axis=(1, 2))
    if channels == 3 or (channels == 0 and not grey.all()):
        return x.transpose(0, 3, 1, 2)
    out = x[..., 0].copy()
    for i in np.flatnonzero(~grey):
        out[i] = np.asarray(Image.fromarray(x[i]).convert("L"))
    return out[:, None]


def load(cfg: DataConfig) -> DataSet:
    name = cfg.dataset
    root = Path(cfg.dataset.split(":", 1)[1]).expanduser()
    if not root.is_dir():
        raise DataError(f"--dataset {name}: no such folder {str(root)!r}")
    size = cfg.image_size or DEFAULT_SIZE
    own = {p: root / p for p in ("train", "val", "test") if (root / p).is_dir()}
    if own and not ("train" in own and "test" in own):
        lack = [f"{p}/" for p in ("train", "test") if p not in own]
        raise DataError(f"--dataset {name}: the folder has {', '.join(f'{p}/' for p in own)} but no "
                        f"{' or '.join(lack)} sub-folder; give train/ and test/ (and optionally val/), each with "
                        "one folder per class, or only class folders")
    if "train" in own:
        x, y, index = _read_classes(own["train"], size, None, "the training folder")
        parts = {p: _read_classes(own[p], size, index, f"the {p} folder")[:2] for p in ("val", "test") if p in own}
    else:
        x, y, index = _read_classes(root, size, None, "the folder")
        (x, y), test = hold_out(name, x, y, TEST_FRACTION, cfg.split_seed, "test")
        parts = {"test": test}
    if "val" not in parts:
        (x, y), parts["val"] = hold_out(name, x, y, cfg.val_fraction, cfg.split_seed, "val")
    splits = {"train": (x, y), "val": parts["val"], "test": parts["test"]}
    # one colour decision for the whole data set, so every split has the same channels
    allx = _to_channels(np.concatenate([s[0] for s in splits.values()]), cfg.channels)
    xs = np.split(allx, np.cumsum([len(splits["train"][1]), len(splits["val"][1])]))
    log.info("data set %r: %d classes, images %dx%d with %d channel(s)", name, len(index), size, size, allx.shape[1])
    return DataSet.from_arrays(
        name, {p: (xp, splits[p][1]) for p, xp in zip(("train", "val", "test"), xs, strict=True)},
        num_classes=len(index), class_names=tuple(index), pixel_max=255.0,
    )
