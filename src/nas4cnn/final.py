"""Train a chosen architecture from scratch and measure it on the test split."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

from .config import TrainConfig
from .data import DataSet
from .evaluator import init_seed
from .model import CNN, build_model, count_params
from .space import Genotype, SearchSpace
from .train import EpochStats, evaluate, train_model


@dataclass(frozen=True)
class FinalResult:
    genotype: Genotype
    arch: str
    params: int
    history: list[EpochStats]
    test_nll: float
    test_error: float
    seconds: float
    model: CNN
    confusion: list[list[int]]  # test split: rows true class, columns predicted class

    def metrics(self) -> dict:
        last = self.history[-1]
        return {
            "genotype": list(self.genotype),
            "arch": self.arch,
            "params": self.params,
            "epochs": len(self.history),
            "val_error": last.val_error,
            "val_nll": last.val_loss,
            "test_error": self.test_error,
            "test_nll": self.test_nll,
            "seconds": round(self.seconds, 3),
            "confusion_matrix": self.confusion,
        }


def train_final(
    space: SearchSpace,
    genotype: Genotype,
    data: DataSet,
    cfg: TrainConfig,
    epochs: int,
    seed: int,
    device: str | torch.device = "cpu",
    on_epoch: Callable[[EpochStats], None] | None = None,
) -> FinalResult:
    start = time.perf_counter()
    arch = space.decode(genotype)
    data = data.to(device)
    model = build_model(arch, data.input_shape, data.num_classes, seed=init_seed(seed, genotype)).to(device)
    history = train_model(model, data, cfg, epochs, seed, track_val=True, on_epoch=on_epoch)
    test_nll, test_error = evaluate(model, data.test)
    confusion = confusion_matrix(model, data.test, data.num_classes)
    return FinalResult(
        genotype=tuple(genotype),
        arch=arch.name,
        params=count_params(arch, data.input_shape, data.num_classes),
        history=history,
        test_nll=test_nll,
        test_error=test_error,
        seconds=time.perf_counter() - start,
        model=model.cpu().eval(),
        confusion=confusion,
    )


@torch.no_grad()
def confusion_matrix(model: torch.nn.Module, split, num_classes: int) -> list[list[int]]:
    model.eval()
    pred = torch.cat([model(xs).argmax(1) for xs in split.x.split(4096)])
    counts = torch.bincount(split.y * num_classes + pred, minlength=num_classes * num_classes)
    return counts.view(num_classes, num_classes).tolist()
