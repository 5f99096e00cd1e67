"""The two implementations of a stacked group's training step, behind one interface.

`TorchSteps` does a step with PyTorch operations (`StackedGroup.train_step`, then the
optimiser); `FusedSteps` does the same arithmetic in one call of the fused C step
(`fused.FusedStep`), on a CPU for an optimiser it supports. Both: `start_epoch()`,
`step(patches, idx, cols, y)` returning the candidates that died in it, `epoch_totals()`,
`select(keep)` and `alive`. `make_steps` picks one by `uses_fused_step`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from nas4cnn.core.config import TrainConfig
from nas4cnn.nn import fused
from nas4cnn.nn.optimizers import FastAdamax, GroupOptimizer, get_optimizer
from nas4cnn.nn.stacked import Patches, StackedGroup


def uses_fused_step(device: torch.device, cfg: TrainConfig) -> bool:
    """Whether groups trained on `device` with `cfg` take the fused C step (an optimiser it
    supports, on a CPU where it builds) rather than PyTorch operations: the same results to
    float rounding."""
    return device.type == "cpu" and get_optimizer(cfg.optimizer).fused and fused.available()


class TorchSteps:
    """Training steps with PyTorch operations (`StackedGroup.train_step`, then the optimiser).
    A candidate whose loss becomes NaN or infinite is zeroed and frozen; the others go on."""

    def __init__(self, group: StackedGroup, opt: GroupOptimizer, onehot: torch.Tensor, alive: torch.Tensor):
        self.group, self.opt, self.onehot, self.alive = group, opt, onehot, alive
        self.any_dead = not bool(alive.all())

    def start_epoch(self) -> None:
        self.nlls: list[torch.Tensor] = []
        self.preds: list[torch.Tensor] = []
        self.targets: list[torch.Tensor] = []

    def step(self, patches: Patches | None, idx: torch.Tensor, cols: torch.Tensor | None,
             y: torch.Tensor) -> list[tuple[int, float]]:
        """One step on the images at `idx`, their patches cut from `patches` or given as `cols`.
        Returns (position, loss) of each candidate that died in it."""
        group, alive = self.group, self.alive
        if cols is None:
            cols = patches.batch(idx)
        logp, nll = group.train_step(cols, self.onehot.index_select(0, idx))
        if self.any_dead:
            nll = torch.where(alive, nll, 0.0)
        died = []
        if not math.isfinite(nll.sum().item()):  # one check per step; find the culprits only when needed
            bad = ~torch.isfinite(nll) & alive
            died = [(p, nll[p].item()) for p in bad.nonzero().flatten().tolist()]
            alive &= ~bad
            self.any_dead = True
            nll = torch.where(alive, nll, 0.0)
        if self.any_dead:
            group.zero_candidates(~alive, grads=True)
        self.opt.step()
        if self.any_dead:
            group.zero_candidates(~alive)
        self.nlls.append(nll)
        self.preds.append(logp.argmax(2))
        self.targets.append(y.index_select(0, idx))
        return died

    def epoch_totals(self) -> tuple[list[float], list[float]]:
        """Each candidate's summed training NLL and wrong predictions over the epoch."""
        wrong = (torch.cat(self.preds, 1) != torch.cat(self.targets)).sum(1)
        return torch.stack(self.nlls).sum(0).tolist(), wrong.tolist()

    def select(self, keep: Sequence[int]) -> None:
        self.opt.select(self.group.select(keep), [self.group.flat])
        self.alive = self.alive[keep]


class FusedSteps:
    """The same steps, each one call of the fused C step (`fused.FusedStep`)."""

    def __init__(self, group: StackedGroup, opt: FastAdamax, cfg: TrainConfig, alive: torch.Tensor):
        self.group, self.opt, self.batch_size = group, opt, cfg.batch_size
        self.fused = fused.FusedStep(group, opt, cfg.batch_size, alive)

    @property
    def alive(self) -> torch.Tensor:
        return self.fused.alive.bool()

    def start_epoch(self) -> None:
        self.fused.loss.zero_()
        self.fused.wrong.zero_()

    def step(self, patches: Patches | None, idx: torch.Tensor, cols: torch.Tensor | None,
             y: torch.Tensor) -> list[tuple[int, float]]:
        f = self.fused
        if cols is None:
            died = f.step(patches.data, patches.data.shape[1], idx, y, idx, len(idx))
        else:
            died = f.step(cols, len(idx), None, y, idx, len(idx))
        if not died:
            return []
        # Candidates dead before have zero weights, hence a finite loss: the non-finite are new.
        new = (f.alive == 0) & ~torch.isfinite(f.last_nll)
        return [(p, f.last_nll[p].item()) for p in new.nonzero().flatten().tolist()]

    def epoch_totals(self) -> tuple[list[float], list[float]]:
        return self.fused.loss.tolist(), self.fused.wrong.tolist()

    def select(self, keep: Sequence[int]) -> None:
        alive = self.fused.alive[keep].bool()
        self.opt.select(self.group.select(keep), [self.group.flat])
        self.fused = fused.FusedStep(self.group, self.opt, self.batch_size, alive)


def make_steps(group: StackedGroup, opt: GroupOptimizer, cfg: TrainConfig, onehot: torch.Tensor,
               alive: torch.Tensor) -> TorchSteps | FusedSteps:
    """The group's steps: fused where `uses_fused_step`, else with PyTorch operations."""
    if uses_fused_step(group.device, cfg):
        return FusedSteps(group, opt, cfg, alive)
    return TorchSteps(group, opt, onehot, alive)
