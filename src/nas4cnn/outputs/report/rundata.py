"""A run's data as the report reads it: the summary, the evaluation rows and the files beside them.

The rows are dicts as evaluations.jsonl holds them, one per request in request order. They
come from the run's store when the folder has one (so an interrupted run gets a report of what
it committed), else from summary.json and evaluations.jsonl. Rows of runs written before the
evaluation record had a status carry `failed` (None, or a reason) instead of `status` and
`reason`, and `epochs` None for the configured epochs: `status` and `networks` read both.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from pathlib import Path

from nas4cnn.core import rundir
from nas4cnn.core.errors import Nas4cnnError, RunDirError
from nas4cnn.core.layers import Layer, layers
from nas4cnn.core.space import SearchSpace
from nas4cnn.outputs.report.html import finite, get

log = logging.getLogger(__name__)

BASELINES_JSON = "baselines.json"  # written into the run folder by `nas4cnn baseline --run RUN_DIR`
BASELINES_PNG = "baselines.png"
STATUSES = ("ok", "failed", "pruned", "stopped")


def load(run_dir: Path) -> tuple[dict, list[dict]]:
    """The run's summary and its evaluation rows."""
    from nas4cnn.searching.store import FILENAME

    if not run_dir.is_dir():
        raise RunDirError(f"no run directory {str(run_dir)!r}")
    has_summary = (run_dir / rundir.SUMMARY).is_file()
    if (run_dir / FILENAME).is_file():
        try:
            return _from_store(run_dir)
        except Nas4cnnError as e:
            if not has_summary:
                raise
            log.warning("report: cannot read the run's store (%s); using %s", e, rundir.SUMMARY)
    if not has_summary:
        raise RunDirError(f"{str(run_dir)!r} is not a nas4cnn run directory "
                          f"(it has neither {rundir.SUMMARY} nor {FILENAME})")
    return rundir.read_summary(run_dir), _read_rows(run_dir / rundir.EVALUATIONS)


def _from_store(run_dir: Path) -> tuple[dict, list[dict]]:
    """The summary and rows that `rebuild` would write, read from the store alone."""
    from nas4cnn.outputs.summary import build_summary, read_run
    from nas4cnn.searching.store import RunStore

    store = RunStore.open(run_dir, "", write=False)
    try:
        read = read_run(store)
        summary = build_summary(store, read)
    finally:
        store.close()
    _, history = read
    return summary, [{"generation": g, **e.to_dict()} for g, e in history.evaluations]


def _read_rows(path: Path) -> list[dict]:
    rows: list[dict] = []
    if not path.is_file():
        return rows
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            row = None
        if isinstance(row, dict):
            rows.append(row)
        else:
            log.warning("report: skipping line %d of %s: not a JSON object", n, path)
    return rows


def status(row: dict) -> str:
    """A row's status: 'ok', 'failed', 'pruned' or 'stopped'. Rows written before the record
    had one carry `failed`: None (ok), or a reason whose first word was the status for a
    pruned or stopped network, any other reason being a failure."""
    if row.get("status") in STATUSES:
        return row["status"]
    reason = row.get("failed")
    if not reason:
        return "ok"
    first = str(reason).partition(" ")[0].rstrip(":")  # "pruned: its size penalty ...", "stopped after epoch ..."
    return first if first in ("pruned", "stopped") else "failed"


def class_names(run_dir: Path, summary: dict) -> list[str]:
    """The class names saved with the final model, else the class indices."""
    final = summary.get("final") or {}
    n = len(final.get("confusion_matrix") or []) or get(summary, "dataset", "num_classes") or 0
    model = run_dir / rundir.MODEL
    if model.is_file():
        from nas4cnn.nn.checkpoint import load_bundle

        try:
            names = list(load_bundle(model).class_names)
        except RunDirError as e:
            log.warning("report: no class names (%s); using class indices", e)
        else:
            if not n or len(names) == n:
                return names
            log.warning("report: %s has %d class names for %d classes; using class indices", model, len(names), n)
    return [str(i) for i in range(n)]


def networks(rows: Iterable[dict], summary: dict) -> list[dict]:
    """One row per network trained for the configured epochs and scored, best objective first.

    Genotypes that build the same network (`SearchSpace.canonical` of the run's space, read
    from summary["config"]) are one network, shown by the request that trained it (its
    genotype, name and generation). The chosen network (summary["best"], matched by canonical
    genotype) is marked `chosen` and comes first among equal objectives. Without a readable
    config, genotypes are compared as given and any epoch count is taken for the configured one.
    """
    space, full = _space(summary)
    chosen = _canonical(space, (summary.get("best") or {}).get("genotype"))
    first: dict[tuple, dict] = {}
    for r in rows:
        key = _canonical(space, r.get("genotype"))
        epochs = r.get("epochs")
        if key is None or status(r) != "ok" or not (epochs is None or full is None or epochs == full) \
                or not finite(r.get("objective")) or not finite(r.get("val_error")):
            continue
        first.setdefault(key, r | {"chosen": key == chosen})  # rows are in request order
    return sorted(first.values(), key=lambda r: (r["objective"], not r["chosen"], r["params"], str(r["arch"])))


def final_layers(summary: dict) -> list[Layer] | None:
    """The final model's architecture layer by layer (`core.layers`), from the summary's config,
    final genotype and data shape; None where any of them is missing or unreadable."""
    final, ds = summary.get("final") or {}, summary.get("dataset") or {}
    space, _ = _space(summary)
    g, shape, classes = final.get("genotype"), ds.get("input_shape"), ds.get("num_classes")
    if space is None or not isinstance(g, list) or not isinstance(shape, list) or not isinstance(classes, int):
        return None
    try:
        return layers(space.decode(g), tuple(shape), classes)
    except Nas4cnnError:
        return None


def _space(summary: dict) -> tuple[SearchSpace | None, int | None]:
    """The run's search space and configured epochs, from its summary's config."""
    from nas4cnn.core.config import config_from_dict

    config = summary.get("config")
    if not isinstance(config, dict):
        return None, None
    try:
        c = config_from_dict(config, "summary.json: config")
    except Nas4cnnError as e:
        log.warning("report: cannot read the run's config (%s); genotypes are compared as given", e)
        return None, None
    return c.space, c.train.epochs


def _canonical(space: SearchSpace | None, genotype) -> tuple | None:
    if not isinstance(genotype, (list, tuple)) or not all(isinstance(g, int) for g in genotype):
        return None
    if space is None:
        return tuple(genotype)
    try:
        return space.canonical(genotype)
    except Nas4cnnError:  # not a genotype of this space
        return tuple(genotype)


def baseline_rows(run_dir: Path) -> tuple[list[dict], dict]:
    """The rows and config of the run's baselines.json; nothing (with a warning) when it is
    missing or unreadable."""
    path = run_dir / BASELINES_JSON
    if not path.is_file():
        return [], {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        log.warning("report: cannot read %s (%s)", path, e)
        return [], {}
    rows = data.get("rows") if isinstance(data, dict) else None
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        log.warning("report: %s has no list of rows", path)
        return [], {}
    config = data.get("config")
    return rows, config if isinstance(config, dict) else {}


def baselines_chart(run_dir: Path) -> bytes:
    """The bytes of the run's baselines.png; empty (with a warning if it is there) when unreadable."""
    png = run_dir / BASELINES_PNG
    try:
        return png.read_bytes() if png.is_file() else b""
    except OSError as e:
        log.warning("report: cannot read %s (%s)", png, e.strerror or e)
        return b""
