"""Parameter counts of the seed's architecture, computed from the genotype and the input shape
(and, for a deep space's networks, those of `core.deep_params`: each function here takes either).

The network (`nas4cnn.nn.model.CNN`) is Conv2d -> f -> Pool -> Flatten -> Linear 1 -> f ->
Linear 2; only the convolution and the two linear layers have parameters (weights and biases;
activations and pooling have none). Counting needs no PyTorch, so the command line can show a
space's Nmax at once; tests/test_params.py checks every count against the built network's.
"""

from __future__ import annotations

import itertools

from nas4cnn.core import deep_params
from nas4cnn.core.deep_space import DeepArchitecture, DeepSpace
from nas4cnn.core.errors import ConfigError
from nas4cnn.core.space import Architecture, SearchSpace

InputShape = tuple[int, int, int]  # channels, height, width


def feature_hw(arch: Architecture, height: int, width: int) -> tuple[int, int]:
    """Spatial size after the convolution and the pooling (floor division, as PyTorch)."""
    c = arch.conv
    h = (height + 2 * c.padding - c.kernel) // c.stride + 1
    w = (width + 2 * c.padding - c.kernel) // c.stride + 1
    return h // arch.pooling.size, w // arch.pooling.size


def count_params(arch: Architecture | DeepArchitecture, input_shape: InputShape, num_classes: int) -> int:
    """Weights and biases of the convolution and the two linear layers of `arch` on inputs of
    `input_shape` (channels, height, width) with `num_classes` outputs."""
    if isinstance(arch, DeepArchitecture):
        return deep_params.count_params(arch, input_shape, num_classes)
    channels, height, width = input_shape
    h, w = feature_hw(arch, height, width)
    conv = arch.filters * channels * arch.conv.kernel**2 + arch.filters
    linear1 = arch.filters * h * w * arch.linear + arch.linear
    linear2 = arch.linear * num_classes + num_classes
    return conv + linear1 + linear2


def count_macs(arch: Architecture | DeepArchitecture, input_shape: InputShape, num_classes: int) -> int:
    """Multiply-accumulates of one image's forward pass (convolutions and linear layers)."""
    if isinstance(arch, DeepArchitecture):
        return deep_params.count_macs(arch, input_shape, num_classes)
    channels, height, width = input_shape
    c = arch.conv
    ch = (height + 2 * c.padding - c.kernel) // c.stride + 1
    cw = (width + 2 * c.padding - c.kernel) // c.stride + 1
    h, w = feature_hw(arch, height, width)
    return ch * cw * arch.filters * channels * c.kernel**2 + arch.filters * h * w * arch.linear \
        + arch.linear * num_classes


def max_params(space: SearchSpace | DeepSpace, input_shape: InputShape, num_classes: int) -> int:
    """Nmax: the largest parameter count in the space for this input shape (activation adds
    none); for a deep space with a parameter limit, at most that limit (networks above it are
    not trained)."""
    if isinstance(space, DeepSpace):
        found = deep_params.max_params(space, input_shape, num_classes)
        return min(found, space.max_params) if space.max_params else found
    act = space.activation[0]
    return max(
        count_params(Architecture(f, c, act, p, n), input_shape, num_classes)
        for f, c, p, n in itertools.product(space.filters, space.conv, space.pooling, space.linear)
    )


def check_features(space: SearchSpace | DeepSpace, input_shape: InputShape) -> None:
    """Every conv/pooling combination of the space must leave at least a 1x1 feature map on
    inputs of `input_shape`; a ConfigError names the first that does not. (In a deep space
    some network must fit; those that do not are skipped by the search, with the reason.)"""
    if isinstance(space, DeepSpace):
        deep_params.check_fits(space, input_shape)
        return
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


def refusal(space: SearchSpace | DeepSpace, arch: Architecture | DeepArchitecture, input_shape: InputShape,
            params: int) -> str | None:
    """Why `arch` (with `params` parameters) is not trained on `input_shape` images: its
    feature map shrinks to nothing, or it is above the deep space's parameter limit; else None.
    (Every network of a seed-like space fits: `check_features` refuses such a space whole.)"""
    if not isinstance(arch, DeepArchitecture):
        return None
    why = deep_params.shrink_reason(arch, input_shape)
    if why is None and isinstance(space, DeepSpace) and space.max_params and params > space.max_params:
        why = f"it has {params:,} parameters, above the space's limit of {space.max_params:,}"
    return why
