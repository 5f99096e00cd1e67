"""The run directory: where a search writes its summary, evaluations, plots and model."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from .errors import RunDirError

SUMMARY = "summary.json"
EVALUATIONS = "evaluations.jsonl"
PROGRESSION_PNG = "objective.png"
CURVES_PNG = "final_curves.png"
PARETO_PNG = "pareto.png"
MODEL = "model.pt"


def choose_run_dir(out: str | Path | None, seed: int, root: str | Path = "runs") -> Path:
    """The folder a new run will write to; refuses one that already holds a run. Creates nothing."""
    if out is None:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        base = Path(root) / f"{stamp}-seed{seed}"
        path, k = base, 1
        while path.exists():
            k += 1
            path = base.with_name(f"{base.name}-{k}")
        return path
    path = Path(out)
    if path.exists() and not path.is_dir():
        raise RunDirError(f"--out: expected a folder for the run; got the file {str(path)!r}")
    if path.is_dir() and any((path / name).exists() for name in (SUMMARY, EVALUATIONS, MODEL, "run.db")):
        raise RunDirError(f"--out: {str(path)!r} already holds a run; choose a new folder")
    return path


def make_run_dir(path: Path) -> Path:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise RunDirError(f"--out: cannot create {str(path)!r}: {e.strerror}") from None
    return path


def write_json(path: str | Path, obj) -> None:
    """Write JSON atomically: readers see the old file or the whole new one, never half."""
    path = Path(path)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def read_summary(run_dir: str | Path) -> dict:
    path = Path(run_dir) / SUMMARY
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RunDirError(f"run: no {SUMMARY} in {str(run_dir)!r}; is it a finished nas4cnn run?") from None
    except (OSError, json.JSONDecodeError) as e:
        raise RunDirError(f"run: cannot read {str(path)!r}: {e}") from None
