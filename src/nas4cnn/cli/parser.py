"""The command line's parser: each command and its options.

Settings' flags come from their declarations (`flags.add_settings`); the options here are the
commands' own (where to write, how many workers, what to print). Building the parser imports
neither PyTorch nor NumPy, so help and argument errors answer at once.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable

from nas4cnn import __version__
from nas4cnn.cli.flags import add_settings, help_text, recipe_help
from nas4cnn.core.config import RECIPES, SETTINGS

DATA = ("data.dataset", "data.data_dir", "data.download", "data.val_fraction", "data.split_seed", "data.image_size",
        "data.channels")
RECIPE = ("train.lr", "train.batch_size", "train.scaling", "train.schedule", "train.augment", "train.aug_shift",
          "train.aug_rotate", "train.aug_scale", "train.aug_flip")
FINAL = ("search.final_repeats", "search.final_patience", "search.final_trainval")
SEARCH = ("search.generations", "search.population", "train.epochs", "search.lam", "search.final_epochs",
          "search.strategy", "search.early_stop", "search.distinct_survivors", "search.budget", "search.subset",
          "search.val_subset", "search.shortlist")
DEVICES = ("auto", "cpu", "cuda")
EXECUTORS = ("local", "ray")
WORKERS_HELP = "worker processes (default: one per core on a CPU, 1 on a GPU)"


class _Parser(argparse.ArgumentParser):
    """One line and exit status 2 for a usage error; long options are never abbreviated."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, allow_abbrev=False, **kwargs)

    def error(self, message: str) -> None:  # one line, exit 2, no usage dump
        self.exit(2, f"{self.prog}: error: {message}\n")


SPACE_HELP = ("the search space: seed (the seed's one-convolution space, the default), compact (2-4 conv blocks "
              "under 100,000 parameters) or a .toml file describing one (see the README)")


def _space_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--space", metavar="NAME|FILE", help=SPACE_HELP)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", metavar="FILE", help="TOML file with [space], [train], [search], [data] settings")
    _space_flag(p)
    add_settings(p, ["search.seed"])
    p.add_argument("--device", default="auto", choices=DEVICES,
                   help="where to train (default auto: a CUDA GPU if PyTorch sees one, else the CPU)")
    p.add_argument("-v", "--verbose", action="store_true", help="log progress details")


def _recipe(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("training recipe")
    g.add_argument("--recipe", choices=RECIPES, help=recipe_help())
    add_settings(g, RECIPE)


def _search(s: argparse.ArgumentParser) -> None:
    _common(s)
    add_settings(s, SEARCH)
    s.add_argument("--out", metavar="DIR", help="run directory (default: a new folder under runs/)")
    s.add_argument("--resume", metavar="DIR", help="continue the interrupted run in DIR from what it committed")
    s.add_argument("--executor", default="local", choices=EXECUTORS,
                   help="where candidates train: this machine (default) or a Ray cluster")
    s.add_argument("--ray-address", metavar="ADDR", help="Ray cluster address (host:port) for --executor ray")
    s.add_argument("--quiet", action="store_true", help="no progress bars and no notices")
    s.add_argument("--workers", type=int, help=WORKERS_HELP)
    add_settings(s.add_argument_group("data set"), DATA)
    _recipe(s)
    add_settings(s.add_argument_group("final model"), FINAL)


def _evaluate(e: argparse.ArgumentParser) -> None:
    _common(e)
    e.add_argument("--workers", type=int, help=WORKERS_HELP)
    e.add_argument("--genotype", action="append", required=True, metavar="G",
                   help="indices like 2,0,0,1,6 or a name like conv32k3-relu-maxpool2-fc70 (repeatable)")
    add_settings(e, ["train.epochs", "search.lam", "search.subset", "search.val_subset"],
                 helps={"train.epochs": "training epochs"})
    e.add_argument("--json", action="store_true", help="one JSON object a line")
    add_settings(e.add_argument_group("data set"), DATA)
    _recipe(e)


def _train(t: argparse.ArgumentParser) -> None:
    _common(t)
    t.add_argument("--genotype", required=True, metavar="G", help="indices like 2,0,0,1,6 or a readable name")
    # the final training's epochs, checked by the API as --epochs
    t.add_argument("--epochs", type=int, help=help_text(SETTINGS["search.final_epochs"], "most training epochs"))
    t.add_argument("--out", metavar="DIR", help="save the model, curves and metrics here")
    t.add_argument("--json", action="store_true", help="print the metrics as one JSON object")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    add_settings(t.add_argument_group("data set"), DATA)
    _recipe(t)
    add_settings(t.add_argument_group("final model"), FINAL)


def _tabulate(tb: argparse.ArgumentParser) -> None:
    _common(tb)
    add_settings(tb, ["train.epochs"], helps={"train.epochs": "epochs per architecture"})
    tb.add_argument("--seeds", type=int, default=3, help="seeds, from --seed on (default 3)")
    tb.add_argument("--sample", type=int, metavar="N",
                    help="tabulate N networks drawn at random (with --seed) instead of all: for a space too large "
                         "to train whole; compare then scores a network outside the sample as its nearest one")
    tb.add_argument("--out", metavar="FILE", default="table.json.gz", help="where to write (default table.json.gz)")
    tb.add_argument("--workers", type=int, help=WORKERS_HELP)
    tb.add_argument("--quiet", action="store_true", help="no progress bar")
    add_settings(tb.add_argument_group("data set"), DATA)
    _recipe(tb)


def _compare(cp: argparse.ArgumentParser) -> None:
    from nas4cnn import (
        api,  # the default strategies; this command needs the API (PyTorch) anyway
    )

    cp.add_argument("--table", metavar="FILE", help="table from `nas4cnn tabulate` (default: the shipped digits table)")
    cp.add_argument("--strategies", default=",".join(api.DEFAULT_COMPARE),
                    help="comma-separated; add -nocache to one to re-train repeats, @P to run it with population P "
                         "(default: %(default)s)")
    cp.add_argument("--repeats", type=int, default=100, help="searches per strategy (default 100)")
    cp.add_argument("--budget", type=int, help="architecture-epochs per search: it asks for no new batch once it "
                                               "has trained this many, so its last batch may end past it "
                                               "(default: the whole table)")
    cp.add_argument("--population", type=int, default=20, help="batch size / population (default 20)")
    cp.add_argument("--lambda", dest="lam", type=float, help="size penalty weight (default: the table's)")
    cp.add_argument("--early-stop", type=float, metavar="Q",
                    help="replay with early stopping of trainings worse than quantile Q at the checkpoints")
    cp.add_argument("--out", metavar="DIR", help="write compare.md and compare.png here")
    cp.add_argument("--json", action="store_true", help="one JSON object a line per strategy")
    cp.add_argument("--quiet", action="store_true", help="no progress bar")


def _rebuild(rb: argparse.ArgumentParser) -> None:
    rb.add_argument("run", metavar="DIR", help="run directory")


def _report(rp: argparse.ArgumentParser) -> None:
    rp.add_argument("run", metavar="RUN_DIR", help="run directory")
    rp.add_argument("--out", metavar="FILE", help="where to write (default RUN_DIR/report.html)")


def _export(ex: argparse.ArgumentParser) -> None:
    from nas4cnn.outputs.export import FORMATS  # this command needs PyTorch anyway

    ex.add_argument("run", metavar="RUN_DIR", help="run directory (or a `train --out` folder) holding model.pt")
    ex.add_argument("--format", required=True, choices=FORMATS, help="file format")
    ex.add_argument("--out", metavar="FILE",
                    help="where to write (default RUN_DIR/model.onnx or RUN_DIR/model.torchscript.pt)")
    ex.add_argument("-v", "--verbose", action="store_true", help="log progress details")


def _predict(pr: argparse.ArgumentParser) -> None:
    pr.add_argument("run", metavar="RUN_DIR", help="run directory (or a `train --out` folder) holding model.pt")
    pr.add_argument("inputs", nargs="+", metavar="INPUT", help="image files, or .npz files with an array x")
    pr.add_argument("--json", action="store_true", help="one JSON object a line")
    pr.add_argument("--top", type=int, metavar="K", help="also show the K most probable classes")
    pr.add_argument("-v", "--verbose", action="store_true", help="log progress details")


def _baseline(bl: argparse.ArgumentParser) -> None:
    _common(bl)
    add_settings(bl.add_argument_group("data set"), DATA)
    _recipe(bl)
    add_settings(bl.add_argument_group("final model"), FINAL)
    bl.add_argument("--run", metavar="DIR", help="use this run's settings and compare with its final model; "
                                                 "writes baselines.json and baselines.png there")
    bl.add_argument("--epochs", type=int, help=help_text(SETTINGS["search.final_epochs"],
                                                         "most epochs per model: the final model's; with --run, "
                                                         "the run's"))
    bl.add_argument("--out", metavar="DIR", help="write baselines.json and baselines.png here")
    bl.add_argument("--json", action="store_true", help="one JSON object a line per model")
    bl.add_argument("--quiet", action="store_true", help="no progress bar")


def _space(sp: argparse.ArgumentParser) -> None:
    sp.add_argument("--config", metavar="FILE", help="TOML file with [space] and [data] sections")
    _space_flag(sp)
    sp.add_argument("--json", action="store_true", help="print as JSON")
    add_settings(sp.add_argument_group("data set"), DATA)


# Each command: its one-line help and what adds its options.
COMMANDS = {
    "search": ("search the space, train the winner, write a run directory", _search),
    "evaluate": ("train and score the given genotypes", _evaluate),
    "train": ("train one architecture from scratch and test it", _train),
    "tabulate": ("train every architecture of the space and store its learning curves", _tabulate),
    "compare": ("replay search strategies against a tabular benchmark", _compare),
    "rebuild": ("rewrite a run's summary, evaluation list and plots from its store", _rebuild),
    "report": ("write a run's report: one HTML page with its plots, opens offline", _report),
    "export": ("write a run's model as one ONNX or TorchScript file (pixels -> probabilities)", _export),
    "predict": ("classify image files (PNG, JPEG) or .npz arrays with a run's model", _predict),
    "baseline": ("train the original project's comparison models with the same recipe; bar chart", _baseline),
    "space": ("show the search space, its size and Nmax", _space),
}


def command_in(argv: list[str]) -> str | None:
    """The command `argv` names: its first word that is not an option (the top level's options
    take no value), or None."""
    return next((a for a in argv if not a.startswith("-")), None)


def build_parser(commands: Iterable[str] | None = None) -> argparse.ArgumentParser:
    """The command line: every command with its options, or, with `commands`, only those
    commands' options (the others are listed with their one-line help): a command's options
    may import what it needs (the API, for `compare`'s default strategies), and the others do
    not wait for that."""
    parser = _Parser(prog="nas4cnn", description="Evolutionary architecture search for small CNN classifiers.")
    parser.add_argument("--version", action="version", version=f"nas4cnn {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    chosen = set(COMMANDS if commands is None else commands)
    for name, (help, add_options) in COMMANDS.items():
        p = sub.add_parser(name, help=help, description=help)
        if name in chosen:
            add_options(p)
    return parser
