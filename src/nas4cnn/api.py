"""The Python API; the command line is a thin layer over these functions."""

from __future__ import annotations

import json
import logging
import platform
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from tqdm.auto import tqdm

from . import rundir
from .checkpoint import load_model, save_model
from .config import RunConfig, validate
from .data import DataSet, load_dataset
from .evaluator import Evaluation, Evaluator
from .executors import resolve_device
from .final import FinalResult, train_final
from .model import CNN, check_space_fits, max_params
from .plots import plot_curves, plot_progression
from .search import SearchResult, run_search
from .space import Genotype, SearchSpace

log = logging.getLogger(__name__)

GenotypeLike = str | Sequence[int]


@dataclass(frozen=True)
class Run:
    """A finished search: its folder, its summary and the final model."""

    path: Path
    summary: dict
    model: CNN


def prepare(config: RunConfig | None, data: DataSet | None) -> tuple[RunConfig, DataSet]:
    """Validate the config, load and check the data, and check the space fits the data's images."""
    config = config or RunConfig()
    validate(config)
    data = data if data is not None else load_dataset(config.data.dataset)
    check_space_fits(config.space, data.input_shape)
    return config, data


def resolve_genotype(space: SearchSpace, genotype: GenotypeLike, what: str = "genotype") -> Genotype:
    if isinstance(genotype, str):
        return space.parse(genotype, what)
    return space.validate(list(genotype), what)


def search(
    config: RunConfig | None = None,
    *,
    out: str | Path | None = None,
    data: DataSet | None = None,
    device: str = "auto",
    workers: int | None = None,
    progress: bool = False,
) -> Run:
    """Run the search, train the winner from scratch, and write the run directory."""
    config, data = prepare(config, data)
    s = config.search
    path = rundir.choose_run_dir(out, s.seed)
    evaluator = Evaluator(config.space, data, config.train, s.lam, s.seed, device, workers)
    rundir.make_run_dir(path)
    log.info("run directory: %s", path)

    bar = tqdm(total=s.generations + 1, desc="search", unit="gen", disable=not progress)
    with open(path / rundir.EVALUATIONS, "w", encoding="utf-8") as ev_file:

        def on_generation(record, results: list[Evaluation]) -> None:
            for r in results:
                ev_file.write(json.dumps({"generation": record.generation, **r.to_dict()}) + "\n")
            ev_file.flush()
            bar.set_postfix(best=f"{record.global_best:.4f}", trained=evaluator.n_trained)
            bar.update()

        try:
            result = run_search(config, evaluator, on_generation)
        finally:
            bar.close()
            evaluator.close()

    final = train(result.best.genotype, config, data=data, device=str(evaluator.device), progress=progress)
    summary = _summary(config, data, evaluator.nmax, result, final)
    summary["execution"] = {"device": str(evaluator.device), "workers": evaluator.executor.workers}
    save_model(final.model, path / rundir.MODEL, final.genotype, extra={"config": config.to_dict()})
    plot_progression(result.generations, path / rundir.PROGRESSION_PNG)
    plot_curves(final.history, final.test_nll, final.test_error, path / rundir.CURVES_PNG)
    rundir.write_json(path / rundir.SUMMARY, summary)
    return Run(path, summary, final.model)


def evaluate(
    genotypes: Sequence[GenotypeLike],
    config: RunConfig | None = None,
    *,
    data: DataSet | None = None,
    device: str = "auto",
    workers: int | None = None,
) -> list[Evaluation]:
    """Train each genotype for `config.train.epochs` and score it with the search objective."""
    config, data = prepare(config, data)
    resolved = [resolve_genotype(config.space, g) for g in genotypes]
    s = config.search
    with Evaluator(config.space, data, config.train, s.lam, s.seed, device, workers) as evaluator:
        return evaluator.evaluate(resolved)


def train(
    genotype: GenotypeLike,
    config: RunConfig | None = None,
    *,
    epochs: int | None = None,
    data: DataSet | None = None,
    out: str | Path | None = None,
    device: str = "auto",
    progress: bool = False,
) -> FinalResult:
    """Train one architecture from scratch for `epochs` (default: the config's final epochs)."""
    config, data = prepare(config, data)
    if epochs is not None:
        config = config.override("search", final_epochs=epochs)
    g = resolve_genotype(config.space, genotype)
    path = rundir.choose_run_dir(out, config.search.seed) if out is not None else None
    n = config.search.final_epochs
    bar = tqdm(total=n, desc=f"train {config.space.name(g)}", unit="epoch", disable=not progress)
    try:
        final = train_final(
            config.space, g, data, config.train, n, config.search.seed, resolve_device(device),
            on_epoch=lambda h: (bar.set_postfix(val_error=f"{h.val_error:.4f}"), bar.update()),
        )
    finally:
        bar.close()
    if path is not None:
        rundir.make_run_dir(path)
        save_model(final.model, path / rundir.MODEL, g, extra={"config": config.to_dict()})
        plot_curves(final.history, final.test_nll, final.test_error, path / rundir.CURVES_PNG)
        rundir.write_json(path / "train.json", {**final.metrics(), "history": [asdict(h) for h in final.history]})
    return final


def load_run(path: str | Path) -> Run:
    """A finished run directory: its summary and its model, rebuilt."""
    path = Path(path)
    summary = rundir.read_summary(path)
    return Run(path, summary, load_model(path / rundir.MODEL))


def space_info(config: RunConfig | None = None, data: DataSet | None = None) -> dict:
    config, data = prepare(config, data)
    return {
        "genes": config.space.to_dict(),
        "size": config.space.size,
        "dataset": data.name,
        "input_shape": list(data.input_shape),
        "num_classes": data.num_classes,
        "nmax": max_params(config.space, data.input_shape, data.num_classes),
    }


def _summary(config: RunConfig, data: DataSet, nmax: int, result: SearchResult, final: FinalResult) -> dict:
    b = result.best
    return {
        "config": config.to_dict(),
        "dataset": {
            "name": data.name,
            "input_shape": list(data.input_shape),
            "num_classes": data.num_classes,
            "sizes": {"train": len(data.train), "val": len(data.val), "test": len(data.test)},
        },
        "nmax": nmax,
        "best": {
            "genotype": list(b.genotype),
            "arch": b.arch,
            "params": b.params,
            "objective": b.objective,
            "val_error": b.val_error,
            "val_nll": b.val_nll,
        },
        "global_best": [r.global_best for r in result.generations],
        "local_best": [r.local_best for r in result.generations],
        "n_evaluations": result.n_requested,
        "n_trained": result.n_trained,
        "test_error": final.test_error,
        "test_nll": final.test_nll,
        "final": {**final.metrics(), "history": [asdict(h) for h in final.history]},
        "seconds": {
            "search": round(result.seconds, 3),
            "final": round(final.seconds, 3),
            "total": round(result.seconds + final.seconds, 3),
        },
        "versions": {"torch": torch.__version__, "python": platform.python_version()},
    }
