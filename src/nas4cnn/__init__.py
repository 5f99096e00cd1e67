"""nas4cnn: evolutionary architecture search for small CNN image classifiers."""

from .api import (
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
from .checkpoint import load_bundle, load_model
from .config import RunConfig, load_config
from .data import DataSet, load_dataset
from .errors import Nas4cnnError
from .space import SearchSpace

__version__ = "0.1.0"

__all__ = [
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
    "load_config",
    "load_bundle",
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
