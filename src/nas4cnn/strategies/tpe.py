"""Optuna's TPE sampler driven through its ask-and-tell interface (optional extra:
`pip install 'nas4cnn[optuna]'`), so users can compare with the tool they know."""

from __future__ import annotations

import base64
import math
import pickle
from collections.abc import Sequence

from nas4cnn.core.errors import ConfigError
from nas4cnn.core.space import Genotype, SearchSpace


class OptunaTPE:
    def __init__(self, space: SearchSpace, population: int = 20, seed: int = 0, batch: int | None = None):
        try:
            import optuna
        except ImportError:
            raise ConfigError("--strategy optuna-tpe needs Optuna, an optional extra: "
                              "pip install 'nas4cnn[optuna]'") from None
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.space = space
        self.batch = batch or population
        self.study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=seed % 2**32))
        self._pending: list = []

    def ask(self) -> list[Genotype]:
        self._pending = [self.study.ask() for _ in range(self.batch)]
        genes = list(zip(self.space.genes, self.space.sizes))
        return [tuple(t.suggest_categorical(gene, list(range(n))) for gene, n in genes)
                for t in self._pending]

    def tell(self, genotypes: Sequence[Genotype], results: Sequence) -> None:
        for trial, r in zip(self._pending, results):
            value = float(r.objective)
            self.study.tell(trial, value if math.isfinite(value) else 1e9)
        self._pending = []

    def state_dict(self) -> dict:
        return {"study": base64.b64encode(pickle.dumps(self.study)).decode()}

    def load_state_dict(self, state: dict) -> None:
        self.study = pickle.loads(base64.b64decode(state["study"]))
