"""The Python API; the command line is a thin layer over these functions.

One module per idea: `preparation` (the checks every call makes first), `search_runs` (a search, new or
resumed, and its final model), `training` (training outside a search), `tables` (tabulate
and compare), `runs` (run directories)."""

from nas4cnn.api.preparation import prepare, resolve_genotype
from nas4cnn.api.runs import rebuild, run_config, space_info
from nas4cnn.api.search_runs import Interrupted, Run, load_run, resume_search, search
from nas4cnn.api.tables import DEFAULT_COMPARE, compare, compare_markdown, tabulate
from nas4cnn.api.training import baseline, evaluate, train
from nas4cnn.outputs.export import export
from nas4cnn.outputs.predict import Prediction, predict
from nas4cnn.outputs.report import report

__all__ = [
    "DEFAULT_COMPARE",
    "Interrupted",
    "Prediction",
    "Run",
    "baseline",
    "compare",
    "compare_markdown",
    "evaluate",
    "export",
    "load_run",
    "predict",
    "prepare",
    "rebuild",
    "report",
    "resolve_genotype",
    "resume_search",
    "run_config",
    "search",
    "space_info",
    "tabulate",
    "train",
]
