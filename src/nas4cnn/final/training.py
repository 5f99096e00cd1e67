"""Train a chosen architecture from scratch and measure it on the test split.

The final model is trained on the training split while validation loss is watched; with
a patience, training stops once validation loss has not improved for that many epochs and
the best epoch's weights are kept. With `trainval`, a fresh network (same initialisation)
is then trained on training + validation images for that best number of epochs: the
architecture is chosen, so the validation images are worth more as training data. Several
seeds (`repeats`) give the spread of the test figures.

An architecture of the search space trains on the population-batched engine
(`nn.engine.train_group`): its `repeats` are one stacked group of K candidates, the same
architecture with K initialisations (seeds `seed`, ..., `seed + K - 1`). A group shares one
mini-batch order and one set of augmentation draws, so every repeat's data order is
`seed`'s; repeat r's initialisation alone uses seed + r. (Before the engine trained the
final model, repeat r drew its data order from seed + r as well.) The hand-made baselines
are not in the space: they train on the plain loop, `train_network`, with the same shared
data order. `train_network` is also the oracle the engine path is tested against: both give
the same figures to float rounding.

Without a patience, the validation-watched run and the train + validation run are
independent (the latter's epochs are known in advance); with `workers` >= 2 on a CPU they
run side by side in two forked single-threaded processes (`workers.run_forked`). Every
group trains single-threaded either way, so the figures do not depend on `workers`.
"""

from __future__ import annotations

import copy
import logging
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace

import torch

from nas4cnn.core.config import TrainConfig
from nas4cnn.core.deep_space import DeepSpace
from nas4cnn.core.record import Status
from nas4cnn.core.seeding import init_seed
from nas4cnn.core.space import Architecture, Genotype, SearchSpace
from nas4cnn.data.dataset import DataSet, Split
from nas4cnn.data.preprocess import Normalization
from nas4cnn.final.workers import can_fork, check_workers, default_workers, run_forked
from nas4cnn.nn import fused
from nas4cnn.nn.engine import train_group
from nas4cnn.nn.groups import Candidate
from nas4cnn.nn.model import CNN, build_model, count_params
from nas4cnn.nn.stacked import StackedGroup
from nas4cnn.nn.threads import single_thread
from nas4cnn.nn.train import EpochStats, Prepared, evaluate, train_model

log = logging.getLogger(__name__)

OnEpoch = Callable[[EpochStats], None]


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
    log-probabilities out), `genotype` (or a genotype-like tag) seeds its initialisation.
    `arch` is set for an architecture of the search space: it then trains on the engine."""

    build: Callable[[int], torch.nn.Module]
    name: str
    genotype: Genotype
    params: int
    arch: Architecture | None = None


def architecture(space: SearchSpace | DeepSpace, genotype: Genotype, data: DataSet) -> Network:
    """An architecture of the space, for `data`'s images, as the final procedure trains it."""
    arch = space.decode(genotype)

    def build(init: int) -> torch.nn.Module:
        return build_model(arch, data.input_shape, data.num_classes, seed=init)

    engine = arch if isinstance(arch, Architecture) else None  # a deep space's network: the plain loop, for now
    return Network(build, arch.name, tuple(genotype), count_params(arch, data.input_shape, data.num_classes), engine)


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
    data_seed: int | None = None,
    workers: int = 1,
) -> FinalResult:
    """Train one seed of a network the way the final model is trained, with the plain
    one-network loop. Without a patience all `epochs` are trained and the last weights kept;
    with one, the best validation epoch's. `seed` gives the initialisation and, unless
    `data_seed` is given, the mini-batch order. On a CPU it trains on one thread, so its
    figures are the same whatever the core count; with `workers` >= 2, no patience and
    `trainval`, the validation-watched run and the train + validation run go side by side in
    two forked processes (they are independent: the latter's epochs are known)."""
    data_seed = seed if data_seed is None else data_seed
    device = torch.device(device)
    with single_thread(device):
        start = time.perf_counter()
        data = data.to(device)
        init = init_seed(seed, net.genotype)
        both = replace(data, train=Split(torch.cat([data.train.x, data.val.x]),
                                         torch.cat([data.train.y, data.val.y])))

        # Each run draws its dropout masks from the global generator seeded with the
        # initialisation's seed, so a run's figures do not depend on what ran before it.
        def watched(report) -> tuple[list[EpochStats], int, torch.nn.Module]:
            model = net.build(init).to(device)
            stopper = EarlyStopping(model, patience)
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(init)
                history = train_model(model, data, cfg, epochs, data_seed, track_val=True, on_epoch=report,
                                      stop=stopper if patience else None)
            if patience:
                stopper.restore()
                return history, stopper.best_epoch or len(history), model
            return history, len(history), model

        def retrained(n: int):
            def run(report) -> tuple[list[EpochStats], torch.nn.Module]:
                model = net.build(init).to(device)
                with torch.random.fork_rng(devices=[]):
                    torch.manual_seed(init)
                    return train_model(model, Prepared.from_data(both, cfg), cfg, n, data_seed, track_val=False,
                                       on_epoch=report), model
            return run

        trainval_history = None
        if trainval and not patience and workers >= 2 and device.type == "cpu" and can_fork():
            (history, best_epoch, _), (trainval_history, model) = run_forked([watched, retrained(epochs)], on_epoch)
        else:
            history, best_epoch, model = watched(on_epoch)
            if trainval:
                trainval_history, model = retrained(best_epoch)(on_epoch)
        prepared = Prepared.from_data(both if trainval else data, cfg)  # the tested model's input map
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


def train_repeats(
    net: Network,
    data: DataSet,
    cfg: TrainConfig,
    epochs: int,
    seed: int,
    repeats: int = 1,
    device: str | torch.device = "cpu",
    on_epoch: OnEpoch | None = None,
    patience: int = 0,
    trainval: bool = False,
    workers: int | None = None,
) -> FinalRuns:
    """`repeats` seeds of a network trained the way the final model is trained:
    initialisations from seeds `seed`, ..., `seed + repeats - 1`, every repeat with the data
    order of `seed`. An architecture of the space (`net.arch`) trains on the engine, its
    repeats as one group; other networks with `train_network`. `on_epoch` is called once per
    repeat and epoch (of each run); `workers` (default: the machine's cores) lets the engine
    path run its two runs at once when they are independent (see the module docstring)."""
    check_workers(workers)
    if net.arch is None:
        cores = default_workers(device) if workers is None else workers
        return FinalRuns([train_network(net, data, cfg, epochs, seed + r, device=device, on_epoch=on_epoch,
                                        patience=patience, trainval=trainval, data_seed=seed, workers=cores)
                          for r in range(repeats)])
    return _train_on_engine(net, data, cfg, epochs, seed, repeats, torch.device(device), on_epoch, patience,
                            trainval, default_workers(device) if workers is None else workers)


@dataclass(frozen=True)
class _Run:
    """One group's training of some repeats: per repeat its history, best epoch and kept
    weights; the training images' normalisation, and the group's seconds."""

    histories: list[list[EpochStats]]
    best_epochs: list[int]
    models: list[CNN]
    normalization: Normalization
    seconds: float


class _Watch:
    """The engine's `after_epoch` for a final group: reports every candidate-epoch and, with a
    patience, keeps each candidate's best-validation-loss weights (snapshots of the group)
    and stops a candidate whose patience has run out, as `EarlyStopping` does on the plain loop."""

    def __init__(self, size: int, epochs: int, patience: int, on_epoch: OnEpoch | None):
        self.epochs, self.patience, self.on_epoch = epochs, patience, on_epoch
        self.best_loss = [float("inf")] * size
        self.best_epoch = [0] * size
        self.kept: list[CNN | None] = [None] * size
        self.members = list(range(size))  # the candidate at each position of the group, after the last epoch

    def __call__(self, group: StackedGroup, members: list[int], histories: list[list[EpochStats]]) -> dict[int, str]:
        stop, snap = {}, []
        for p, c in enumerate(members):
            last = histories[c][-1]
            if self.on_epoch is not None:
                self.on_epoch(last)
            if not self.patience:
                continue
            if last.val_loss < self.best_loss[c]:
                self.best_loss[c], self.best_epoch[c] = last.val_loss, last.epoch
                snap.append((p, c))
            if last.epoch < self.epochs and last.epoch - self.best_epoch[c] >= self.patience:
                stop[c] = f"validation loss has not improved for {self.patience} epochs"
                if self.kept[c] is None and (p, c) not in snap:
                    snap.append((p, c))  # never improved: its weights as they are now, as the plain loop keeps
        if snap:
            models = group.extract()
            for p, c in snap:
                self.kept[c] = models[p]
        self.members = [c for c in members if c not in stop]
        return stop

    def result(self, group: StackedGroup, histories: list[list[EpochStats]]) -> tuple[list[int], list[CNN]]:
        """Each candidate's best epoch and kept weights, once the group has trained."""
        final = group.extract()
        models = [m if m is not None else final[self.members.index(c)] for c, m in enumerate(self.kept)]
        best = [b or len(h) for b, h in zip(self.best_epoch, histories)]
        return best, models


def _train_run(arch: Architecture, inits: Sequence[int], data: DataSet, cfg: TrainConfig, epochs: int, seed: int,
               device: torch.device, on_epoch: OnEpoch | None, patience: int = 0, watch_val: bool = True) -> _Run:
    """The candidates `inits` of `arch` trained as one group, single-threaded on a CPU: with
    validation after every epoch (and `patience`) if `watch_val`, else with none."""
    with single_thread(device):
        start = time.perf_counter()
        cache: dict = {}
        watch = _Watch(len(inits), epochs, patience, on_epoch)
        group, histories, ended = train_group([Candidate(arch, init) for init in inits], data, cfg, epochs, seed,
                                              patch_cache=cache, val_every_epoch=watch_val, track_val=watch_val,
                                              after_epoch=watch)
        for init, e in zip(inits, ended):
            if e is not None and e.status is Status.FAILED:  # zeroed and frozen by the engine
                log.warning("final training of %s (initialisation %d): %s", arch.name, init, e.reason)
        best, models = watch.result(group, histories)
        prepared: Prepared = cache["prepared"]
        return _Run(histories, best, models, prepared.normalization, time.perf_counter() - start)


def _train_on_engine(net: Network, data: DataSet, cfg: TrainConfig, epochs: int, seed: int, repeats: int,
                     device: torch.device, on_epoch: OnEpoch | None, patience: int, trainval: bool,
                     workers: int) -> FinalRuns:
    inits = [init_seed(seed + r, net.genotype) for r in range(repeats)]
    if device.type == "cpu":
        fused.library()  # built (once per machine) and loaded before any worker forks
    data = data.to(device)
    both = replace(data, train=Split(torch.cat([data.train.x, data.val.x]), torch.cat([data.train.y, data.val.y])))

    def watched(report: OnEpoch | None) -> _Run:
        return _train_run(net.arch, inits, data, cfg, epochs, seed, device, report, patience)

    def on_both(repeats_: Sequence[int], n: int) -> Callable[[OnEpoch | None], _Run]:
        return lambda report: _train_run(net.arch, [inits[r] for r in repeats_], both, cfg, n, seed, device,
                                         report, watch_val=False)

    # trainval runs by their epoch count: precomputed side by side when independent (no patience)
    ahead: dict[int, _Run] = {}
    if trainval and not patience and workers >= 2 and device.type == "cpu" and can_fork():
        first, ahead[epochs] = run_forked([watched, on_both(range(repeats), epochs)], on_epoch)
    else:
        first = watched(on_epoch)
    runs: list[tuple[_Run, int] | None] = [None] * repeats  # each repeat's trained run and its place in it
    if trainval:
        for n in sorted(set(first.best_epochs)):
            which = [r for r in range(repeats) if first.best_epochs[r] == n]
            run = ahead[n] if n in ahead and which == list(range(repeats)) else on_both(which, n)(on_epoch)
            for place, r in enumerate(which):
                runs[r] = (run, place)
    else:
        runs = [(first, r) for r in range(repeats)]
    results = []
    for r in range(repeats):
        run, place = runs[r]
        start = time.perf_counter()
        model = run.models[place].to(device)
        with single_thread(device):
            test = Split(run.normalization.apply(data.test.x), data.test.y)  # as the group's training prepared it
            test_nll, test_error = evaluate(model, test)
            confusion = confusion_matrix(model, test, data.num_classes)
        # a repeat's share of its groups' training time, and its own testing
        seconds = first.seconds / repeats + (run.seconds / len(run.models) if trainval else 0.0)
        results.append(FinalResult(
            genotype=tuple(net.genotype),
            arch=net.name,
            params=net.params,
            seed=seed + r,
            history=first.histories[r],
            best_epoch=first.best_epochs[r],
            trainval_history=run.histories[place] if trainval else None,
            test_nll=test_nll,
            test_error=test_error,
            seconds=seconds + time.perf_counter() - start,
            model=model.cpu().eval(),
            normalization=run.normalization,
            confusion=confusion,
        ))
    return FinalRuns(results)


@torch.no_grad()
def confusion_matrix(model: torch.nn.Module, split: Split, num_classes: int) -> list[list[int]]:
    model.eval()
    pred = torch.cat([model(xs).argmax(1) for xs in split.x.split(4096)])
    counts = torch.bincount(split.y * num_classes + pred, minlength=num_classes * num_classes)
    return counts.view(num_classes, num_classes).tolist()
