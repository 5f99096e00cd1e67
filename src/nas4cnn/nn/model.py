"""Build a network from an architecture (the seed space's or a deep space's) and the data's
shape; count its parameters."""

from __future__ import annotations

import torch
from torch import nn

from nas4cnn.core import params
from nas4cnn.core.deep_space import DeepArchitecture, DeepSpace
from nas4cnn.core.space import Architecture, SearchSpace
from nas4cnn.nn.activations import check_activation_names, get_activation
from nas4cnn.nn.deep_model import DeepCNN

InputShape = tuple[int, int, int]  # channels, height, width

feature_hw = params.feature_hw  # spatial size after the convolution and the pooling
refusal = params.refusal  # why a network is not trained on the data's images (a deep one may not fit)
count_macs = params.count_macs
AnyArchitecture = Architecture | DeepArchitecture


def count_params(arch: AnyArchitecture, input_shape: InputShape, num_classes: int) -> int:
    """The parameters `CNN(arch, input_shape, num_classes)` has, counted without building it
    (`core.params`, torch-free)."""
    return params.count_params(arch, input_shape, num_classes)


def check_space_fits(space: SearchSpace | DeepSpace, input_shape: InputShape) -> None:
    """The space can be built on `input_shape` images: its activations are registered (see
    `nn.activations`), and every conv/pooling combination leaves at least a 1x1 feature map.
    Raises a ConfigError naming the first choice that does not fit."""
    check_activation_names(space.activation)
    params.check_features(space, input_shape)


def max_params(space: SearchSpace | DeepSpace, input_shape: InputShape, num_classes: int) -> int:
    """Nmax: the largest parameter count in the space for this input shape (`core.params`)."""
    return params.max_params(space, input_shape, num_classes)


class CNN(nn.Module):
    """Conv2d -> f -> Pool -> Flatten -> Linear 1 -> f -> Linear 2 -> LogSoftmax."""

    def __init__(self, arch: Architecture, input_shape: InputShape, num_classes: int):
        super().__init__()
        channels, height, width = input_shape
        h, w = feature_hw(arch, height, width)
        c, p = arch.conv, arch.pooling
        self.arch = arch
        self.input_shape = tuple(input_shape)
        self.num_classes = num_classes
        self.conv = nn.Conv2d(channels, arch.filters, c.kernel, stride=c.stride, padding=c.padding)
        self.act = get_activation(arch.activation).layer()
        if p.is_identity:
            self.pool: nn.Module = nn.Identity()
        elif p.kind == "avg":
            self.pool = nn.AvgPool2d(p.size)
        else:
            self.pool = nn.MaxPool2d(p.size)
        self.linear1 = nn.Linear(arch.filters * h * w, arch.linear)
        self.linear2 = nn.Linear(arch.linear, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(self.act(self.conv(x)))
        x = self.act(self.linear1(x.flatten(1)))
        return torch.log_softmax(self.linear2(x), dim=1)


def build_model(arch: AnyArchitecture, input_shape: InputShape, num_classes: int,
                seed: int | None = None) -> CNN | DeepCNN:
    """A fresh network (a `DeepCNN` for a deep space's architecture); with `seed`, its initial
    weights depend on that seed alone."""
    kind = DeepCNN if isinstance(arch, DeepArchitecture) else CNN
    if seed is None:
        return kind(arch, input_shape, num_classes)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return kind(arch, input_shape, num_classes)
