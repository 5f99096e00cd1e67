"""Finished and unfinished run directories: their config, their outputs rebuilt from the
store, and what a space looks like for a data set."""

from __future__ import annotations

from pathlib import Path

from nas4cnn.api.preparation import prepare
from nas4cnn.core.config import RunConfig, config_from_dict
from nas4cnn.core.spaces import describe
from nas4cnn.data.dataset import DataSet
from nas4cnn.nn.model import max_params
from nas4cnn.outputs.report import report
from nas4cnn.outputs.summary import write_outputs
from nas4cnn.searching.store import RunStore


def run_config(run_dir: str | Path) -> RunConfig:
    """The configuration a run (finished or not) was made with."""
    store = RunStore.open(run_dir, write=False)
    try:
        return config_from_dict(store.config, source=f"{run_dir}/run.db")
    finally:
        store.close()


def rebuild(run_dir: str | Path) -> dict:
    """Rewrite a run's summary.json, evaluations.jsonl, plots and report.html from its store alone."""
    path = Path(run_dir)
    store = RunStore.open(path, "")
    try:
        summary = write_outputs(path, store)
    finally:
        store.close()
    report(path)
    return summary


def space_info(config: RunConfig | None = None, data: DataSet | None = None) -> dict:
    config, data = prepare(config, data)
    return {
        **describe(config.space),
        "dataset": data.name,
        "input_shape": list(data.input_shape),
        "num_classes": data.num_classes,
        "nmax": max_params(config.space, data.input_shape, data.num_classes),
    }
