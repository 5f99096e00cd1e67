"""nas4cnn: evolutionary architecture search for small CNN image classifiers."""

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
from nas4cnn.data.dataset import DataSet, load_dataset
from nas4cnn.nn.checkpoint import load_bundle, load_model

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
