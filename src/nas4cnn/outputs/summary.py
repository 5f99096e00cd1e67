"""The run's summary, evaluation list and plots, rebuilt from the store alone."""

from __future__ import annotations

import json
import math
from pathlib import Path

from nas4cnn.core import rundir
from nas4cnn.core.config import config_from_dict
from nas4cnn.core.pareto import pareto_front
from nas4cnn.core.record import Evaluation, Status
from nas4cnn.nn.train import EpochStats
from nas4cnn.outputs.plots import plot_curves, plot_pareto, plot_progression
from nas4cnn.searching.history import History
from nas4cnn.searching.store import RunStore


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None


def _full(evaluations: list[Evaluation], epochs: int) -> list[Evaluation]:
    """The networks trained for the full epochs."""
    return [e for e in evaluations if e.ok and e.epochs == epochs]


def _front(full: list[Evaluation]) -> list[dict]:
    """Validation error against parameters: the non-dominated networks among `full`."""
    by_genotype = {e.genotype: e for e in full}
    pts = pareto_front([(g, e.val_error, float(e.params)) for g, e in by_genotype.items()])
    return [{"genotype": list(g), "arch": by_genotype[g].arch, "params": by_genotype[g].params,
             "val_error": by_genotype[g].val_error} for g, _, _ in pts]


def read_run(store: RunStore) -> tuple[list[Evaluation], History]:
    """The store's records (one per trained network) and the history rebuilt from them, read once."""
    config = config_from_dict(store.config)
    trained = store.evaluations()
    history = History.from_store(config.space, config.train.epochs, store.generations(), trained)
    return [e for _, e in trained], history


def build_summary(store: RunStore, read: tuple[list[Evaluation], History] | None = None) -> dict:
    evaluations, history = read or read_run(store)
    count = lambda status: sum(1 for e in evaluations if e.status is status)  # noqa: E731
    info, final = store.info, store.final
    b = history.best
    summary = {
        "config": store.config,
        "config_hash": store.meta("config_hash"),
        "status": store.status,
        "dataset": info.get("dataset"),
        "nmax": info.get("nmax"),
        "execution": info.get("execution"),
        "best": None if b is None else {
            "genotype": list(b.genotype), "arch": b.arch, "params": b.params,
            "objective": b.objective, "val_error": b.val_error, "val_nll": b.val_nll,
        },
        "global_best": [_finite(r.global_best) for r in history.records],
        "local_best": [_finite(r.local_best) for r in history.records],
        "n_generations": len(history.records),
        "search_end": store.search_end,  # why the search ended before its last generation (a budget), or None
        "shortlist": store.shortlist,  # the best networks trained again on all the data, or None
        "n_evaluations": len(history.evaluations),
        "n_trained": sum(1 for e in evaluations if e.trained),
        "n_failed": count(Status.FAILED),
        "n_pruned": count(Status.PRUNED),
        "n_stopped": count(Status.STOPPED),
        "pareto_front": _front(_full(evaluations, history.full_epochs)),
        "test_error": final["test_error"] if final else None,
        "test_nll": final["test_nll"] if final else None,
        **{k: final.get(k) if final else None
           for k in ("repeats", "test_error_mean", "test_error_std", "test_nll_mean", "test_nll_std")},
        "final": final,
        "seconds": {
            "search": round(history.seconds, 3),
            "final": final["seconds"] if final else None,
            "total": round(history.seconds + (final["seconds"] if final else 0.0), 3),
        },
        "versions": info.get("versions"),
    }
    return summary


def write_outputs(run_dir: str | Path, store: RunStore) -> dict:
    """Write summary.json, evaluations.jsonl and the plots from the store; returns the summary."""
    run_dir = Path(run_dir)
    evaluations, history = read = read_run(store)
    summary = build_summary(store, read)
    with rundir.atomic_path(run_dir / rundir.EVALUATIONS) as tmp, open(tmp, "w", encoding="utf-8") as f:
        for generation, e in history.evaluations:
            f.write(json.dumps({"generation": generation, **e.to_dict()}) + "\n")
    if history.records:
        plot_progression(history.records, run_dir / rundir.PROGRESSION_PNG)
    plot_pareto([(e.params, e.val_error) for e in _full(evaluations, history.full_epochs)],
                summary["pareto_front"], summary["best"], run_dir / rundir.PARETO_PNG)
    final = summary["final"]
    if final:
        curves = [EpochStats(**h) for h in final["history"]]
        plot_curves(curves, final["test_nll"], final["test_error"], run_dir / rundir.CURVES_PNG)
    rundir.write_json(run_dir / rundir.SUMMARY, summary)
    return summary
