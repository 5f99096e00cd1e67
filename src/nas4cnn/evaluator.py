"""Score genotypes: train them for the configured epochs and compute the objective.

A genotype's result depends only on (run seed, genotype, training config), so a genotype
seen before in this run, or one that builds the same network (see
`SearchSpace.canonical`), reuses the recorded result instead of training again. New
genotypes are trained together, in groups, by the population-batched engine.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import torch

from .config import TrainConfig
from .data import DataSet
from .engine import Candidate, make_groups
from .executors import LocalExecutor, TrainJob
from .model import count_params, max_params
from .objective import objective
from .seeding import INIT, derive_seed
from .space import Genotype, SearchSpace

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Evaluation:
    genotype: Genotype
    arch: str
    params: int
    val_error: float
    val_nll: float
    objective: float
    seconds: float  # this network's share of its group's training time; 0 when reused
    cached: bool = False  # True when the result was reused, not trained for this request

    def to_dict(self) -> dict:
        d = asdict(self)
        d["genotype"] = list(self.genotype)
        return d


def init_seed(seed: int, genotype: Genotype) -> int:
    return derive_seed(INIT, seed, genotype)


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
    ):
        self.space = space
        self.lam = lam
        self.seed = seed
        self.input_shape = data.input_shape
        self.num_classes = data.num_classes
        self.nmax = max_params(space, data.input_shape, data.num_classes)
        self.executor = LocalExecutor(data, TrainJob(train, train.epochs, seed), device, workers)
        self.n_requested = 0
        self.n_trained = 0
        self._cache: dict[Genotype, Evaluation] = {}

    @property
    def device(self) -> torch.device:
        return self.executor.device

    def evaluate(self, genotypes: Sequence[Genotype]) -> list[Evaluation]:
        requested = [self.space.validate(g) for g in genotypes]
        canon = [self.space.canonical(g) for g in requested]
        new = list(dict.fromkeys(c for c in canon if c not in self._cache))
        if new:
            self._train(new)
        self.n_requested += len(requested)
        out = []
        seen_now = set(new)
        for g, c in zip(requested, canon):
            base = self._cache[c]
            first = c in seen_now
            seen_now.discard(c)
            out.append(Evaluation(
                genotype=g, arch=self.space.name(g), params=base.params, val_error=base.val_error,
                val_nll=base.val_nll, objective=base.objective, seconds=base.seconds if first else 0.0,
                cached=not first,
            ))
        return out

    def _train(self, genotypes: list[Genotype]) -> None:
        cands = [Candidate(self.space.decode(g), init_seed(self.seed, g)) for g in genotypes]
        overhead = 50_000 if self.device.type == "cpu" else 1e12
        groups = make_groups(cands, self.input_shape, overhead)
        params = [count_params(c.arch, self.input_shape, self.num_classes) for c in cands]
        results = self.executor.run([[cands[i] for i in g] for g in groups],
                                    costs=[sum(params[i] for i in g) for g in groups])
        for idx, res in zip(groups, results):
            for k, i in enumerate(idx):
                g = genotypes[i]
                self._cache[g] = Evaluation(
                    genotype=g, arch=self.space.name(g), params=params[i], val_error=res.val_error[k],
                    val_nll=res.val_nll[k], objective=objective(res.val_error[k], params[i], self.nmax, self.lam),
                    seconds=res.seconds / len(idx),
                )
        self.n_trained += len(genotypes)
        log.debug("trained %d networks in %d groups", len(genotypes), len(groups))

    def close(self) -> None:
        self.executor.close()

    def __enter__(self) -> Evaluator:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
