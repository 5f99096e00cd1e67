"""Input scaling: a per-channel affine map fitted on the training split, kept with the model."""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
from torch import nn

from nas4cnn.core.config import SCALINGS
from nas4cnn.data.dataset import DataSet, Split


@dataclass(frozen=True)
class Normalization:
    """x -> (x - mean) / std per channel, on raw pixel values."""

    mean: tuple[float, ...]
    std: tuple[float, ...]

    def apply(self, x: torch.Tensor) -> torch.Tensor:
        shape = (1, -1, 1, 1)
        mean = torch.tensor(self.mean, dtype=x.dtype, device=x.device).view(shape)
        std = torch.tensor(self.std, dtype=x.dtype, device=x.device).view(shape)
        return (x - mean) / std

    def module(self) -> nn.Module:
        return Normalize(self)

    def to_dict(self) -> dict:
        return {"mean": list(self.mean), "std": list(self.std)}

    @classmethod
    def from_dict(cls, d: dict) -> Normalization:
        return cls(tuple(float(v) for v in d["mean"]), tuple(float(v) for v in d["std"]))

    @classmethod
    def identity(cls, channels: int) -> Normalization:
        return cls((0.0,) * channels, (1.0,) * channels)


class Normalize(nn.Module):
    def __init__(self, norm: Normalization):
        super().__init__()
        self.register_buffer("mean", torch.tensor(norm.mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(norm.std, dtype=torch.float32).view(1, -1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


def fit_normalization(kind: str, data: DataSet) -> Normalization:
    """`none`: raw values; `unit`: divided by the format's largest pixel value; `standardize`:
    zero mean, unit variance per channel over the training images."""
    c = data.input_shape[0]
    if kind == "none":
        return Normalization.identity(c)
    if kind == "unit":
        return Normalization((0.0,) * c, (data.pixel_max,) * c)
    if kind == "standardize":
        x = data.train.x.double()
        mean = x.mean(dim=(0, 2, 3))
        std = x.std(dim=(0, 2, 3)).clamp_min(1e-8)
        return Normalization(tuple(mean.tolist()), tuple(std.tolist()))
    raise ValueError(f"unknown scaling {kind!r}; expected one of {SCALINGS}")


def normalize(data: DataSet, norm: Normalization) -> DataSet:
    """The data set with every split's images mapped by `norm`."""

    def split(s: Split) -> Split:
        return Split(norm.apply(s.x), s.y)

    return replace(data, train=split(data.train), val=split(data.val), test=split(data.test))
