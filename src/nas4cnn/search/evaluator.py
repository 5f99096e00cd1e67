"""Score genotypes: train them for the configured epochs and compute the objective.

A genotype's result depends only on (run seed, genotype, training config), so a genotype
seen before in this run, or one that builds the same network (see
`SearchSpace.canonical`), reuses the recorded result instead of training again. New
genotypes are trained together, in groups, by the population-batched engine. A candidate
whose training fails (non-finite loss, out of memory) is a result too: objective infinity,
with the reason.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass

import torch

from nas4cnn.core.config import TrainConfig
from nas4cnn.core.early_stop import StopRule, checkpoints, is_stopped
from nas4cnn.core.objective import objective
from nas4cnn.core.seeding import init_seed
from nas4cnn.core.space import Genotype, SearchSpace
from nas4cnn.data.dataset import DataSet
from nas4cnn.nn.engine import Candidate, make_groups
from nas4cnn.nn.model import count_params, max_params
from nas4cnn.search.executors import GroupResult, LocalExecutor, TrainJob

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Evaluation:
    genotype: Genotype
    arch: str
    params: int
    val_error: float
    val_nll: float
    objective: float  # infinity for a failed candidate, so it ranks last
    seconds: float  # this network's share of its group's training time; 0 when reused
    cached: bool = False  # True when the result was reused, not trained for this request
    failed: str | None = None  # why training failed (or "pruned: ...", "stopped ..."), None if it did not
    epochs: int | None = None  # training epochs, when not the configured ones (multi-fidelity)
    checks: dict[int, float] | None = None  # validation error at the early-stop checkpoints it reached

    @property
    def pruned(self) -> bool:
        return self.failed is not None and self.failed.startswith("pruned")

    @property
    def stopped(self) -> bool:
        """Stopped early, at a checkpoint (val_error and val_nll are from there)."""
        return is_stopped(self.failed)

    @property
    def status(self) -> str:
        return "pruned" if self.pruned else "stopped" if self.stopped else "failed" if self.failed else "ok"

    @property
    def ok(self) -> bool:
        return self.failed is None

    def to_dict(self) -> dict:
        d = asdict(self)
        d["genotype"] = list(self.genotype)
        if self.checks is not None:
            d["checks"] = {str(e): v for e, v in self.checks.items()}
        for k in ("val_error", "val_nll", "objective"):
            if not math.isfinite(d[k]):
                d[k] = None
        return d

    def as_request(self, genotype: Genotype, name: str, first: bool) -> Evaluation:
        """This network's result as seen by a request for `genotype` (maybe an equivalent one)."""
        return Evaluation(genotype, name, self.params, self.val_error, self.val_nll, self.objective,
                          self.seconds if first else 0.0, not first, self.failed, self.epochs, self.checks)


class Evaluator:
    def __init__(
        self,
        space: SearchSpace,
        data: DataSet,
        train: TrainConfig,
        lam: float,
        seed: int,
        device: str | torch.device = "cpu",
        workers: int | None = None,
        executor=None,
        early_stop: float = 0.0,
    ):
        self.space = space
        self.lam = lam
        self.seed = seed
        self.input_shape = data.input_shape
        self.num_classes = data.num_classes
        self.nmax = max_params(space, data.input_shape, data.num_classes)
        self.executor = executor or LocalExecutor(data, TrainJob(train, train.epochs, seed), device, workers)
        self.full_epochs = train.epochs
        self.stop_rule = StopRule(early_stop, train.epochs) if early_stop and checkpoints(train.epochs) else None
        self.n_requested = 0
        self.n_trained = 0
        self.on_trained: Callable[[list[Evaluation]], None] | None = None
        self._cache: dict[Genotype, Evaluation] = {}
        self._recovered: dict[Genotype, Evaluation] = {}

    @property
    def device(self) -> torch.device:
        return self.executor.device

    def preload(self, done: Iterable[Evaluation], pending: Iterable[Evaluation], n_requested: int) -> None:
        """Resume: `done` were trained in finished generations; `pending` were committed by an
        unfinished generation, and are reused when that generation asks for their group."""
        done = list(done)
        for e in done:
            self._cache[(e.genotype, e.epochs)] = e
        self._add_checks(done)
        self._recovered = {(e.genotype, e.epochs): e for e in pending}
        self.n_trained = sum(1 for e in self._cache.values() if not e.pruned)
        self.n_requested = n_requested

    def evaluate(self, genotypes: Sequence[Genotype], epochs: int | None = None,
                 prune_above: float | None = None) -> list[Evaluation]:
        """Results for `genotypes` trained for `epochs` (default: the configured epochs). With
        `prune_above`, a new network whose size penalty alone is at least that is not trained."""
        epochs = None if epochs in (None, self.full_epochs) else epochs
        requested = [self.space.validate(g) for g in genotypes]
        keys = [(self.space.canonical(g), epochs) for g in requested]
        new = list(dict.fromkeys(k for k in keys if k not in self._cache))
        if new:
            self._train([g for g, _ in new], epochs, prune_above)
        self.n_requested += len(requested)
        first = set(new)
        out = []
        for g, k in zip(requested, keys):
            out.append(self._cache[k].as_request(g, self.space.name(g), k in first))
            first.discard(k)
        return out

    def _train(self, genotypes: list[Genotype], epochs: int | None, prune_above: float | None) -> None:
        params = [count_params(self.space.decode(g), self.input_shape, self.num_classes) for g in genotypes]
        if prune_above is not None:
            keep, newly_pruned = [], []
            for g, p in zip(genotypes, params):
                penalty = self._penalty(p)
                if penalty < prune_above:
                    keep.append(g)
                    continue
                e = self._recovered.pop((g, epochs), None)
                if e is None:
                    e = Evaluation(g, self.space.name(g), p, math.nan, math.nan, math.inf, 0.0, epochs=epochs,
                                   failed=f"pruned: its size penalty {penalty:.4f} cannot beat the best "
                                          f"objective {prune_above:.4f}")
                    newly_pruned.append(e)
                self._cache[(g, epochs)] = e
            if newly_pruned and self.on_trained is not None:
                self.on_trained(newly_pruned)
            params = [p for g, p in zip(genotypes, params) if g in keep]
            genotypes = keep
        if not genotypes:
            return
        # Early-stop thresholds come from earlier batches only: the same whichever group ends first.
        stop = None
        if self.stop_rule is not None and epochs is None:
            stop = self.stop_rule.thresholds()
        # Groups are formed from all of this generation's new networks, as in a run that was
        # never interrupted, so that a resumed run trains exactly the same groups.
        cands = [Candidate(self.space.decode(g), init_seed(self.seed, g), self._penalty(p))
                 for g, p in zip(genotypes, params)]
        overhead = 50_000 if self.device.type == "cpu" else 1e12
        groups = make_groups(cands, self.input_shape, overhead)
        todo = []
        batch: list[Evaluation] = []
        for idx in groups:
            if all((genotypes[i], epochs) in self._recovered for i in idx):
                for i in idx:
                    self._cache[(genotypes[i], epochs)] = self._recovered.pop((genotypes[i], epochs))
                    batch.append(self._cache[(genotypes[i], epochs)])
            else:
                todo.append(idx)

        def record(k: int, res: GroupResult) -> None:
            idx = todo[k]
            evals = []
            for j, i in enumerate(idx):
                g = genotypes[i]
                ok = res.failed[j] is None
                evals.append(Evaluation(
                    genotype=g, arch=self.space.name(g), params=params[i],
                    val_error=res.val_error[j], val_nll=res.val_nll[j],
                    objective=objective(res.val_error[j], params[i], self.nmax, self.lam) if ok else math.inf,
                    seconds=res.seconds / len(idx), failed=res.failed[j], epochs=epochs,
                    checks=None if res.checks is None else res.checks[j],
                ))
                if evals[-1].stopped:
                    log.debug("%s %s", evals[-1].arch, res.failed[j])
                elif not ok:
                    log.warning("%s failed: %s", evals[-1].arch, res.failed[j])
            if self.on_trained is not None:
                self.on_trained(evals)
            for e in evals:
                self._cache[(e.genotype, epochs)] = e
            batch.extend(evals)

        if todo:
            self.executor.run([[cands[i] for i in idx] for idx in todo],
                              costs=[sum(params[i] for i in idx) for idx in todo], on_result=record,
                              epochs=epochs, stop=stop)
        if stop is not None:
            self._add_checks(batch)
        self.n_trained += len(genotypes)
        log.debug("trained %d networks in %d groups", len(genotypes), len(todo))

    def _add_checks(self, evals: Iterable[Evaluation]) -> None:
        if self.stop_rule is None:
            return
        for e in evals:
            if e.checks and e.epochs is None:
                self.stop_rule.add({k: v + self._penalty(e.params) for k, v in e.checks.items()})

    def _penalty(self, params: int) -> float:
        """The size term of the objective."""
        return objective(0.0, params, self.nmax, self.lam)

    def close(self) -> None:
        self.executor.close()

    def __enter__(self) -> Evaluator:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
