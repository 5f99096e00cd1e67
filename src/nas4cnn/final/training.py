"""Train a chosen architecture from scratch and measure it on the test split.

The final model is trained on the training split while validation loss is watched; with
a patience, training stops once validation loss has not improved for that many epochs and
the best epoch's weights are kept. With `trainval`, a fresh network (same initialisation)
is then trained on training + validation images for that best number of epochs: the
architecture is chosen, so the validation images are worth more as training data. Several
seeds (`repeats`) give the spread of the test figures.
"""

from __future__ import annotations

import copy
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace

import torch

from nas4cnn.core.config import TrainConfig
from nas4cnn.core.seeding import init_seed
from nas4cnn.core.space import Genotype, SearchSpace
from nas4cnn.data.dataset import DataSet, Split
from nas4cnn.data.preprocess import Normalization
from nas4cnn.nn.model import build_model, count_params
from nas4cnn.nn.threads import single_thread
from nas4cnn.nn.train import EpochStats, Prepared, evaluate, train_model


@dataclass(frozen=True)
class FinalResult:
    """One seed's final model."""

    genotype: Genotype
    arch: str
    params: int
    seed: int
    history: list[EpochStats]  # training on the training split, validation watched
    best_epoch: int  # the epoch whose weights were kept (and the epochs of the train + val run)
    trainval_history: list[EpochStats] | None  # the retraining on train + validation, if any
    test_nll: float
    test_error: float
    seconds: float
    model: torch.nn.Module  # takes normalised inputs: see `normalization`
    normalization: Normalization
    confusion: list[list[int]]  # test split: rows true class, columns predicted class

    def metrics(self) -> dict:
        best = self.history[self.best_epoch - 1]
        return {
            "genotype": list(self.genotype),
            "arch": self.arch,
            "params": self.params,
            "seed": self.seed,
            "epochs": len(self.history),
            "best_epoch": self.best_epoch,
            "trainval_epochs": len(self.trainval_history) if self.trainval_history else 0,
            "val_error": best.val_error,
            "val_nll": best.val_loss,
            "test_error": self.test_error,
            "test_nll": self.test_nll,
            "seconds": round(self.seconds, 3),
            "confusion_matrix": self.confusion,
        }


@dataclass(frozen=True)
class FinalRuns:
    """The final model trained with one or more seeds; the first seed's model is the run's."""

    runs: list[FinalResult]

    @property
    def first(self) -> FinalResult:
        return self.runs[0]

    def metrics(self) -> dict:
        """The first seed's metrics, the mean and standard deviation (n - 1) of the test
        figures over the seeds, and the per-seed values. One seed has no spread: its
        `test_error_std` and `test_nll_std` are None (not 0)."""
        errors = [r.test_error for r in self.runs]
        nlls = [r.test_nll for r in self.runs]

        def std(v: list[float]) -> float | None:
            return statistics.stdev(v) if len(v) > 1 else None

        return {
            **self.first.metrics(),
            "repeats": len(self.runs),
            "test_error_mean": statistics.fmean(errors),
            "test_error_std": std(errors),
            "test_nll_mean": statistics.fmean(nlls),
            "test_nll_std": std(nlls),
            "per_seed": [{"seed": r.seed, "test_error": r.test_error, "test_nll": r.test_nll,
                          "best_epoch": r.best_epoch, "seconds": round(r.seconds, 3)} for r in self.runs],
            "seconds": round(sum(r.seconds for r in self.runs), 3),
            "history": [asdict(h) for h in self.first.history],
            "trainval_history": [asdict(h) for h in self.first.trainval_history or []],
        }


class EarlyStopping:
    """Stops when validation loss has not improved for `patience` epochs; keeps the best weights."""

    def __init__(self, model: torch.nn.Module, patience: int):
        self.model, self.patience = model, patience
        self.best_loss, self.best_epoch, self.best_state = float("inf"), 0, None

    def __call__(self, history: list[EpochStats]) -> bool:
        last = history[-1]
        if last.val_loss < self.best_loss:
            self.best_loss, self.best_epoch = last.val_loss, last.epoch
            self.best_state = copy.deepcopy(self.model.state_dict())
        return self.patience > 0 and last.epoch - self.best_epoch >= self.patience

    def restore(self) -> None:
        if self.best_state is not None:
            self.model.load_state_dict(self.best_state)


@dataclass(frozen=True)
class Network:
    """What the final procedure trains: `build(init_seed)` makes a fresh network (with
    log-probabilities out), `genotype` (or a genotype-like tag) seeds its initialisation."""

    build: Callable[[int], torch.nn.Module]
    name: str
    genotype: Genotype
    params: int


def architecture(space: SearchSpace, genotype: Genotype, data: DataSet) -> Network:
    """An architecture of the space, for `data`'s images, as the final procedure trains it."""
    arch = space.decode(genotype)

    def build(init: int) -> torch.nn.Module:
        return build_model(arch, data.input_shape, data.num_classes, seed=init)

    return Network(build, arch.name, tuple(genotype), count_params(arch, data.input_shape, data.num_classes))


def train_network(
    net: Network,
    data: DataSet,
    cfg: TrainConfig,
    epochs: int,
    seed: int,
    device: str | torch.device = "cpu",
    on_epoch: Callable[[EpochStats], None] | None = None,
    patience: int = 0,
    trainval: bool = False,
) -> FinalResult:
    """Train one seed of a network the way the final model is trained. Without a patience
    all `epochs` are trained and the last weights kept; with one, the best validation
    epoch's. On a CPU it trains on one thread, so its figures are the same whatever the
    core count."""
    with single_thread(device):
        start = time.perf_counter()
        data = data.to(device)
        init = init_seed(seed, net.genotype)
        model = net.build(init).to(device)
        stopper = EarlyStopping(model, patience)
        history = train_model(model, data, cfg, epochs, seed, track_val=True, on_epoch=on_epoch,
                              stop=stopper if patience else None)
        if patience:
            stopper.restore()
            best_epoch = stopper.best_epoch or len(history)
        else:
            best_epoch = len(history)
        prepared = Prepared.from_data(data, cfg)
        trainval_history = None
        if trainval:
            both = Split(torch.cat([data.train.x, data.val.x]), torch.cat([data.train.y, data.val.y]))
            prepared = Prepared.from_data(replace(data, train=both), cfg)
            model = net.build(init).to(device)
            trainval_history = train_model(model, prepared, cfg, best_epoch, seed, track_val=False, on_epoch=on_epoch)
        test_nll, test_error = evaluate(model, prepared.data.test)
        confusion = confusion_matrix(model, prepared.data.test, data.num_classes)
        return FinalResult(
            genotype=tuple(net.genotype),
            arch=net.name,
            params=net.params,
            seed=seed,
            history=history,
            best_epoch=best_epoch,
            trainval_history=trainval_history,
            test_nll=test_nll,
            test_error=test_error,
            seconds=time.perf_counter() - start,
            model=model.cpu().eval(),
            normalization=prepared.normalization,
            confusion=confusion,
        )


def train_repeats(net: Network, data: DataSet, cfg: TrainConfig, epochs: int, seed: int, repeats: int = 1,
                  **options) -> FinalRuns:
    """`train_network` with seeds `seed`, `seed + 1`, ..., `seed + repeats - 1`; `options`
    are its device, on_epoch, patience and trainval."""
    return FinalRuns([train_network(net, data, cfg, epochs, seed + r, **options) for r in range(repeats)])


@torch.no_grad()
def confusion_matrix(model: torch.nn.Module, split: Split, num_classes: int) -> list[list[int]]:
    model.eval()
    pred = torch.cat([model(xs).argmax(1) for xs in split.x.split(4096)])
    counts = torch.bincount(split.y * num_classes + pred, minlength=num_classes * num_classes)
    return counts.view(num_classes, num_classes).tolist()
