"""What every API call does before its work: validate the config, load and check the data,
resolve genotypes and executors, and describe the run's data and execution for its store."""

from __future__ import annotations

import logging
import platform
from collections.abc import Sequence

import torch

from nas4cnn.core.config import RunConfig, TrainConfig, validate
from nas4cnn.core.defaults import SUBSET, choose
from nas4cnn.core.errors import ConfigError
from nas4cnn.core.space import Genotype, SearchSpace
from nas4cnn.data.dataset import DataSet
from nas4cnn.data.load import load_dataset
from nas4cnn.data.sources import check_dataset, mirrors
from nas4cnn.nn.activations import check_activation_names
from nas4cnn.nn.model import check_space_fits
from nas4cnn.nn.optimizers import check_optimizer
from nas4cnn.nn.steps import uses_fused_step
from nas4cnn.searching.engine_evaluator import EngineEvaluator
from nas4cnn.searching.executors import Executor, LocalExecutor, TrainJob
from nas4cnn.strategies import check_strategy

GenotypeLike = str | Sequence[int]
EXECUTORS = ("local", "ray")
# What a user should see at the start and end of long work (the command line shows it).
notice = logging.getLogger("nas4cnn.run")


def prepare(config: RunConfig | None, data: DataSet | None) -> tuple[RunConfig, DataSet]:
    """Validate the config (the names of strategies, optimisers, activations and data sets
    against their registries), load and check the data, and check the space fits the data's
    images: every refusal comes before any work. The settings left automatic (0) are chosen
    from the data's size (`nas4cnn.core.defaults`), and told on the `nas4cnn.run` logger where
    the data is larger than a search subset; the config returned has them."""
    config = config or RunConfig()
    validate(config)
    check_strategy(config.search.strategy)
    check_optimizer(config.train.optimizer)
    check_activation_names(config.space.activation)
    if data is None:
        check_dataset(config.data.dataset)
    data = data if data is not None else load_dataset(config.data)
    check_space_fits(config.space, data.input_shape)
    config, chosen = choose(config, len(data.train), len(data.val), mirrors(data.name))
    if chosen and len(data.train) > SUBSET:  # on small data every choice is the usual value: nothing to tell
        notice.info("chosen from the data's size: %s", "; ".join(map(str, chosen)))
    return config, data


def resolve_genotype(space: SearchSpace, genotype: GenotypeLike, what: str = "genotype") -> Genotype:
    if isinstance(genotype, str):
        return space.parse(genotype, what)
    return space.validate(list(genotype), what)


def check_executor(executor: str, ray_address: str | None) -> None:
    if executor not in EXECUTORS:
        raise ConfigError(f"--executor must be one of {list(EXECUTORS)}; got {executor!r}")
    if ray_address is not None and executor != "ray":
        raise ConfigError(f"--ray-address {ray_address} is for --executor ray; got --executor {executor}")


def make_executor(kind: str, data: DataSet, job: TrainJob, device: str, workers: int | None,
                  ray_address: str | None) -> Executor:
    """The executor `kind` names (checked by `check_executor` before any work)."""
    if kind == "ray":
        from nas4cnn.searching.executors.ray import RayExecutor

        return RayExecutor(data, job, address=ray_address, device=device)
    return LocalExecutor(data, job, device, workers)


def _flatten(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def check_same_config(stored: dict, given: dict) -> None:
    a, b = _flatten(stored), _flatten(given)
    diffs = [f"{k} is {a.get(k)!r} in the run but {b.get(k)!r} here" for k in sorted(set(a) | set(b))
             if a.get(k) != b.get(k)]
    if diffs:
        raise ConfigError(f"--resume: the run was made with another configuration: {'; '.join(diffs)}")


def check_same_data(stored: dict, data: DataSet, what: str) -> None:
    """The data set a run was made with (its `dataset` record) against `data`."""
    given = dataset_info(data)
    diffs = [f"{k} is {stored.get(k)!r} in the run but {v!r} here" for k, v in given.items() if stored.get(k) != v]
    if diffs:
        raise ConfigError(f"{what}: the run was made with other data: {'; '.join(diffs)}"
                          + ("; give the run's data set (data=...)" if stored.get("name") != given["name"] else ""))


def run_info(data: DataSet, evaluator: EngineEvaluator, config: RunConfig) -> dict:
    """What the store records besides the config: the data (and the subsets candidates are
    ranked on), Nmax, where it trains, versions."""
    execution = {"device": evaluator.device.type}
    if isinstance(evaluator.executor, LocalExecutor):
        execution["workers"] = evaluator.executor.workers
        if evaluator.device.type == "cpu":
            execution["cpu_step"] = cpu_step(evaluator.device, config.train)  # a cluster's nodes decide themselves
    s = config.search
    return {
        "dataset": dataset_info(data),
        "ranked_on": {"train": min(s.subset, len(data.train)), "val": min(s.val_subset, len(data.val))},
        "nmax": evaluator.nmax,
        "execution": execution,
        "versions": {"torch": torch.__version__, "python": platform.python_version()},
    }


def cpu_step(device: torch.device, train: TrainConfig) -> str:
    """Which training step a local run's groups take: the fused C step or PyTorch operations."""
    return "fused" if uses_fused_step(device, train) else "pytorch"


def dataset_info(data: DataSet) -> dict:
    return {
        "name": data.name,
        "input_shape": list(data.input_shape),
        "num_classes": data.num_classes,
        "sizes": {"train": len(data.train), "val": len(data.val), "test": len(data.test)},
    }
