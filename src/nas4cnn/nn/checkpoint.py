"""The model bundle: a trained network saved with everything needed to rebuild and use it.

`save_model` writes it, `load_bundle` reads it back; `ProbabilityModel` is the bundle as one
module from raw pixels to class probabilities, what `export` writes out and `predict` runs.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from nas4cnn.core.deep_space import DeepArchitecture
from nas4cnn.core.errors import ConfigError, RunDirError
from nas4cnn.core.rundir import MODEL, atomic_path
from nas4cnn.core.space import Architecture
from nas4cnn.data.preprocess import Normalization, Normalize
from nas4cnn.nn.model import CNN, build_model

FORMAT = "nas4cnn-model/1"


@dataclass(frozen=True)
class Bundle:
    """A saved network with what it needs around it: the input map and the class names.

    Raw images (pixel values in 0..pixel_max, as the data set stores them) go through
    `normalization`, then `model`, whose output is log-probabilities over `class_names`.
    """

    model: CNN
    genotype: tuple[int, ...]
    arch_name: str
    input_shape: tuple[int, int, int]
    class_names: tuple[str, ...]
    normalization: Normalization
    pixel_max: float
    config: dict | None
    border_mean: float | None = None  # the training images' mean border value (0..pixel_max), if recorded

    @property
    def dataset(self) -> str | None:
        """The data set the network was trained on, as the run's config names it (None if unknown)."""
        data = self.config.get("data") if isinstance(self.config, dict) else None
        name = data.get("dataset") if isinstance(data, dict) else None
        return name if isinstance(name, str) else None


class ProbabilityModel(nn.Module):
    """A bundle as one module: raw pixels (N x C x H x W, 0..pixel_max) -> the bundle's
    normalisation -> CNN -> class probabilities (N x K, in the order of `class_names`)."""

    def __init__(self, bundle: Bundle):
        super().__init__()
        self.normalize = Normalize(bundle.normalization)
        self.model = bundle.model
        self.eval()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.exp(self.model(self.normalize(x)))


def border_means(images: torch.Tensor) -> torch.Tensor:
    """The mean value of each N x C x H x W image's outermost rows and columns (all channels):
    how bright its background is, in the images' own range."""
    h, w = images.shape[-2:]
    border = torch.ones((h, w), dtype=torch.bool)
    border[1:-1, 1:-1] = False
    return images.float()[..., border].flatten(1).mean(1)


def save_model(
    model: CNN,
    path: str | Path,
    genotype,
    normalization: Normalization | None = None,
    class_names: tuple[str, ...] = (),
    pixel_max: float = 255.0,
    extra: dict | None = None,
    train_images: torch.Tensor | None = None,
) -> None:
    """Write `model` to `path` (atomically) with what rebuilds and feeds it. `train_images`
    (raw, N x C x H x W), when given, are only measured: their mean border value is recorded,
    so that `predict` can tell an input whose background is unlike theirs."""
    path = Path(path)
    normalization = normalization or Normalization.identity(model.input_shape[0])
    stats = {} if train_images is None or not len(train_images) else \
        {"border_mean": float(border_means(train_images).mean())}
    payload = {
        "format": FORMAT,
        "arch": model.arch.to_dict(),
        "arch_name": model.arch.name,
        "genotype": list(genotype),
        "input_shape": list(model.input_shape),
        "num_classes": model.num_classes,
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "normalization": normalization.to_dict(),
        "class_names": list(class_names) or [str(i) for i in range(model.num_classes)],
        "pixel_max": float(pixel_max),
        **stats,
        **(extra or {}),
    }
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def model_file(run_dir: str | Path) -> Path:
    """The model.pt of a run directory (a search run or a `nas4cnn train --out` folder); a path to
    the model file itself is accepted too."""
    path = Path(run_dir)
    if path.is_file():
        return path
    if not path.exists():
        raise RunDirError(f"run: no such folder {str(path)!r}")
    model = path / MODEL
    if not model.is_file():
        raise RunDirError(f"run: no {MODEL} in {str(path)!r}; expected a finished `nas4cnn search` run "
                          "or a `nas4cnn train --out` folder")
    return model


def load_run_bundle(run_dir: str | Path) -> tuple[Bundle, Path]:
    """The run's saved model with its normalisation and class names, and the file it came from."""
    path = model_file(run_dir)
    return load_bundle(path), path


def load_model(path: str | Path, map_location: str = "cpu") -> CNN:
    """Rebuild the saved network (in eval mode) from a `model.pt` written by `save_model`."""
    return load_bundle(path, map_location).model


def load_bundle(path: str | Path, map_location: str = "cpu") -> Bundle:
    """The saved network (in eval mode) with its input normalisation and class names."""
    path = Path(path)
    if torch.device(map_location).type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"map_location: {map_location!r} was asked for but PyTorch sees no CUDA GPU")
    try:
        with warnings.catch_warnings():  # the weights-only unpickler warns about foreign pickles
            warnings.simplefilter("ignore")
            payload = torch.load(path, map_location=map_location, weights_only=True)
    except FileNotFoundError:
        raise RunDirError(f"model: no such file {str(path)!r}") from None
    except Exception as e:  # a corrupt or foreign file; torch's own messages span lines and advise unsafe loading
        raise _unreadable(path, _why(path, e)) from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise _unreadable(path, f"a PyTorch file, but not a model saved by nas4cnn ({FORMAT})")
    try:
        return _rebuild(payload)
    except Exception as e:  # the right format tag over missing or mismatched contents
        raise _unreadable(path, f"damaged contents: {type(e).__name__}") from None


def _unreadable(path: Path, why: str) -> RunDirError:
    return RunDirError(f"model: {str(path)!r} is not a readable nas4cnn model ({why})")


def _why(path: Path, e: Exception) -> str:
    """A short reason for torch.load's failure, without torch's text."""
    if isinstance(e, IsADirectoryError):
        return "it is a folder"
    if isinstance(e, OSError):
        return e.strerror or type(e).__name__
    try:
        with open(path, "rb") as f:
            head = f.read(4)
    except OSError as err:
        return err.strerror or type(err).__name__
    if not head:
        return "the file is empty"
    if head != b"PK\x03\x04":  # torch.save writes a zip archive
        return "not a PyTorch model file"
    return "a damaged PyTorch file, or one holding more than tensors and plain values"


def _rebuild(payload: dict) -> Bundle:
    deep = payload["arch"].get("kind") == "deep"
    arch = DeepArchitecture.from_dict(payload["arch"]) if deep else Architecture.from_dict(payload["arch"])
    model = build_model(arch, tuple(payload["input_shape"]), payload["num_classes"])
    model.load_state_dict(payload["state_dict"])
    c = int(payload["input_shape"][0])
    return Bundle(
        model=model.eval(),
        genotype=tuple(payload["genotype"]),
        arch_name=payload["arch_name"],
        input_shape=tuple(payload["input_shape"]),
        class_names=tuple(payload.get("class_names") or (str(i) for i in range(payload["num_classes"]))),
        normalization=Normalization.from_dict(payload["normalization"]) if "normalization" in payload
        else Normalization.identity(c),
        pixel_max=float(payload.get("pixel_max", 255.0)),
        config=payload.get("config"),
        border_mean=float(payload["border_mean"]) if payload.get("border_mean") is not None else None,
    )
