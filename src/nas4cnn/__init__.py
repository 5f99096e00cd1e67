"""nas4cnn: evolutionary architecture search for small CNN image classifiers.

The public names below are imported on first use (PEP 562), so that `import nas4cnn` and the
command line's help answer without loading PyTorch; `from nas4cnn import search` works as usual.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

__version__ = "0.1.0"

# Each public name and the module that defines it.
_SOURCES = {
    "Interrupted": "nas4cnn.api",
    "Prediction": "nas4cnn.api",
    "Run": "nas4cnn.api",
    "baseline": "nas4cnn.api",
    "compare": "nas4cnn.api",
    "evaluate": "nas4cnn.api",
    "export": "nas4cnn.api",
    "load_run": "nas4cnn.api",
    "predict": "nas4cnn.api",
    "rebuild": "nas4cnn.api",
    "report": "nas4cnn.api",
    "search": "nas4cnn.api",
    "space_info": "nas4cnn.api",
    "tabulate": "nas4cnn.api",
    "train": "nas4cnn.api",
    "RunConfig": "nas4cnn.core.config",
    "load_config": "nas4cnn.core.config",
    "Nas4cnnError": "nas4cnn.core.errors",
    "SearchSpace": "nas4cnn.core.space",
    "DataSet": "nas4cnn.data.dataset",
    "load_dataset": "nas4cnn.data.load",
    "load_bundle": "nas4cnn.nn.checkpoint",
    "load_model": "nas4cnn.nn.checkpoint",
}

__all__ = [  # the names of _SOURCES
    "DataSet",
    "Interrupted",
    "Nas4cnnError",
    "Prediction",
    "Run",
    "RunConfig",
    "SearchSpace",
    "baseline",
    "compare",
    "evaluate",
    "export",
    "load_bundle",
    "load_config",
    "load_dataset",
    "load_model",
    "load_run",
    "predict",
    "rebuild",
    "report",
    "search",
    "space_info",
    "tabulate",
    "train",
]

if TYPE_CHECKING:  # what a type checker and an editor see: the same names, imported eagerly
    from nas4cnn.api import (
        Interrupted,
        Prediction,
        Run,
        baseline,
        compare,
        evaluate,
        export,
        load_run,
        predict,
        rebuild,
        report,
        search,
        space_info,
        tabulate,
        train,
    )
    from nas4cnn.core.config import RunConfig, load_config
    from nas4cnn.core.errors import Nas4cnnError
    from nas4cnn.core.space import SearchSpace
    from nas4cnn.data.dataset import DataSet
    from nas4cnn.data.load import load_dataset
    from nas4cnn.nn.checkpoint import load_bundle, load_model


def __getattr__(name: str):
    """A public name, imported from its module on first use and then kept here."""
    if name not in _SOURCES:
        raise AttributeError(f"module 'nas4cnn' has no attribute {name!r}")
    value = getattr(importlib.import_module(_SOURCES[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_SOURCES))
