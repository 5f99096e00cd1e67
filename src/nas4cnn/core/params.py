"""Parameter counts of the seed's architecture, computed from the genotype and the input shape.

The network (`nas4cnn.nn.model.CNN`) is Conv2d -> f -> Pool -> Flatten -> Linear 1 -> f ->
Linear 2; only the convolution and the two linear layers have parameters (weights and biases;
activations and pooling have none). Counting needs no PyTorch, so the command line can show a
space's Nmax at once; tests/test_params.py checks every count against the built network's.
"""

from __future__ import annotations

import itertools

from nas4cnn.core.errors import ConfigError
from nas4cnn.core.space import Architecture, SearchSpace

InputShape = tuple[int, int, int]  # channels, height, width


def feature_hw(arch: Architecture, height: int, width: int) -> tuple[int, int]:
    """Spatial size after the convolution and the pooling (floor division, as PyTorch)."""
    c = arch.conv
    h = (height + 2 * c.padding - c.kernel) // c.stride + 1
    w = (width + 2 * c.padding - c.kernel) // c.stride + 1
    return h // arch.pooling.size, w // arch.pooling.size


def count_params(arch: Architecture, input_shape: InputShape, num_classes: int) -> int:
    """Weights and biases of the convolution and the two linear layers of `arch` on inputs of
    `input_shape` (channels, height, width) with `num_classes` outputs."""
    channels, height, width = input_shape
    h, w = feature_hw(arch, height, width)
    conv = arch.filters * channels * arch.conv.kernel**2 + arch.filters
    linear1 = arch.filters * h * w * arch.linear + arch.linear
    linear2 = arch.linear * num_classes + num_classes
    return conv + linear1 + linear2


def max_params(space: SearchSpace, input_shape: InputShape, num_classes: int) -> int:
    """Nmax: the largest parameter count in the space for this input shape (activation adds none)."""
    act = space.activation[0]
    return max(
        count_params(Architecture(f, c, act, p, n), input_shape, num_classes)
        for f, c, p, n in itertools.product(space.filters, space.conv, space.pooling, space.linear)
    )


def check_features(space: SearchSpace, input_shape: InputShape) -> None:
    """Every conv/pooling combination of the space must leave at least a 1x1 feature map on
    inputs of `input_shape`; a ConfigError names the first that does not."""
    _, height, width = input_shape
    probe = space.decode((0,) * 5)
    for conv, pool in itertools.product(space.conv, space.pooling):
        arch = Architecture(probe.filters, conv, probe.activation, pool, probe.linear)
        h, w = feature_hw(arch, height, width)
        if h < 1 or w < 1:
            raise ConfigError(
                f"space: conv '{conv.label}' with pooling '{pool.label}' leaves no features on "
                f"{height}x{width} inputs; remove one of them or use larger images"
            )
