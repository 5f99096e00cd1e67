"""Score genotypes: train each for the configured epochs and compute the objective.

A genotype's result depends only on (run seed, genotype, training config), so a
genotype seen before in this run reuses its recorded result instead of training again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import torch

from .config import TrainConfig
from .data import DataSet
from .model import build_model, count_params, max_params
from .objective import objective
from .seeding import INIT, derive_seed
from .space import Genotype, SearchSpace
from .train import train_model

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Evaluation:
    genotype: Genotype
    arch: str
    params: int
    val_error: float
    val_nll: float
    objective: float
    seconds: float

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
    ):
        self.space = space
        self.data = data.to(device)
        self.train = train
        self.lam = lam
        self.seed = seed
        self.device = torch.device(device)
        self.nmax = max_params(space, data.input_shape, data.num_classes)
        self.n_requested = 0
        self.n_trained = 0
        self._cache: dict[Genotype, Evaluation] = {}

    def evaluate(self, genotypes: Sequence[Genotype]) -> list[Evaluation]:
        results = []
        for g in genotypes:
            g = self.space.validate(g)
            self.n_requested += 1
            if g not in self._cache:
                self._cache[g] = self._train_one(g)
                self.n_trained += 1
            results.append(self._cache[g])
        return results

    def _train_one(self, genotype: Genotype) -> Evaluation:
        start = time.perf_counter()
        arch = self.space.decode(genotype)
        shape, k = self.data.input_shape, self.data.num_classes
        model = build_model(arch, shape, k, seed=init_seed(self.seed, genotype)).to(self.device)
        history = train_model(model, self.data, self.train, self.train.epochs, self.seed, track_val=False)
        last = history[-1]
        params = count_params(arch, shape, k)
        result = Evaluation(
            genotype=genotype,
            arch=arch.name,
            params=params,
            val_error=last.val_error,
            val_nll=last.val_loss,
            objective=objective(last.val_error, params, self.nmax, self.lam),
            seconds=time.perf_counter() - start,
        )
        log.debug("evaluated %s: objective %.4f", arch.name, result.objective)
        return result
