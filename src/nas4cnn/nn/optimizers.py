"""The optimisers, looked up by name: one registry entry for each `train.optimizer` choice.

An entry names its `torch.optim` class (what the plain loop, `train.train_model`, steps
with), whether the fused C step can do its update (`steps.uses_fused_step`), and, where
there is one, a faster optimiser of a stacked group's one flat parameter tensor with the
same update. The engine's optimisers (`make_group_optimizer`) share one interface:
`step()`, `set_lr(lr)` and `select(take, params)` (follow `StackedGroup.select`).

What every entry guarantees (tests/test_optimizers.py checks each one): its group
optimiser updates weights as its `torch.optim` class does, up to float rounding; a fused
entry's group optimiser is a `FastAdamax`, whose state and step counter the C step uses.

Importing this module does not import torch; the optimisers import it when made.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from nas4cnn.core.config import setting_name
from nas4cnn.core.errors import ConfigError

if TYPE_CHECKING:
    import torch

    from nas4cnn.core.config import TrainConfig


class FastAdamax:
    """Adamax with PyTorch's update rule (weight decay added to the gradient), as a few
    in-place multi-tensor operations: `torch.optim.Adamax` spends more time in Python per
    step than this whole update takes on a small group."""

    def __init__(self, params: list[torch.Tensor], lr: float, weight_decay: float,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8):
        import torch

        self.params, self.lr, self.wd, self.betas, self.eps = params, lr, weight_decay, betas, eps
        self.exp_avg = [torch.zeros_like(p) for p in params]
        self.exp_inf = [torch.zeros_like(p) for p in params]
        self.t = 0  # steps taken

    @classmethod
    def from_config(cls, params: list[torch.Tensor], cfg: TrainConfig) -> FastAdamax:
        return cls(params, cfg.lr, cfg.weight_decay)

    def set_lr(self, lr: float) -> None:
        self.lr = lr

    def select(self, take: Callable[[torch.Tensor], torch.Tensor], params: list[torch.Tensor]) -> None:
        """Follow `StackedGroup.select`: `take` maps old state to the kept candidates' state."""
        self.exp_avg = [take(m) for m in self.exp_avg]
        self.exp_inf = [take(m) for m in self.exp_inf]
        self.params = params

    def advance(self) -> float:
        """Count one more step and return its bias-corrected step size, lr / (1 - beta1^t):
        `step` calls it, and so does the fused C step, which updates this state itself."""
        self.t += 1
        return self.lr / (1 - self.betas[0] ** self.t)

    def step(self) -> None:
        import torch

        b1, b2 = self.betas
        with torch.no_grad():
            clr = self.advance()
            grads = [p.grad for p in self.params]  # overwritten here: the engine writes new ones each step
            if self.wd:
                torch._foreach_add_(grads, self.params, alpha=self.wd)
            torch._foreach_lerp_(self.exp_avg, grads, 1 - b1)
            torch._foreach_mul_(self.exp_inf, b2)
            torch._foreach_abs_(grads)
            torch._foreach_add_(grads, self.eps)
            torch._foreach_maximum_(self.exp_inf, grads)
            torch._foreach_addcdiv_(self.params, self.exp_avg, self.exp_inf, value=-clr)


class TorchGroupOptimizer:
    """A `torch.optim` optimiser with the `set_lr` and `select` of `FastAdamax`."""

    def __init__(self, opt: torch.optim.Optimizer):
        self.opt = opt
        self.step = opt.step

    def set_lr(self, lr: float) -> None:
        for g in self.opt.param_groups:
            g["lr"] = lr

    def select(self, take: Callable[[torch.Tensor], torch.Tensor], params: list[torch.Tensor]) -> None:
        import torch

        (group,) = self.opt.param_groups
        state = {}
        for old, new in zip(group["params"], params):
            state[new] = {k: take(v) if torch.is_tensor(v) and v.dim() > 0 else v
                          for k, v in self.opt.state.get(old, {}).items()}
        group["params"] = list(params)
        self.opt.state.clear()
        self.opt.state.update(state)


GroupOptimizer = FastAdamax | TorchGroupOptimizer


@dataclass(frozen=True)
class OptimizerSpec:
    """One optimiser of the registry."""

    name: str
    torch_class: str  # its class in torch.optim, made with the recipe's lr and weight decay
    description: str  # one line, for help texts
    fused: bool = False  # the fused C step can do its update (on a FastAdamax's state)
    # a faster optimiser of a group's flat tensor with the same update; None: the torch class
    group: Callable[[list, TrainConfig], GroupOptimizer] | None = None


OPTIMIZERS: dict[str, OptimizerSpec] = {
    o.name: o
    for o in (
        OptimizerSpec("adamax", "Adamax", "Adamax, the seed's (the fused CPU step's)", fused=True,
                      group=FastAdamax.from_config),
        OptimizerSpec("adam", "Adam", "Adam"),
        OptimizerSpec("adamw", "AdamW", "Adam with decoupled weight decay"),
        OptimizerSpec("sgd", "SGD", "plain stochastic gradient descent"),
    )
}


def optimizer_names() -> tuple[str, ...]:
    """The registered optimisers' names, in registry order."""
    return tuple(OPTIMIZERS)


def check_optimizer(name: str) -> None:
    """A ConfigError naming the setting and the valid names unless `name` is registered."""
    if not isinstance(name, str) or name not in OPTIMIZERS:
        raise ConfigError(f"{setting_name('train', 'optimizer')} must be one of {list(OPTIMIZERS)}; got {name!r}")


def get_optimizer(name: str) -> OptimizerSpec:
    """The registry entry of `name` (an unknown name: the ConfigError of `check_optimizer`)."""
    check_optimizer(name)
    return OPTIMIZERS[name]


def make_optimizer(params, cfg: TrainConfig) -> torch.optim.Optimizer:
    """The `torch.optim` optimiser of `cfg.optimizer` over `params`, with the recipe's lr and weight decay."""
    import torch

    cls = getattr(torch.optim, get_optimizer(cfg.optimizer).torch_class)
    return cls(params, lr=cfg.lr, weight_decay=cfg.weight_decay, foreach=True)


def make_group_optimizer(params: list[torch.Tensor], cfg: TrainConfig) -> GroupOptimizer:
    """The engine's optimiser of `cfg.optimizer` over a group's flat tensor(s): the entry's
    faster one where it has one, else its `torch.optim` class behind the same interface."""
    spec = get_optimizer(cfg.optimizer)
    if spec.group is not None:
        return spec.group(params, cfg)
    return TorchGroupOptimizer(make_optimizer(params, cfg))
