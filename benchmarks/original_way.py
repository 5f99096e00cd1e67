"""The original project's way of evaluating a candidate (the seed's), kept as the benchmarks'
baseline: one model at a time, a per-sample `Dataset` and a shuffling `DataLoader`, validation every epoch.

Two versions: `original_code=True` behaves as the seed project's own training code does (its
network always applies its pooling layer, even with kernel 1; the per-sample NLL is summed
by hand; the epoch's loss is accumulated as a tensor that stays attached to the graph; the
misclassified count is read back with `.item()` every step); `original_code=False` is the same
method written tidily (a reference for what the per-model loop costs at best)."""

from __future__ import annotations

import time

import numpy as np
import torch
from sklearn.datasets import load_digits
from torch import nn
from torch.utils.data import DataLoader, Dataset

from nas4cnn.core.objective import objective
from nas4cnn.core.record import Status
from nas4cnn.core.space import Architecture
from nas4cnn.nn.activations import get_activation
from nas4cnn.nn.model import build_model, count_params
from nas4cnn.searching.evaluator import Evaluator


class Digits(Dataset):
    def __init__(self, start: int, stop: int):
        d = load_digits()
        self.data = d.data[start:stop].astype(np.float32)
        self.targets = d.target[start:stop]

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, i):
        return self.data[i].reshape(1, 8, 8), self.targets[i]


def loaders(batch_size: int = 64) -> tuple[DataLoader, DataLoader]:
    return (
        DataLoader(Digits(0, 1000), batch_size=batch_size, shuffle=True),
        DataLoader(Digits(1000, 1350), batch_size=batch_size, shuffle=False),
    )


def run_epoch(model: nn.Module, loader: DataLoader, opt: torch.optim.Optimizer | None) -> tuple[float, float]:
    model.train(opt is not None)
    loss_sum, wrong = 0.0, 0
    with torch.set_grad_enabled(opt is not None):
        for x, y in loader:
            logp = model(x)
            loss = nn.functional.nll_loss(logp, y.long(), reduction="sum")
            if opt is not None:
                loss.backward()
                opt.step()
                opt.zero_grad()
            loss_sum += loss.item()
            wrong += int((logp.argmax(1) != y).sum())
    n = len(loader.dataset)
    return loss_sum / n, wrong / n


class OriginalCodeCNN(nn.Module):
    """The network as the seed's code builds it: every layer a module, pooling always applied."""

    def __init__(self, arch: Architecture):
        super().__init__()
        c, p = arch.conv, arch.pooling
        self.cnn = nn.Conv2d(1, arch.filters, c.kernel, stride=c.stride, padding=c.padding)
        self.activation = get_activation(arch.activation).layer()
        self.pool = (nn.MaxPool2d if p.kind == "max" else nn.AvgPool2d)(p.size)
        side = (8 + 2 * c.padding - c.kernel) // c.stride + 1
        self.flatten = nn.Flatten()
        self.linear1 = nn.Linear(arch.filters * (side // p.size) ** 2, arch.linear)
        self.linear2 = nn.Linear(arch.linear, 10)
        self.softmax = nn.LogSoftmax(dim=1)
        self.nll = nn.NLLLoss(reduction="none")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.flatten(self.pool(self.activation(self.cnn(x))))
        return self.softmax(self.linear2(self.activation(self.linear1(x))))


def run_epoch_original_code(model: OriginalCodeCNN, loader: DataLoader, opt: torch.optim.Optimizer | None):
    model.train(opt is not None)
    total_loss, total_miss = 0, 0.0
    with torch.set_grad_enabled(opt is not None):
        for x, y in loader:
            log_prob = model(x)
            predictions = torch.argmax(log_prob, dim=1).long()
            total_miss += (1.0 - 1.0 * (predictions == y)).sum().item()
            loss = model.nll(log_prob, y.to(torch.int64)).sum()
            total_loss += loss
            if opt is not None:
                loss.backward()
                opt.step()
                opt.zero_grad()
    n = len(loader.dataset)
    return (total_loss / n).item(), total_miss / n


def evaluate_original_way(arch: Architecture, train: DataLoader, val: DataLoader, epochs: int, lam: float,
                      nmax: int, original_code: bool = True) -> dict:
    model = OriginalCodeCNN(arch) if original_code else build_model(arch, (1, 8, 8), 10)
    epoch = run_epoch_original_code if original_code else run_epoch
    opt = torch.optim.Adamax(model.parameters(), lr=1e-3, weight_decay=1e-5)
    for _ in range(epochs):
        epoch(model, train, opt)
        val_nll, val_error = epoch(model, val, None)
    params = count_params(arch, (1, 8, 8), 10)
    return {"val_error": val_error, "val_nll": val_nll, "params": params,
            "objective": objective(val_error, params, nmax, lam)}


class OriginalWayEvaluator(Evaluator):
    """Evaluates every requested genotype the seed's way: a fresh training each time, no
    reuse, no pruning, one model after another, for the configured epochs."""

    def __init__(self, space, lam: float, epochs: int, nmax: int):
        super().__init__(space, nmax, lam, epochs, reuse=False)
        self.loaders = loaders()

    def plan(self, genotypes, epochs=None, prune_above=None):
        """`epochs` and `prune_above` are ignored: the seed trained every candidate in full."""
        return super().plan(genotypes, self.full_epochs)

    def params(self, genotype) -> int:
        return count_params(self.space.decode(genotype), (1, 8, 8), 10)

    def _run(self, genotypes, params, groups, epochs, stop):
        for k, (i,) in enumerate(groups):
            start = time.perf_counter()
            r = evaluate_original_way(self.space.decode(genotypes[i]), *self.loaders, epochs, self.lam, self.nmax)
            yield k, [self.record(genotypes[i], params[i], epochs, status=Status.OK, reason=None,
                                  val_error=r["val_error"], val_nll=r["val_nll"],
                                  seconds=time.perf_counter() - start, checks=None)]
