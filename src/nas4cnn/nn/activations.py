"""The space's activations as forward and backward kernels writing into given tensors.

The stacked engine differentiates its networks by hand, so each activation comes with its
derivative. Each is PyTorch's own function up to float rounding, written with the fastest
vectorised kernels: on a CPU PyTorch's softplus, ELU and some backward kernels are several
times slower than a few plain elementwise operations.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

aten = torch.ops.aten
Tensor = torch.Tensor


@dataclass(frozen=True)
class Activation:
    forward: Callable[[Tensor, Tensor], Tensor]  # (z, out) -> out = f(z)
    backward: Callable[[Tensor, Tensor, Tensor, Tensor], Tensor]  # (grad, z, f(z), out) -> out = grad * f'(z)


def _softplus(z: Tensor, out: Tensor) -> Tensor:
    # PyTorch's softplus (beta 1, threshold 20) is log1p(exp(z)), or z above 20; log1p is
    # several times slower than log on a CPU, and log(1 + exp(z)) differs from it by less
    # than float rounding of the result where it matters (it is above z everywhere).
    torch.clamp(z, max=20, out=out).exp_().add_(1).log_()
    return torch.maximum(out, z, out=out)


def _elu(z: Tensor, out: Tensor) -> Tensor:
    torch.clamp(z, max=0, out=out).exp_().sub_(1)
    return out.add_(z.clamp(min=0))


_ONE = torch.ones(())  # a 0-dim CPU tensor, usable with tensors on any device

# The backward kernels of tanh, softplus and ELU are written with faster vectorised ops
# (tanh's is exact; the others agree to within a few float ulps).
ACTIVATIONS: dict[str, Activation] = {
    "relu": Activation(
        lambda z, out: torch.clamp(z, min=0, out=out),
        lambda g, z, a, out: aten.threshold_backward.grad_input(g, a, 0, grad_input=out),
    ),
    "sigmoid": Activation(
        lambda z, out: torch.sigmoid(z, out=out),
        lambda g, z, a, out: aten.sigmoid_backward.grad_input(g, a, grad_input=out),
    ),
    "tanh": Activation(
        lambda z, out: torch.tanh(z, out=out),
        lambda g, z, a, out: torch.addcmul(_ONE, a, a, value=-1, out=out).mul_(g),
    ),
    "softplus": Activation(
        _softplus,
        lambda g, z, a, out: torch.sigmoid(z, out=out).mul_(g),
    ),
    "elu": Activation(
        _elu,
        lambda g, z, a, out: torch.clamp(a, max=0, out=out).add_(1).mul_(g),
    ),
}
