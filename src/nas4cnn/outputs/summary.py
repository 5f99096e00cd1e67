"""The run's summary, evaluation list and plots, rebuilt from the store alone."""

from __future__ import annotations

import json
import math
from pathlib import Path

from nas4cnn.core import rundir
from nas4cnn.core.config import config_from_dict
from nas4cnn.nn.train import EpochStats
from nas4cnn.outputs.plots import plot_curves, plot_pareto, plot_progression
from nas4cnn.search.loop import History, replay
from nas4cnn.search.store import RunStore


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None


def _front(evaluations) -> list[dict]:
    """Validation error against parameters: the non-dominated networks trained for the full epochs."""
    from nas4cnn.strategies.nsga2 import pareto_front

    full = {e.canonical: e for e in evaluations if e.status == "ok" and e.epochs is None}
    pts = pareto_front([(c, e.val_error, float(e.params)) for c, e in full.items()])
    return [{"genotype": list(c), "arch": full[c].arch, "params": full[c].params, "val_error": full[c].val_error}
            for c, _, _ in pts]


def _read(store: RunStore) -> tuple[list, History]:
    """The store's evaluations and the replayed history, read once."""
    config = config_from_dict(store.config)
    evaluations = store.evaluations()
    return evaluations, replay(config.space, store.generations(), evaluations)


def build_summary(store: RunStore, read: tuple[list, History] | None = None) -> dict:
    evaluations, history = read or _read(store)
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
        "n_evaluations": len(history.evaluations),
        "n_trained": sum(1 for e in evaluations if e.status != "pruned"),
        "n_failed": sum(1 for e in evaluations if e.status == "failed"),
        "n_pruned": sum(1 for e in evaluations if e.status == "pruned"),
        "n_stopped": sum(1 for e in evaluations if e.status == "stopped"),
        "pareto_front": _front(evaluations),
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
    evaluations, history = read = _read(store)
    summary = build_summary(store, read)
    with rundir.atomic_path(run_dir / rundir.EVALUATIONS) as tmp, open(tmp, "w", encoding="utf-8") as f:
        for generation, e in history.evaluations:
            f.write(json.dumps({"generation": generation, **e.to_dict()}) + "\n")
    if history.records:
        plot_progression(history.records, run_dir / rundir.PROGRESSION_PNG)
    plot_pareto([(e.params, e.val_error) for e in evaluations if e.status == "ok" and e.epochs is None],
                summary["pareto_front"], summary["best"], run_dir / rundir.PARETO_PNG)
    final = summary["final"]
    if final:
        curves = [EpochStats(**h) for h in final["history"]]
        plot_curves(curves, final["test_nll"], final["test_error"], run_dir / rundir.CURVES_PNG)
    rundir.write_json(run_dir / rundir.SUMMARY, summary)
    return summary
