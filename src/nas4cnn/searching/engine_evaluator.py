"""The evaluator that trains: new networks of a batch are trained together, in groups, by
the population-batched engine, on this machine's workers or a Ray cluster (the executor).
A network whose training fails (non-finite loss, out of memory) is a record too: status
FAILED, objective infinity, with the reason."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import torch

from nas4cnn.core.config import TrainConfig
from nas4cnn.core.record import Evaluation, Status
from nas4cnn.core.seeding import init_seed
from nas4cnn.core.space import Genotype, SearchSpace
from nas4cnn.data.dataset import DataSet
from nas4cnn.nn.groups import Candidate, make_groups
from nas4cnn.nn.model import count_params, max_params, refusal
from nas4cnn.searching.evaluator import Evaluator
from nas4cnn.searching.executors import Executor, LocalExecutor, TrainJob

log = logging.getLogger(__name__)


class EngineEvaluator(Evaluator):
    def __init__(
        self,
        space: SearchSpace,
        data: DataSet,
        train: TrainConfig,
        lam: float,
        seed: int,
        device: str | torch.device = "cpu",
        workers: int | None = None,
        executor: Executor | None = None,
        early_stop: float = 0.0,
    ):
        super().__init__(space, max_params(space, data.input_shape, data.num_classes), lam, train.epochs,
                         early_stop)
        self.seed = seed
        self.input_shape = data.input_shape
        self.num_classes = data.num_classes
        self.executor = executor or LocalExecutor(data, TrainJob(train, train.epochs, seed), device, workers)

    @property
    def device(self) -> torch.device:
        return self.executor.device

    def params(self, genotype: Genotype) -> int:
        return count_params(self.space.decode(genotype), self.input_shape, self.num_classes)

    def refusal(self, genotype: Genotype, params: int) -> str | None:
        return refusal(self.space, self.space.decode(genotype), self.input_shape, params)

    def _candidates(self, genotypes: list[Genotype], params: list[int]) -> list[Candidate]:
        return [Candidate(self.space.decode(g), init_seed(self.seed, g), self.penalty(p))
                for g, p in zip(genotypes, params)]

    def _groups(self, genotypes: list[Genotype], params: list[int]) -> list[list[int]]:
        overhead = 50_000 if self.device.type == "cpu" else 1e12
        return make_groups(self._candidates(genotypes, params), self.input_shape, overhead)

    def _run(self, genotypes: list[Genotype], params: list[int], groups: list[list[int]], epochs: int,
             stop: dict[int, float] | None) -> Iterator[tuple[int, list[Evaluation]]]:
        if not groups:
            return
        cands = self._candidates(genotypes, params)
        runs = self.executor.run([[cands[i] for i in idx] for idx in groups],
                                 costs=[sum(params[i] for i in idx) for idx in groups], epochs=epochs, stop=stop,
                                 on_epochs=None if self.progress is None else self.progress.advance)
        for k, res in runs:
            records = []
            for j, i in enumerate(groups[k]):
                e = self.record(genotypes[i], params[i], epochs, status=res.status[j], reason=res.reason[j],
                                val_error=res.val_error[j], val_nll=res.val_nll[j],
                                seconds=res.seconds / len(groups[k]),
                                checks=None if res.checks is None else res.checks[j])
                if e.status is Status.STOPPED:
                    log.debug("%s %s", e.arch, e.reason)
                elif e.status is Status.FAILED:
                    log.warning("%s failed: %s", e.arch, e.reason)
                records.append(e)
            yield k, records
        log.debug("trained %d networks in %d groups", len(genotypes), len(groups))

    def close(self) -> None:
        self.executor.close()
