"""The activations, looked up by name: one registry entry holds all the package needs of one.

An entry gives the activation's name (a choice of the space's activation gene, and a part of
readable architecture names), the `torch.nn` module the plain model (`model.CNN`) applies,
the forward and derivative kernels of the stacked engine (which differentiates its networks
by hand), and its case in the fused C step's switch (`enum { RELU, ... }` in fused_step.c:
that switch has to stay in C, and `code` is how `fused.FusedStep` names the case).

What every entry guarantees (tests/test_activations.py checks each one):

- `forward` computes the module's function and `backward` its derivative, up to float rounding;
- the function is non-decreasing: the engines max-pool before the activation, the same as
  after it only for such functions (f(max y) = max f(y));
- the fused C step handles `code` with the same function and derivative;
- the name is lower-case letters, digits or '_' (it is read back from architecture names).

Importing this module does not import torch (listing the names is fast); the kernels and
`Activation.layer` import it when first used. The kernels are PyTorch's own functions up to
float rounding, written with the fastest vectorised operations: on a CPU PyTorch's softplus,
ELU and some backward kernels are several times slower than a few element-wise operations.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from nas4cnn.core.errors import ConfigError

if TYPE_CHECKING:
    from torch import Tensor, nn


@dataclass(frozen=True)
class Activation:
    """One activation function, in each form the package uses."""

    name: str
    module: str  # its class in torch.nn, built with default arguments: the plain model's layer
    code: int  # its case in fused_step.c's switch on each candidate's activation
    forward: Callable[[Tensor, Tensor], Tensor]  # (z, out) -> out = f(z)
    # (grad, z, f(z), out) -> out = grad * f'(z); `out` is a tensor apart from the inputs
    backward: Callable[[Tensor, Tensor, Tensor, Tensor], Tensor]

    def layer(self) -> nn.Module:
        """A new module computing this activation, for the plain model."""
        from torch import nn

        return getattr(nn, self.module)()


@functools.cache
def _one() -> Tensor:
    import torch

    return torch.ones(())  # a 0-dim CPU tensor, usable with tensors on any device


def _relu(z: Tensor, out: Tensor) -> Tensor:
    import torch

    return torch.clamp(z, min=0, out=out)


def _relu_backward(g: Tensor, z: Tensor, a: Tensor, out: Tensor) -> Tensor:
    import torch

    return torch.ops.aten.threshold_backward.grad_input(g, a, 0, grad_input=out)


def _sigmoid(z: Tensor, out: Tensor) -> Tensor:
    import torch

    return torch.sigmoid(z, out=out)


def _sigmoid_backward(g: Tensor, z: Tensor, a: Tensor, out: Tensor) -> Tensor:
    import torch

    return torch.ops.aten.sigmoid_backward.grad_input(g, a, grad_input=out)


def _tanh(z: Tensor, out: Tensor) -> Tensor:
    import torch

    return torch.tanh(z, out=out)


def _tanh_backward(g: Tensor, z: Tensor, a: Tensor, out: Tensor) -> Tensor:
    import torch

    # 1 - tanh(z)^2 from the output: exact, and faster than PyTorch's backward kernel
    return torch.addcmul(_one(), a, a, value=-1, out=out).mul_(g)


def _softplus(z: Tensor, out: Tensor) -> Tensor:
    import torch

    # PyTorch's softplus (beta 1, threshold 20) is log1p(exp(z)), or z above 20; log1p is
    # several times slower than log on a CPU, and log(1 + exp(z)) differs from it by less
    # than float rounding of the result where it matters (it is above z everywhere).
    torch.clamp(z, max=20, out=out).exp_().add_(1).log_()
    return torch.maximum(out, z, out=out)


def _softplus_backward(g: Tensor, z: Tensor, a: Tensor, out: Tensor) -> Tensor:
    import torch

    return torch.sigmoid(z, out=out).mul_(g)  # within a few float ulps of PyTorch's


def _elu(z: Tensor, out: Tensor) -> Tensor:
    import torch

    torch.clamp(z, max=0, out=out).exp_().sub_(1)
    return out.add_(z.clamp(min=0))


def _elu_backward(g: Tensor, z: Tensor, a: Tensor, out: Tensor) -> Tensor:
    import torch

    return torch.clamp(a, max=0, out=out).add_(1).mul_(g)  # within a few float ulps of PyTorch's


ACTIVATIONS: dict[str, Activation] = {
    a.name: a
    for a in (
        Activation("relu", "ReLU", 0, _relu, _relu_backward),
        Activation("sigmoid", "Sigmoid", 1, _sigmoid, _sigmoid_backward),
        Activation("tanh", "Tanh", 2, _tanh, _tanh_backward),
        Activation("softplus", "Softplus", 3, _softplus, _softplus_backward),
        Activation("elu", "ELU", 4, _elu, _elu_backward),
    )
}


def activation_names() -> tuple[str, ...]:
    """The registered activations' names, in registry order."""
    return tuple(ACTIVATIONS)


def get_activation(name: str, what: str = "space.activation") -> Activation:
    """The registry entry of `name`; an unknown name is a ConfigError naming `what` and the valid names."""
    try:
        return ACTIVATIONS[name]
    except (KeyError, TypeError):
        raise ConfigError(f"{what}: expected one of {list(ACTIVATIONS)}; got {name!r}") from None


def check_activation_names(names: Iterable[str], what: str = "space.activation") -> None:
    """Every name must be registered (the first that is not is named in a ConfigError)."""
    for name in names:
        get_activation(name, what)
