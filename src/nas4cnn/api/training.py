"""Training outside a search: score genotypes as the search does (`evaluate`), train one
architecture as the final model is trained (`train`), and the original project's comparison models
(`baseline`). The final model of a search is trained here too."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from tqdm.auto import tqdm

from nas4cnn.api.preparation import (
    GenotypeLike,
    check_same_data,
    prepare,
    resolve_genotype,
)
from nas4cnn.core import rundir
from nas4cnn.core.config import RunConfig, config_from_dict
from nas4cnn.core.errors import ConfigError, RunDirError
from nas4cnn.core.record import Evaluation
from nas4cnn.core.space import Genotype
from nas4cnn.data.dataset import DataSet
from nas4cnn.data.subset import search_subset
from nas4cnn.final.baselines import BASELINES, comparison_rows, train_baselines
from nas4cnn.final.training import FinalRuns, architecture, train_repeats
from nas4cnn.nn.checkpoint import save_model
from nas4cnn.outputs.plots import plot_bars, plot_curves
from nas4cnn.outputs.report import report
from nas4cnn.searching.engine_evaluator import EngineEvaluator
from nas4cnn.searching.executors import resolve_device


def evaluate(
    genotypes: Sequence[GenotypeLike],
    config: RunConfig | None = None,
    *,
    data: DataSet | None = None,
    device: str = "auto",
    workers: int | None = None,
) -> list[Evaluation]:
    """Train each genotype (index lists or names; or one genotype alone) for
    `config.train.epochs` and score it with the search objective."""
    config, data = prepare(config, data)
    if isinstance(genotypes, str) or (genotypes and all(isinstance(g, int) for g in genotypes)):
        genotypes = [genotypes]
    resolved = [resolve_genotype(config.space, g) for g in genotypes]
    s = config.search
    ranked = search_subset(data, s.subset, s.val_subset, config.data.split_seed)  # as the search ranks them
    with EngineEvaluator(config.space, ranked, config.train, s.lam, s.seed, device, workers) as evaluator:
        return evaluator.evaluate(resolved)


def train(
    genotype: GenotypeLike,
    config: RunConfig | None = None,
    *,
    epochs: int | None = None,
    repeats: int | None = None,
    data: DataSet | None = None,
    out: str | Path | None = None,
    device: str = "auto",
    progress: bool = False,
) -> FinalRuns:
    """Train one architecture from scratch as the final model is trained (the config's final
    epochs, patience, train + validation and repeats unless `epochs` / `repeats` are given) and
    test it. With `out`, save the first seed's model, its curves and the metrics there."""
    config, data = prepare(config, data)
    # `train` calls the final epochs --epochs; --repeats is checked by the config as it is.
    if epochs is not None and (isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1):
        raise ConfigError(f"--epochs must be an integer >= 1; got {epochs!r}")
    config = config.override("search", final_epochs=epochs, final_repeats=repeats)
    g = resolve_genotype(config.space, genotype)
    path = rundir.choose_run_dir(out, config.search.seed) if out is not None else None
    if path is not None:
        rundir.make_run_dir(path)
    final = train_final(config, g, data, resolve_device(device), progress)
    if path is not None:
        save_final(path, final, config, data)
        rundir.write_json(path / "train.json", final.metrics())
    return final


def train_final(config: RunConfig, g: Genotype, data: DataSet, device: torch.device, progress: bool,
                workers: int | None = None) -> FinalRuns:
    """The final procedure for genotype `g`, with a progress bar over its epochs; `workers`
    processes at most (default: the machine's cores)."""
    s = config.search
    bar = tqdm(total=s.final_repeats * s.final_epochs * (2 if s.final_trainval else 1),
               desc=f"final {config.space.name(g)}", unit="epoch", disable=not progress)
    try:
        return train_repeats(
            architecture(config.space, g, data), data, config.train, s.final_epochs, s.seed, s.final_repeats,
            device=device, on_epoch=lambda h: (bar.set_postfix(_epoch_postfix(h)), bar.update()),
            patience=s.final_patience, trainval=s.final_trainval, workers=workers,
        )
    finally:
        bar.close()


def _epoch_postfix(h) -> dict:
    """Validation error while it is measured; the training loss on train + validation."""
    if h.val_error == h.val_error:
        return {"val_error": f"{h.val_error:.4f}"}
    return {"train+val loss": f"{h.train_loss:.4f}"}


def save_final(path: Path, final: FinalRuns, config: RunConfig, data: DataSet) -> None:
    """The first seed's model, with its input normalisation and class names, and its curves."""
    first = final.first
    save_model(first.model, path / rundir.MODEL, first.genotype, normalization=first.normalization,
               class_names=data.class_names, pixel_max=data.pixel_max, extra={"config": config.to_dict()},
               train_images=data.train.x)
    plot_curves(first.history, first.test_nll, first.test_error, path / rundir.CURVES_PNG)


def baseline(
    config: RunConfig | None = None,
    *,
    run: str | Path | None = None,
    repeats: int | None = None,
    data: DataSet | None = None,
    out: str | Path | None = None,
    device: str = "auto",
    progress: bool = False,
) -> list[dict]:
    """Train the original project's two comparison models (a human-designed CNN, a feed-forward network)
    the way the final model is trained, and compare. With `run`, use that run's recipe and
    data and add its final model; `out` (default: the run's folder) gets baselines.json and
    the original project's bar chart, baselines.png, and a run folder's report.html is rewritten with them.
    Returns one row per model."""
    searched = None
    if run is not None:
        if config is not None:
            raise ConfigError("--run: the baselines use the run's own settings; do not give settings as well")
        summary = rundir.read_summary(run)
        if not summary.get("final"):
            raise RunDirError(f"--run: {str(run)!r} has no final model yet; finish it with --resume first")
        config, searched = config_from_dict(summary["config"], source=f"{run}/summary.json"), summary["final"]
        out = run if out is None else out
    config, data = prepare(config, data)
    if run is not None and summary.get("dataset"):
        check_same_data(summary["dataset"], data, "--run")
    config = config.override("search", final_repeats=repeats)
    s = config.search
    path = rundir.make_run_dir(Path(out)) if out is not None else None
    bar = tqdm(total=len(BASELINES) * s.final_repeats * s.final_epochs * (2 if s.final_trainval else 1),
               desc="baselines", unit="epoch", disable=not progress)
    try:
        results = train_baselines(data, config.train, s.final_epochs, s.seed, s.final_repeats,
                                  resolve_device(device), s.final_patience, s.final_trainval,
                                  on_epoch=lambda h: bar.update())
    finally:
        bar.close()
    rows = comparison_rows(results, searched, digits=config.data.dataset == "digits")
    if path is not None:
        detail = {name: {k: v for k, v in r.metrics().items() if k not in ("history", "trainval_history")}
                  for name, r in results.items()}
        rundir.write_json(path / "baselines.json", {"config": config.to_dict(), "rows": rows, "baselines": detail})
        plot_bars(rows, path / "baselines.png")
        if (path / "run.db").is_file() or (path / rundir.SUMMARY).is_file():
            report(path)  # a run folder: its report gains the Baselines section
    return rows
