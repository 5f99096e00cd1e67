"""Classify images with a run's final model.

Inputs are image files (PNG, JPEG or anything else Pillow reads), `.npz` files holding an array
`x` of raw images (N x H x W or N x C x H x W, in the data set's own range 0..pixel_max), or, from
Python, such arrays directly. Image files are converted to grey or RGB to match the model,
resized to its H x W, and their 8-bit values mapped to the model's range (value / 255 * pixel_max).

A model answers confidently whatever it is shown, so inputs unlike its training images get one
warning line a call: image files much larger than the model's input (when its training images
were not themselves resized from files), and images whose background (border mean, or median
value) is bright where the training images' border is dark, or the other way round. The
training images' border level is read from the bundle, else known for the MNIST-like data sets
by name.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from nas4cnn.core.errors import ConfigError, DataError
from nas4cnn.data.sources.folder import read_image as read_rgb
from nas4cnn.data.sources.npz import read_arrays
from nas4cnn.nn.checkpoint import (
    Bundle,
    ProbabilityModel,
    border_means,
    load_run_bundle,
)

log = logging.getLogger(__name__)

InputLike = str | Path | np.ndarray | torch.Tensor
NPZ_ARRAY = "x"
LARGE = 2  # an image file more than this many times the model's input side is "much larger"
# Data sets known to have light strokes on a dark background, for models saved before the
# training images' border level was recorded in the bundle.
DARK_BACKGROUND = ("digits", "mnist", "fashion-mnist", "kmnist")


@dataclass(frozen=True)
class Prediction:
    """The model's answer for one image: the most probable class and every class's probability."""

    input: str  # the file, `file[i]` for row i of an .npz, or `array<k>[i]` for an array given in Python
    index: int  # the predicted class's index
    class_name: str  # the predicted class's name
    probability: float  # its probability
    probabilities: tuple[float, ...] = field(repr=False)  # one per class, in the order of class_names
    class_names: tuple[str, ...] = field(repr=False)

    def top(self, k: int) -> list[tuple[str, int, float]]:
        """The k most probable classes as (name, index, probability), most probable first."""
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ConfigError(f"--top must be an integer >= 1; got {k!r}")
        order = sorted(range(len(self.probabilities)), key=lambda i: -self.probabilities[i])[:k]
        return [(self.class_names[i], i, self.probabilities[i]) for i in order]

    def to_dict(self, top: int | None = None) -> dict:
        d = {"input": self.input, "class": self.class_name, "index": self.index, "probability": self.probability}
        if top is not None:
            d["top"] = [{"class": n, "index": i, "probability": p} for n, i, p in self.top(top)]
        return d


def predict(run_dir: str | Path, inputs: InputLike | Sequence[InputLike], *, batch_size: int = 256) -> list[Prediction]:
    """Classify every image of `inputs` with the run's final model (RUN_DIR/model.pt).

    Every input is read and checked before the model runs, so a bad one fails the whole call.
    One Prediction per image, in input order (an .npz or array gives one per row).
    """
    if isinstance(inputs, (str, Path, np.ndarray, torch.Tensor)):
        inputs = [inputs]
    inputs = list(inputs)
    if not inputs:
        raise ConfigError("predict: no inputs given")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ConfigError(f"batch_size must be an integer >= 1; got {batch_size!r}")
    bundle, _ = load_run_bundle(run_dir)
    names, images, sizes = _read(inputs, bundle)
    _warn_if_unlike_training(bundle, names, images, sizes)
    probs = _probabilities(bundle, images, batch_size)
    classes = bundle.class_names
    out = []
    for name, p in zip(names, probs.tolist()):
        best = max(range(len(p)), key=p.__getitem__)
        out.append(Prediction(name, best, classes[best], p[best], tuple(p), classes))
    return out


def read_inputs(inputs: Iterable[InputLike], bundle: Bundle) -> tuple[list[str], torch.Tensor]:
    """Every input as raw-range float32 images N x C x H x W for `bundle`'s model, with a name per image."""
    names, images, _ = _read(inputs, bundle)
    return names, images


def _read(inputs: Iterable[InputLike], bundle: Bundle) -> tuple[list[str], torch.Tensor, dict[str, tuple[int, int]]]:
    """`read_inputs`, and the size (width, height) of each image file as it was before resizing."""
    names: list[str] = []
    parts: list[np.ndarray] = []
    sizes: dict[str, tuple[int, int]] = {}
    for k, item in enumerate(inputs):
        if isinstance(item, (np.ndarray, torch.Tensor)):
            label = f"array{k}"
            x = _check_array(_as_numpy(item), label, bundle)
            names += [f"{label}[{i}]" for i in range(len(x))]
        else:
            path = Path(item)
            if path.suffix.lower() == ".npz":
                x = _read_npz(path, bundle)
                names += [f"{path}[{i}]" for i in range(len(x))]
            else:
                x = read_image(path, bundle.input_shape, bundle.pixel_max)[None]
                names.append(str(path))
                sizes[str(path)] = _file_size(path)
        parts.append(x)
    return names, torch.from_numpy(np.concatenate(parts).astype(np.float32, copy=False)), sizes


def _file_size(path: Path) -> tuple[int, int]:
    from PIL import Image

    with Image.open(path) as img:  # reads the header only; the image was read whole before
        return img.size


def _warn_if_unlike_training(bundle: Bundle, names: list[str], images: torch.Tensor,
                             sizes: dict[str, tuple[int, int]]) -> None:
    """One warning line naming the inputs that look unlike the model's training images, if any."""
    _, h, w = bundle.input_shape
    middle = bundle.pixel_max / 2
    dataset = bundle.dataset or ""
    problems = []
    if not dataset.startswith("folder:"):  # a folder: data set's own images were resized from any size
        large = [f"{n} ({sw} x {sh})" for n, (sw, sh) in sizes.items() if sw > LARGE * w or sh > LARGE * h]
        if large:
            problems.append(f"{_few(large)} much larger than the model's {w} x {h} input, so shrunk to it")
    level = bundle.border_mean
    if level is None and dataset in DARK_BACKGROUND:
        level = 0.0
    if level is not None and level != middle:
        # the border mean, as recorded for the training images, and the median: a frame drawn
        # around a black-on-white drawing hides its bright background from the border alone
        dark = level < middle
        backgrounds = zip(border_means(images).tolist(), images.flatten(1).median(1).values.tolist())
        odd = [n for n, (b, m) in zip(names, backgrounds) if (max(b, m) > middle if dark else min(b, m) < middle)]
        if odd:
            problems.append(f"{_few(odd)} with a {'bright' if dark else 'dark'} background (border mean or median "
                            f"{'above' if dark else 'below'} {middle:g} of 0..{bundle.pixel_max:g})")
    if not problems:
        return
    seen = f"{w} x {h} images"
    if level is not None and level != middle:
        seen += f" with a {'dark' if level < middle else 'bright'} background"
        if bundle.border_mean is not None:
            seen += f" (border mean {bundle.border_mean:.2f})"
    if dataset == "digits":
        seen += ": white strokes on black, the digit centred and filling the image, values 0..16"
    log.warning("the answers may be wrong for inputs unlike the training images: %s; the model "
                "was trained on %s", "; ".join(problems), seen)


def _few(names: list[str], k: int = 3) -> str:
    more = f" and {len(names) - k} more" if len(names) > k else ""
    return ", ".join(names[:k]) + more


def read_image(path: str | Path, input_shape: tuple[int, int, int], pixel_max: float) -> np.ndarray:
    """An image file as a C x H x W float32 array in 0..pixel_max for a model taking `input_shape`.

    Read as the `folder:` data source reads training images: EXIF orientation applied, 16-bit
    grey scaled to 8 bits, alpha dropped, converted to RGB and stretched to W x H (bilinear), then
    to grey (ITU-R 601-2 luma, Pillow's "L") for a one-channel model; 8-bit values v become
    v / 255 * pixel_max.
    """
    path = Path(path)
    c, h, w = input_shape
    if c not in (1, 3):
        raise DataError(f"{str(path)!r}: the model takes {c}-channel images and an image file gives grey (1) or "
                        f"RGB (3) channels; pass an .npz with an array x of shape N x {c} x {h} x {w}")
    _check_file(path)
    rgb = read_rgb(path, w, h)
    if c == 1:  # grey as Pillow's "L" (ITU-R 601-2 luma), as the folder: data source converts
        from PIL import Image

        rgb = np.asarray(Image.fromarray(rgb).convert("L"))
    x = rgb.astype(np.float32) / 255.0 * pixel_max
    x = x[None] if x.ndim == 2 else x.transpose(2, 0, 1)
    return np.ascontiguousarray(x, dtype=np.float32)


def _read_npz(path: Path, bundle: Bundle) -> np.ndarray:
    _check_file(path)
    archive = read_arrays(path)
    if NPZ_ARRAY not in archive:
        have = ", ".join(sorted(archive)) or "none"
        raise DataError(f"{str(path)!r} has no array {NPZ_ARRAY!r} (it has: {have}); save the images "
                        f"with numpy.savez(file, {NPZ_ARRAY}=images)")
    return _check_array(archive[NPZ_ARRAY], f"{path}: {NPZ_ARRAY}", bundle)


def _check_array(x: np.ndarray, what: str, bundle: Bundle) -> np.ndarray:
    c, h, w = bundle.input_shape
    expected = f"N x {c} x {h} x {w}" + (f" (or N x {h} x {w})" if c == 1 else "")
    if x.dtype == bool or not np.issubdtype(x.dtype, np.number) or np.iscomplexobj(x):
        raise DataError(f"{what}: expected real numbers (raw pixel values); got dtype {x.dtype}")
    shape = " x ".join(map(str, x.shape))
    if x.ndim == 3 and c == 1:
        x = x[:, None]
    if x.ndim != 4 or tuple(x.shape[1:]) != (c, h, w):
        hint = ""
        if x.ndim == 4 and tuple(x.shape[1:]) == (h, w, c):
            hint = "; it looks channels-last: use x.transpose(0, 3, 1, 2)"
        elif x.ndim == 3 and c != 1:
            hint = f"; grey images, but the model takes {c} channels"
        raise DataError(f"{what}: got images of shape {shape}; the model expects {expected}{hint}")
    if len(x) == 0:
        raise DataError(f"{what}: holds no images (shape {shape})")
    x = x.astype(np.float32)
    if not np.isfinite(x).all():
        raise DataError(f"{what}: contains NaN or infinite values")
    lo, hi = float(x.min()), float(x.max())
    if lo < 0 or hi > bundle.pixel_max:
        log.warning("%s: values span %g..%g but the model expects raw pixel values in 0..%g", what, lo, hi,
                    bundle.pixel_max)
    return x


def _as_numpy(x: np.ndarray | torch.Tensor) -> np.ndarray:
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def _check_file(path: Path) -> None:
    if not path.exists():
        raise DataError(f"{str(path)!r}: no such file")
    if path.is_dir():
        raise DataError(f"{str(path)!r} is a folder; give image or .npz files")


def _probabilities(bundle: Bundle, images: torch.Tensor, batch_size: int) -> torch.Tensor:
    module = ProbabilityModel(bundle)
    with torch.no_grad():
        return torch.cat([module(images[i : i + batch_size]) for i in range(0, len(images), batch_size)]).double()
