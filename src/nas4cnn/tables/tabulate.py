"""A tabular benchmark of a search space: every architecture trained, validation error and
loss recorded after every epoch, for several seeds. Searches can then be replayed against
the table in seconds (see `compare`).

A space too large to train whole (a deep space holds billions of networks) is tabulated on a
sample: networks drawn as random search draws them (a uniform genotype, in canonical form;
repeats and networks that do not fit the data drawn again). A replay against a sampled
table scores a network outside the sample as its nearest sampled network (`Table.lookup`:
fewest differing genes), a nearest-neighbour surrogate of the space."""

from __future__ import annotations

import gzip
import json
import logging
import math
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from importlib import resources
from pathlib import Path

import numpy as np

from nas4cnn.core.config import RunConfig, config_from_dict
from nas4cnn.core.errors import ConfigError, RunDirError
from nas4cnn.core.params import count_params, max_params, refusal
from nas4cnn.core.rundir import atomic_path
from nas4cnn.core.seeding import TABLE_SAMPLE, derive_seed, init_seed
from nas4cnn.core.space import Genotype, SearchSpace
from nas4cnn.data.dataset import DataSet
from nas4cnn.nn.groups import Candidate, make_groups
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
    space_networks: int = 0  # distinct networks of the space; more than len(genotypes): a sample of it
    input_shape: tuple[int, int, int] | None = None  # the data's images (None in tables made before it was kept)
    num_classes: int | None = None

    @property
    def epochs(self) -> int:
        return int(self.val_error.shape[2])

    @property
    def space(self) -> SearchSpace:
        return self.config.space

    @property
    def sampled(self) -> bool:
        """Whether the table holds a sample of its space's networks, not all of them."""
        return self.space_networks > len(self.genotypes)

    @cached_property
    def _rows(self) -> tuple[dict[Genotype, int], np.ndarray]:
        """Each genotype's row, and the genotypes as one array (for the nearest one)."""
        index = {g: i for i, g in enumerate(self.genotypes)}
        return index, np.asarray(self.genotypes, dtype=np.int64).reshape(len(self.genotypes), -1)

    def lookup(self, genotype: Genotype) -> int:
        """The row of `genotype`'s network: its own (any equivalent genotype finds it), or, for
        a network the table does not hold, the nearest one's: the fewest genes differing in
        canonical form, the first in the table's order of those equally near."""
        g = self.space.canonical(genotype)
        index, rows = self._rows
        row = index.get(g)
        if row is not None:
            return row
        return int((rows != np.asarray(g, dtype=np.int64)).sum(1).argmin())

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
            "space_networks": self.space_networks or len(self.genotypes),
            "input_shape": None if self.input_shape is None else list(self.input_shape),
            "num_classes": self.num_classes,
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
                space_networks=int(payload.get("space_networks", len(payload["genotypes"]))),
                input_shape=None if payload.get("input_shape") is None else tuple(map(int, payload["input_shape"])),
                num_classes=None if payload.get("num_classes") is None else int(payload["num_classes"]),
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
    networks: list[Genotype] | None = None,
) -> Table:
    """Train every distinct network of the space that fits the data's images (or only
    `networks`, a sample of them from `sample_networks`) for `config.train.epochs`, once per
    seed."""
    space = config.space
    shape, k = data.input_shape, data.num_classes
    if networks is None:
        genotypes = sorted(g for g in {space.canonical(g) for g in space.all_genotypes()} if _fits(space, g, shape, k))
    else:
        genotypes = list(networks)
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
    return Table(config, data.name, max_params(space, shape, k), list(seeds), genotypes, params, val_error, val_nll,
                 space_networks=space.n_networks if networks is not None else len(genotypes),
                 input_shape=tuple(shape), num_classes=k)


def _fits(space: SearchSpace, genotype: Genotype, shape, num_classes: int) -> bool:
    arch = space.decode(genotype)
    return refusal(space, arch, shape, count_params(arch, shape, num_classes)) is None


DRAWS_PER_NETWORK = 100  # draws allowed per network asked for before a sample is given up as too large


def sample_networks(space: SearchSpace, n: int, seed: int, shape, num_classes: int) -> list[Genotype]:
    """`n` distinct networks of `space` that fit `shape` images, drawn as random search draws
    them (uniform genotypes, canonical; repeats and networks that do not fit drawn again)
    with `seed`, in the order drawn. A ConfigError if `n` is not below the space's size or
    the draws find too few."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ConfigError(f"--sample must be an integer >= 1; got {n!r}")
    if n >= space.n_networks:
        raise ConfigError(f"--sample {n:,}: the space has only {space.n_networks:,} networks; leave --sample out "
                          "to tabulate it whole")
    rng = np.random.default_rng(derive_seed(TABLE_SAMPLE, seed))
    found: dict[Genotype, None] = {}
    for _ in range(DRAWS_PER_NETWORK * n):
        g = space.canonical(space.random_genotype(rng))
        if g not in found and _fits(space, g, shape, num_classes):
            found[g] = None
            if len(found) == n:
                return list(found)
    raise ConfigError(f"--sample {n:,}: {DRAWS_PER_NETWORK * n:,} random draws found only {len(found):,} distinct "
                      "networks that fit the data; ask for fewer")
