"""A network listed layer by layer: each layer's kind, output shape and parameters, for the
seed space's and deep spaces' architectures alike, without PyTorch (the report lists the
final model this way). The parameters add up to `core.params.count_params`."""

from __future__ import annotations

from dataclasses import dataclass

from nas4cnn.core import deep_params
from nas4cnn.core.deep_space import DeepArchitecture
from nas4cnn.core.params import feature_hw
from nas4cnn.core.space import Architecture

InputShape = tuple[int, int, int]


@dataclass(frozen=True)
class Layer:
    name: str  # like "conv 3x3, 32 filters" or "linear 100 -> 10"
    shape: tuple[int, ...]  # one image's output: channels x height x width, or features
    params: int


def _conv_name(kind: str, kernel: int, stride: int, filters: int) -> str:
    s = f", stride {stride}" if stride != 1 else ""
    return f"{kind} {kernel}x{kernel}{s}, {filters} filters"


def _seed_layers(arch: Architecture, input_shape: InputShape, num_classes: int) -> list[Layer]:
    c, height, width = input_shape
    conv = arch.conv
    ch = (height + 2 * conv.padding - conv.kernel) // conv.stride + 1
    cw = (width + 2 * conv.padding - conv.kernel) // conv.stride + 1
    h, w = feature_hw(arch, height, width)
    f, n = arch.filters, arch.linear
    out = [Layer(_conv_name("conv", conv.kernel, conv.stride, f), (f, ch, cw), f * c * conv.kernel**2 + f),
           Layer(arch.activation, (f, ch, cw), 0)]
    if not arch.pooling.is_identity:
        out.append(Layer(f"{arch.pooling.kind} pooling {arch.pooling.size}x{arch.pooling.size}", (f, h, w), 0))
    out += [Layer(f"flatten, linear {f * h * w} -> {n}", (n,), f * h * w * n + n), Layer(arch.activation, (n,), 0),
            Layer(f"linear {n} -> {num_classes}, log-softmax", (num_classes,), n * num_classes + num_classes)]
    return out


def _deep_layers(arch: DeepArchitecture, input_shape: InputShape, num_classes: int) -> list[Layer]:
    out = []
    state = tuple(input_shape)
    for b in arch.blocks:
        c = state[0]
        h, w = deep_params.conv_out(state[1], b), deep_params.conv_out(state[2], b)
        bias = 0 if b.batchnorm else b.filters
        if b.separable:
            s = f", stride {b.stride}" if b.stride != 1 else ""
            out += [Layer(f"depthwise conv {b.kernel}x{b.kernel}{s}, {c} channels", (c, h, w), c * b.kernel**2),
                    Layer(f"pointwise conv 1x1, {b.filters} filters", (b.filters, h, w), b.filters * c + bias)]
        else:
            out.append(Layer(_conv_name("conv", b.kernel, b.stride, b.filters), (b.filters, h, w),
                             b.filters * c * b.kernel**2 + bias))
        if b.batchnorm:
            out.append(Layer("batch norm", (b.filters, h, w), 2 * b.filters))
        out.append(Layer(b.activation, (b.filters, h, w), 0))
        state = deep_params.block_out(state, b)
        if not b.pool.is_identity:
            out.append(Layer(f"{b.pool.kind} pooling {b.pool.size}x{b.pool.size}", state, 0))
    n = deep_params.features(arch, input_shape)
    out.append(Layer("global average pooling" if arch.head == "gap" else "flatten", (n,), 0))
    drop = [Layer(f"dropout {arch.dropout:g}", (n,), 0)] if arch.dropout else []
    for width in arch.hidden:
        out += [*drop, Layer(f"linear {n} -> {width}", (width,), n * width + width),
                Layer(arch.activation, (width,), 0)]
        n = width
        drop = [Layer(f"dropout {arch.dropout:g}", (n,), 0)] if arch.dropout else []
    out += [*drop, Layer(f"linear {n} -> {num_classes}, log-softmax", (num_classes,), n * num_classes + num_classes)]
    return out


def layers(arch: Architecture | DeepArchitecture, input_shape: InputShape, num_classes: int) -> list[Layer]:
    """`arch` on `input_shape` images with `num_classes` outputs, layer by layer."""
    if isinstance(arch, DeepArchitecture):
        return _deep_layers(arch, input_shape, num_classes)
    return _seed_layers(arch, input_shape, num_classes)
