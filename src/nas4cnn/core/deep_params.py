"""Shapes, parameter counts and multiply-accumulates of deep-space networks, without PyTorch.

The layers are those `nas4cnn.nn.deep_model.DeepCNN` builds (tests/test_deep_space.py checks
every count against the built network's): a full convolution has f·c·k² weights and, without
batch norm after it, f biases; a separable one a depthwise c·k² (no bias) and a pointwise
f·c (and f biases without batch norm); batch norm has 2f (its running statistics are
buffers, not parameters); pooling, activations and dropout have none. Multiply-accumulates
(MACs) count the convolutions' and linear layers' products for one image.

Nmax, the largest count in a space, is found exactly without listing the space (which may
hold billions of genotypes): a block's parameters depend only on its input's channels and
size and its own choices, so the largest sum over blocks is a walk over the (channels,
height, width) states each depth can reach.
"""

from __future__ import annotations

import itertools

from nas4cnn.core.deep_space import Block, DeepArchitecture, DeepSpace
from nas4cnn.core.errors import ConfigError

InputShape = tuple[int, int, int]  # channels, height, width
State = tuple[int, int, int]


def conv_out(size: int, block: Block) -> int:
    """Spatial size after the block's convolution (padding k // 2, as PyTorch floors)."""
    return (size + 2 * block.padding - block.kernel) // block.stride + 1


def block_out(state: State, block: Block) -> State:
    """(channels, height, width) after the block: convolution, then pooling."""
    _, h, w = state
    return block.filters, conv_out(h, block) // block.pool.size, conv_out(w, block) // block.pool.size


def block_params(channels: int, block: Block) -> int:
    f, k = block.filters, block.kernel
    bias = 0 if block.batchnorm else f
    conv = channels * k * k + f * channels if block.separable else f * channels * k * k
    return conv + bias + (2 * f if block.batchnorm else 0)


def block_macs(state: State, block: Block) -> int:
    c, h, w = state
    positions = conv_out(h, block) * conv_out(w, block)
    k2 = block.kernel**2
    return positions * (c * k2 + c * block.filters if block.separable else block.filters * c * k2)


def shapes(arch: DeepArchitecture, input_shape: InputShape) -> list[State]:
    """The input's (channels, height, width) and each block's output."""
    out = [tuple(input_shape)]
    for b in arch.blocks:
        out.append(block_out(out[-1], b))
    return out


def shrink_reason(arch: DeepArchitecture, input_shape: InputShape) -> str | None:
    """Why `arch` cannot be built on `input_shape` images (a feature map shrinks to nothing),
    or None where it can."""
    states = shapes(arch, input_shape)
    for i, (_, h, w) in enumerate(states[1:], 1):
        if h < 1 or w < 1:
            path = " -> ".join(f"{s[1]}x{s[2]}" for s in states[: i + 1])
            size = f"{input_shape[1]}x{input_shape[2]}"
            return f"its feature map shrinks to nothing in block {i} ({path}) on {size} inputs"
    return None


def features(arch: DeepArchitecture, input_shape: InputShape) -> int:
    """The head's output size: channels (global average pooling) or channels × height × width."""
    c, h, w = shapes(arch, input_shape)[-1]
    return c if arch.head == "gap" else c * max(h, 0) * max(w, 0)


def _linear_sizes(arch: DeepArchitecture, input_shape: InputShape, num_classes: int) -> list[tuple[int, int]]:
    sizes = [features(arch, input_shape), *arch.hidden, num_classes]
    return list(zip(sizes, sizes[1:]))


def count_params(arch: DeepArchitecture, input_shape: InputShape, num_classes: int) -> int:
    """The parameters of `arch` on `input_shape` images with `num_classes` outputs."""
    total, channels = 0, input_shape[0]
    for b in arch.blocks:
        total += block_params(channels, b)
        channels = b.filters
    return total + sum(i * o + o for i, o in _linear_sizes(arch, input_shape, num_classes))


def count_macs(arch: DeepArchitecture, input_shape: InputShape, num_classes: int) -> int:
    """Multiply-accumulates of one image's forward pass (convolutions and linear layers)."""
    total, state = 0, tuple(input_shape)
    for b in arch.blocks:
        total += block_macs(state, b)
        state = block_out(state, b)
    return total + sum(i * o for i, o in _linear_sizes(arch, input_shape, num_classes))


def _block_options(space: DeepSpace, position: int) -> list[Block]:
    """Block position `position`'s distinct choices that matter for shapes and parameters."""
    bs = space.blocks[position]
    choices = itertools.product(bs.filters, bs.kernel, bs.stride, bs.pool, bs.batchnorm, bs.conv)
    return [Block(f, k, s, bs.activation[0], p, bn, c == "separable") for f, k, s, p, bn, c in choices]


def reachable(space: DeepSpace, input_shape: InputShape) -> dict[int, dict[State, int]]:
    """For each depth of the space: the states its networks' last blocks can end in (maps of
    at least 1x1), each with the most block parameters that reach it."""
    states: dict[State, int] = {tuple(input_shape): 0}
    out: dict[int, dict[State, int]] = {}
    for i in range(max(space.depth)):
        nxt: dict[State, int] = {}
        for state, best in states.items():
            for b in _block_options(space, i):
                s = block_out(state, b)
                if s[1] < 1 or s[2] < 1:
                    continue
                value = best + block_params(state[0], b)
                if value > nxt.get(s, -1):
                    nxt[s] = value
        states = nxt
        if i + 1 in space.depth:
            out[i + 1] = dict(states)
    return out


def max_params(space: DeepSpace, input_shape: InputShape, num_classes: int) -> int:
    """Nmax: the largest parameter count of a network of the space that fits `input_shape`."""
    best = 0
    widths = space.width
    for by_state in reachable(space, input_shape).values():
        for (c, h, w), blocks in by_state.items():
            for head, hidden in itertools.product(space.head, space.hidden):
                n = c if head == "gap" else c * h * w
                for ws in itertools.product(widths, repeat=hidden):
                    sizes = [n, *ws, num_classes]
                    best = max(best, blocks + sum(i * o + o for i, o in zip(sizes, sizes[1:])))
    return best


def check_fits(space: DeepSpace, input_shape: InputShape) -> None:
    """Some network of the space fits `input_shape` images; a ConfigError says otherwise.
    (Networks that do not fit are skipped by the search, each with its reason.)"""
    if not any(reachable(space, input_shape).values()):
        raise ConfigError(f"space {space.label!r}: every network's feature map shrinks to nothing on "
                          f"{input_shape[1]}x{input_shape[2]} inputs; use fewer blocks, strides or poolings")
