"""A tabular benchmark of a search space: every architecture trained, validation error and
loss recorded after every epoch, for several seeds. Searches can then be replayed against
the table in seconds (see `compare`)."""

from __future__ import annotations

import gzip
import json
import logging
import math
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from nas4cnn.core.config import RunConfig, config_from_dict
from nas4cnn.core.errors import RunDirError
from nas4cnn.core.rundir import atomic_path
from nas4cnn.core.seeding import init_seed
from nas4cnn.core.space import Genotype, SearchSpace
from nas4cnn.data.dataset import DataSet
from nas4cnn.nn.groups import Candidate, make_groups
from nas4cnn.nn.model import count_params, max_params
from nas4cnn.searching.executors import LocalExecutor, TrainJob

log = logging.getLogger(__name__)

FORMAT = "nas4cnn-table/1"
SHIPPED = "digits_table.json.gz"


@dataclass(frozen=True)
class Table:
    config: RunConfig
    dataset: str
    nmax: int
    seeds: list[int]
    genotypes: list[Genotype]  # canonical genotypes, one per distinct network
    params: np.ndarray  # (networks,)
    val_error: np.ndarray  # (seeds, networks, epochs)
    val_nll: np.ndarray  # (seeds, networks, epochs)

    @property
    def epochs(self) -> int:
        return int(self.val_error.shape[2])

    @property
    def space(self) -> SearchSpace:
        return self.config.space

    def index(self) -> dict[Genotype, int]:
        return {g: i for i, g in enumerate(self.genotypes)}

    def objective(self, lam: float, epoch: int | None = None) -> np.ndarray:
        """(seeds, networks) objective after `epoch` epochs (default: the last)."""
        e = self.epochs if epoch is None else epoch
        return self.val_error[:, :, e - 1] + lam * self.params[None, :] / self.nmax

    def save(self, path: str | Path) -> None:
        payload = {
            "format": FORMAT,
            "config": self.config.to_dict(),
            "dataset": self.dataset,
            "nmax": self.nmax,
            "seeds": self.seeds,
            "genotypes": [list(g) for g in self.genotypes],
            "params": self.params.tolist(),
            "val_error": np.round(self.val_error, 6).tolist(),
            "val_nll": np.round(self.val_nll, 6).tolist(),
        }
        with atomic_path(path, "--out") as tmp, gzip.open(tmp, "wt", encoding="utf-8") as f:
            json.dump(payload, f, separators=(",", ":"))

    @classmethod
    def load(cls, path: str | Path | None = None) -> Table:
        """A table written by `save`; without a path, the one shipped for the digits space."""
        try:
            if path is None:
                with resources.files("nas4cnn.tables").joinpath(SHIPPED).open("rb") as raw, \
                        gzip.open(raw, "rt", encoding="utf-8") as f:
                    payload = json.load(f)
            else:
                with gzip.open(path, "rt", encoding="utf-8") as f:
                    payload = json.load(f)
        except FileNotFoundError:
            raise RunDirError(f"--table: no such file {str(path)!r}") from None
        except (OSError, EOFError, zlib.error, json.JSONDecodeError, UnicodeDecodeError) as e:
            raise RunDirError(f"--table: {str(path)!r} is not a readable table ({e})") from None
        if not isinstance(payload, dict) or payload.get("format") != FORMAT:
            raise RunDirError(f"--table: {str(path)!r} is not a nas4cnn table (expected format {FORMAT})")
        try:
            table = cls(
                config=config_from_dict(payload["config"]),
                dataset=payload["dataset"],
                nmax=int(payload["nmax"]),
                seeds=list(payload["seeds"]),
                genotypes=[tuple(g) for g in payload["genotypes"]],
                params=np.asarray(payload["params"], dtype=np.int64),
                val_error=np.asarray(payload["val_error"], dtype=np.float64),
                val_nll=np.asarray(payload["val_nll"], dtype=np.float64),
            )
        except (KeyError, TypeError, ValueError) as e:
            raise RunDirError(f"--table: {str(path)!r} is damaged ({type(e).__name__}: {e})") from None
        n, k = len(table.genotypes), len(table.seeds)
        curves = table.val_error.shape
        if table.params.shape != (n,) or len(curves) != 3 or curves[:2] != (k, n) or table.val_nll.shape != curves:
            raise RunDirError(f"--table: {str(path)!r} is damaged (its arrays do not match its "
                              f"{n} genotypes and {k} seeds)")
        return table


def tabulate(
    config: RunConfig,
    data: DataSet,
    seeds: list[int],
    device: str = "auto",
    workers: int | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> Table:
    """Train every distinct network of the space for `config.train.epochs`, once per seed."""
    space = config.space
    genotypes = sorted({space.canonical(g) for g in space.all_genotypes()})
    shape, k = data.input_shape, data.num_classes
    params = np.array([count_params(space.decode(g), shape, k) for g in genotypes])
    E = config.train.epochs
    val_error = np.full((len(seeds), len(genotypes), E), math.nan)
    val_nll = np.full((len(seeds), len(genotypes), E), math.nan)
    for s, seed in enumerate(seeds):
        executor = LocalExecutor(data, TrainJob(config.train, E, seed, curves=True), device, workers)
        try:
            cands = [Candidate(space.decode(g), init_seed(seed, g)) for g in genotypes]
            overhead = 50_000 if executor.device.type == "cpu" else 1e12
            groups = make_groups(cands, shape, overhead)

            runs = executor.run([[cands[n] for n in g] for g in groups], costs=[float(params[g].sum()) for g in groups])
            for i, res in runs:
                for j, n in enumerate(groups[i]):
                    for e, (nll, err) in enumerate(res.curves[j]):
                        val_nll[s, n, e], val_error[s, n, e] = nll, err
                if on_progress is not None:
                    on_progress(len(groups[i]))
        finally:
            executor.close()
    return Table(config, data.name, max_params(space, shape, k), list(seeds), genotypes, params, val_error, val_nll)
