"""Train one network and measure it: summed NLL of the true class, mini-batches cut by indexing."""

from __future__ import annotations

import math
from collections.abc import Callable, Container, Iterator
from dataclasses import dataclass

import torch
from torch import nn

from nas4cnn.core.config import TrainConfig
from nas4cnn.core.defaults import settle
from nas4cnn.core.record import Status
from nas4cnn.core.seeding import DATA_ORDER, derive_seed
from nas4cnn.data.augment import Augmentation
from nas4cnn.data.dataset import DataSet, Split
from nas4cnn.data.preprocess import Normalization, fit_normalization, normalize
from nas4cnn.nn.optimizers import make_optimizer


@dataclass(frozen=True)
class Ended:
    """Why a candidate's training ended before its last epoch: FAILED (its loss diverged) or
    STOPPED (early stopping), and the reason in words."""

    status: Status
    reason: str


@dataclass(frozen=True)
class EpochStats:
    epoch: int
    train_loss: float  # mean NLL over the epoch's mini-batches, as the model was while training
    train_error: float
    val_loss: float
    val_error: float


def epoch_batches(n: int, batch_size: int, seed: int, epoch: int, device: torch.device | str) -> list[torch.Tensor]:
    """The shuffled mini-batch indices of one epoch; the same for every candidate of a run."""
    g = torch.Generator().manual_seed(derive_seed(DATA_ORDER, seed, epoch))
    return list(torch.randperm(n, generator=g).to(device).split(batch_size))


def lr_factor(schedule: str, step: int, total: int) -> float:
    """Multiplier of the base learning rate at `step` (0-based) of `total` steps."""
    if schedule == "cosine":
        return 0.5 * (1 + math.cos(math.pi * step / total))
    return 1.0


@dataclass(frozen=True)
class Prepared:
    """A data set ready to train on with one recipe: every split mapped by the input
    normalisation (fitted on the training images), and the raw training images kept when
    mini-batches are augmented (augmentation works on raw images, whose background is 0)."""

    data: DataSet
    normalization: Normalization
    augmentation: Augmentation
    raw_train: torch.Tensor | None

    @classmethod
    def from_data(cls, data: DataSet, cfg: TrainConfig) -> Prepared:
        cfg = settle(cfg, len(data.train))
        norm = fit_normalization(cfg.scaling, data)
        flip = cfg.aug_flip == "on"
        aug = (Augmentation(cfg.aug_shift, cfg.aug_rotate, cfg.aug_scale, flip) if cfg.augment == "on"
               else Augmentation(flip=flip))
        return cls(normalize(data, norm), norm, aug, data.train.x if aug.active else None)

    def batches(self, batch_size: int, seed: int, epoch: int) -> Iterator[tuple[torch.Tensor, torch.Tensor | None]]:
        """(indices, images) of each mini-batch of an epoch; images is None when the batch is
        not augmented: it is then `data.train.x[indices]`, which the caller may have cut
        already in another form."""
        device = self.data.train.x.device
        idxs = epoch_batches(len(self.data.train), batch_size, seed, epoch, device)
        if self.raw_train is None:
            for idx in idxs:
                yield idx, None
            return
        gen = self.augmentation.generator(seed, epoch)
        for idx in idxs:
            yield idx, self.normalization.apply(self.augmentation(self.raw_train[idx], gen))


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
    data: DataSet | Prepared,
    cfg: TrainConfig,
    epochs: int,
    seed: int,
    track_val: bool = True,
    on_epoch: Callable[[EpochStats], None] | None = None,
    stop: Callable[[list[EpochStats]], bool] | None = None,
    val_epochs: Container[int] | None = None,
) -> list[EpochStats]:
    """Train in place with the recipe `cfg`; validation is measured after every epoch if
    `track_val` (else never: NaN, as when the validation images are among the training
    images), or with `val_epochs` only after those epochs and the last (NaN after the
    others). `data` is raw (prepared here) or already prepared.
    `stop`, given the history after an epoch, ends training early when it returns True."""
    prepared = data if isinstance(data, Prepared) else Prepared.from_data(data, cfg)
    data = prepared.data
    cfg = settle(cfg, len(data.train))
    device = next(model.parameters()).device
    opt = make_optimizer(model.parameters(), cfg)
    x, y = data.train.x, data.train.y
    history = []
    total = epochs * math.ceil(len(y) / cfg.batch_size)
    step = 0
    model.train()
    for epoch in range(epochs):
        loss_sum = torch.zeros((), device=device)
        wrong = torch.zeros((), device=device, dtype=torch.long)
        for idx, xb in prepared.batches(cfg.batch_size, seed, epoch):
            if cfg.schedule != "constant":
                for g in opt.param_groups:
                    g["lr"] = cfg.lr * lr_factor(cfg.schedule, step, total)
            step += 1
            xb = x[idx] if xb is None else xb
            yb = y[idx]
            logp = model(xb)
            loss = nn.functional.nll_loss(logp, yb, reduction="sum")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            loss_sum += loss.detach()
            wrong += (logp.detach().argmax(1) != yb).sum()
        measured = track_val and (val_epochs is None or epoch + 1 in val_epochs or epoch + 1 == epochs)
        val_loss, val_error = evaluate(model, data.val) if measured else (float("nan"),) * 2
        n = len(y)
        history.append(EpochStats(epoch + 1, loss_sum.item() / n, wrong.item() / n, val_loss, val_error))
        if on_epoch is not None:
            on_epoch(history[-1])
        if stop is not None and stop(history):
            break
    return history
