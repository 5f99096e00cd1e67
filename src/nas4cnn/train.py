"""Train one network and measure it: summed NLL of the true class, mini-batches cut by indexing."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from .config import TrainConfig
from .data import DataSet, Split
from .seeding import DATA_ORDER, derive_seed


@dataclass(frozen=True)
class EpochStats:
    epoch: int
    train_loss: float  # mean NLL over the epoch's mini-batches, as the model was while training
    train_error: float
    val_loss: float
    val_error: float


def make_optimizer(params, cfg: TrainConfig) -> torch.optim.Optimizer:
    kinds = {
        "adamax": torch.optim.Adamax,
        "adam": torch.optim.Adam,
        "adamw": torch.optim.AdamW,
        "sgd": torch.optim.SGD,
    }
    return kinds[cfg.optimizer](params, lr=cfg.lr, weight_decay=cfg.weight_decay, foreach=True)


def epoch_batches(n: int, batch_size: int, seed: int, epoch: int, device: torch.device | str) -> list[torch.Tensor]:
    """The shuffled mini-batch indices of one epoch; the same for every candidate of a run."""
    g = torch.Generator().manual_seed(derive_seed(DATA_ORDER, seed, epoch))
    return list(torch.randperm(n, generator=g).to(device).split(batch_size))


@torch.no_grad()
def evaluate(model: nn.Module, split: Split, chunk: int = 4096) -> tuple[float, float]:
    """Mean NLL and classification error of `model` on a split."""
    was_training = model.training
    model.eval()
    nll = 0.0
    wrong = 0
    for xs, ys in zip(split.x.split(chunk), split.y.split(chunk)):
        logp = model(xs)
        nll += nn.functional.nll_loss(logp, ys, reduction="sum").item()
        wrong += (logp.argmax(1) != ys).sum().item()
    model.train(was_training)
    n = len(split)
    return nll / n, wrong / n


def train_model(
    model: nn.Module,
    data: DataSet,
    cfg: TrainConfig,
    epochs: int,
    seed: int,
    track_val: bool = True,
    on_epoch: Callable[[EpochStats], None] | None = None,
) -> list[EpochStats]:
    """Train in place; validation is measured after every epoch if `track_val`, else after the last."""
    device = next(model.parameters()).device
    opt = make_optimizer(model.parameters(), cfg)
    x, y = data.train.x, data.train.y
    history = []
    model.train()
    for epoch in range(epochs):
        loss_sum = torch.zeros((), device=device)
        wrong = torch.zeros((), device=device, dtype=torch.long)
        for idx in epoch_batches(len(y), cfg.batch_size, seed, epoch, device):
            xb, yb = x[idx], y[idx]
            logp = model(xb)
            loss = nn.functional.nll_loss(logp, yb, reduction="sum")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            loss_sum += loss.detach()
            wrong += (logp.detach().argmax(1) != yb).sum()
        last = epoch == epochs - 1
        val_loss, val_error = evaluate(model, data.val) if (track_val or last) else (float("nan"),) * 2
        n = len(y)
        history.append(EpochStats(epoch + 1, loss_sum.item() / n, wrong.item() / n, val_loss, val_error))
        if on_epoch is not None:
            on_epoch(history[-1])
    return history
