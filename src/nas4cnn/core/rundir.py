"""The run directory: where a search writes its summary, evaluations, plots and model."""

from __future__ import annotations

import contextlib
import json
import math
import os
import time
from collections.abc import Iterator
from pathlib import Path

from nas4cnn.core.errors import RunDirError, option_prefix

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


@contextlib.contextmanager
def atomic_path(path: str | Path, what: str = "") -> Iterator[Path]:
    """A temporary path beside `path` to write to: when the block ends it replaces `path` in one
    step (readers see the old file or the whole new one), and if the block fails it is removed.
    A missing folder of `path` is made. A file-system error becomes one RunDirError naming
    `path` (after `what`, the option)."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        yield tmp
        os.replace(tmp, path)
    except OSError as e:
        raise RunDirError(f"{option_prefix(what)}cannot write {str(path)!r}: {e.strerror or e}") from None
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)


def check_writable(path: str | Path, what: str, folder: bool = False) -> Path:
    """Refuse, before any work, an output `path` (a file, or a `folder` made if missing) that
    cannot be written."""
    path = Path(path)
    if path.exists() and path.is_dir() != folder:
        raise RunDirError(f"{what}: expected {'a folder' if folder else 'a file name'}; "
                          f"{str(path)!r} is {'a file' if folder else 'a folder'}")
    if folder:
        existing = next(p for p in (path, *path.parents) if p.exists())
        if not existing.is_dir():
            raise RunDirError(f"{what}: cannot make the folder {str(path)!r}: {str(existing)!r} is a file")
    else:
        existing = path.parent
        if not existing.is_dir():
            raise RunDirError(f"{what}: the folder {str(existing)!r} does not exist")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise RunDirError(f"{what}: cannot write in {str(existing)!r} (no permission, or a read-only file system)")
    return path


def check_output_file(path: str | Path, what: str) -> Path:
    """Refuse, before any work, an output file that cannot be written; a missing folder is
    allowed (`atomic_path` makes it when the file is written)."""
    path = Path(path)
    check_writable(path.parent, what, folder=True)
    return check_writable(path, what) if path.parent.is_dir() else path


def json_safe(obj):
    """`obj` with every NaN or infinity (not measured, or diverged) as None, so that it is
    strict JSON that any parser reads."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    return obj


def write_json(path: str | Path, obj) -> None:
    """Write strict JSON atomically: readers see the old file or the whole new one, never half."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(json_safe(obj), indent=2, allow_nan=False) + "\n", encoding="utf-8")


def read_summary(run_dir: str | Path) -> dict:
    path = Path(run_dir) / SUMMARY
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RunDirError(f"run: no {SUMMARY} in {str(run_dir)!r}; is it a finished nas4cnn run?") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise RunDirError(f"run: cannot read {str(path)!r}: {e}") from None
    if not isinstance(summary, dict):
        raise RunDirError(f"run: {str(path)!r} is not a nas4cnn summary (expected a JSON object)")
    return summary
