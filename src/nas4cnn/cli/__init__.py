"""Command line: `nas4cnn search | evaluate | train | space`. A thin layer over `nas4cnn.api`."""

from __future__ import annotations

import argparse
import json
import logging
import sys

from nas4cnn import api
from nas4cnn.core import rundir
from nas4cnn.core.config import RECIPES, SCALINGS, SCHEDULES, RunConfig, load_config
from nas4cnn.core.config import STRATEGIES as STRATEGY_NAMES
from nas4cnn.core.errors import ConfigError, Nas4cnnError
from nas4cnn.outputs.export import FORMATS as EXPORT_FORMATS
from nas4cnn.outputs.export import read_metadata
from nas4cnn.search.loop import SearchFailed


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2, no usage dump
        self.exit(2, f"{self.prog}: error: {message}\n")


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", metavar="FILE", help="TOML file with [space], [train], [search], [data] settings")
    p.add_argument("--seed", type=int, help="run seed (default 0)")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"],
                   help="where to train (default auto: a CUDA GPU if PyTorch sees one, else the CPU)")
    p.add_argument("-v", "--verbose", action="store_true", help="log progress details")


def _data_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("data set")
    g.add_argument("--dataset", metavar="NAME",
                   help="digits (default), mnist, fashion-mnist, kmnist, cifar10, folder:PATH (one sub-folder of "
                        "images per class) or npz:PATH (arrays x, y)")
    g.add_argument("--data-dir", metavar="DIR", help="folder with a named data set's files (default: a cache folder, "
                                                     "$NAS4CNN_DATA/NAME or ~/.cache/nas4cnn/NAME)")
    g.add_argument("--download", action="store_true", default=None,
                   help="fetch a named data set's missing files from the official source (checksum-verified)")
    g.add_argument("--val-fraction", type=float, metavar="F",
                   help="share of the training images held out for validation (default 0.1; not digits)")
    g.add_argument("--split-seed", type=int, metavar="S", help="seed of the stratified splits (default 0)")
    g.add_argument("--image-size", type=int, metavar="PX", help="folder:PATH images are resized to PX x PX "
                                                                 "(default 28)")
    g.add_argument("--channels", type=int, metavar="C", help="folder:PATH: 1 grey, 3 colour "
                                                              "(default: grey unless an image has colour)")


def _recipe_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("training recipe")
    g.add_argument("--recipe", choices=list(RECIPES),
                   help="defaults to start from: this tool's (default) or the seed's own (raw inputs, constant "
                        "Adamax 1e-3, no augmentation, 40 final epochs on the training split)")
    g.add_argument("--lr", type=float, help="base learning rate (default 0.01)")
    g.add_argument("--scaling", choices=list(SCALINGS), help="input scaling fitted on the training images "
                                                             "(default standardize)")
    g.add_argument("--schedule", choices=list(SCHEDULES), help="learning rate over training (default cosine)")
    g.add_argument("--aug-shift", type=float, metavar="PX", help="random shifts up to PX pixels (default 1; 0 = off)")
    g.add_argument("--aug-rotate", type=float, metavar="DEG", help="random rotations up to DEG degrees (default 10)")
    g.add_argument("--aug-scale", type=float, metavar="F", help="random scaling up to a fraction F (default 0.1)")


def _final_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("final model")
    g.add_argument("--repeats", type=int, metavar="K", help="train the final model with K seeds and report the "
                                                            "mean and spread of the test figures (default 1)")
    g.add_argument("--patience", type=int, metavar="N", help="stop when validation loss has not improved for N "
                                                              "epochs and keep the best weights (default 0 = off)")
    g.add_argument("--no-trainval", action="store_true", default=None,
                   help="do not retrain on training + validation images for the best number of epochs")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="nas4cnn", description="Evolutionary architecture search for small CNN classifiers.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    s = sub.add_parser("search", help="search the space, train the winner, write a run directory")
    _common(s)
    s.add_argument("--generations", type=int, help="generations after the initial population (default 50)")
    s.add_argument("--population", type=int, help="population size mu = children per generation (default 20)")
    s.add_argument("--epochs", type=int, help="training epochs per candidate (default 8)")
    s.add_argument("--lambda", dest="lam", type=float, help="weight of the size penalty (default 0.01)")
    s.add_argument("--final-epochs", type=int, help="most epochs to retrain the winner (default 100)")
    s.add_argument("--strategy", choices=list(STRATEGY_NAMES),
                   help="search strategy (default evolution, the seed's genetic algorithm)")
    s.add_argument("--early-stop", type=float, metavar="Q",
                   help="stop a candidate's training at 1/4, 1/2 or 3/4 of its epochs when its objective there is "
                        "worse than quantile Q of earlier candidates' (0.75 recommended; default 0: off)")
    s.add_argument("--keep-duplicates", action="store_true",
                   help="the seed's exact survivor rule: copies of a genotype may fill the population")
    s.add_argument("--out", metavar="DIR", help="run directory (default: a new folder under runs/)")
    s.add_argument("--resume", metavar="DIR", help="continue the interrupted run in DIR from what it committed")
    s.add_argument("--executor", default="local", choices=["local", "ray"],
                   help="where candidates train: this machine (default) or a Ray cluster")
    s.add_argument("--ray-address", metavar="ADDR", help="Ray cluster address (host:port) for --executor ray")
    s.add_argument("--quiet", action="store_true", help="no progress bars")

    s.add_argument("--workers", type=int, help="worker processes (default: one per core on a CPU, 1 on a GPU)")
    _data_flags(s)
    _recipe_flags(s)
    _final_flags(s)

    e = sub.add_parser("evaluate", help="train and score the given genotypes")
    _common(e)
    e.add_argument("--workers", type=int, help="worker processes (default: one per core on a CPU, 1 on a GPU)")
    e.add_argument("--genotype", action="append", required=True, metavar="G",
                   help="indices like 2,0,0,1,6 or a name like conv32k3-relu-maxpool2-fc70 (repeatable)")
    e.add_argument("--epochs", type=int, help="training epochs (default 8)")
    e.add_argument("--lambda", dest="lam", type=float, help="weight of the size penalty (default 0.01)")
    e.add_argument("--json", action="store_true", help="one JSON object a line")
    _data_flags(e)
    _recipe_flags(e)

    t = sub.add_parser("train", help="train one architecture from scratch and test it")
    _common(t)
    t.add_argument("--genotype", required=True, metavar="G", help="indices like 2,0,0,1,6 or a readable name")
    t.add_argument("--epochs", type=int, help="most training epochs (default 100; --recipe seed: 40)")
    t.add_argument("--out", metavar="DIR", help="save the model, curves and metrics here")
    t.add_argument("--json", action="store_true", help="print the metrics as one JSON object")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    _data_flags(t)
    _recipe_flags(t)
    _final_flags(t)

    tb = sub.add_parser("tabulate", help="train every architecture of the space and store its learning curves")
    _common(tb)
    tb.add_argument("--epochs", type=int, help="epochs per architecture (default 8)")
    tb.add_argument("--seeds", type=int, default=3, help="seeds, from --seed on (default 3)")
    tb.add_argument("--out", metavar="FILE", default="table.json.gz", help="where to write (default table.json.gz)")
    tb.add_argument("--workers", type=int, help="worker processes (default: one per core on a CPU, 1 on a GPU)")
    tb.add_argument("--quiet", action="store_true", help="no progress bar")
    _data_flags(tb)
    _recipe_flags(tb)

    cp = sub.add_parser("compare", help="replay search strategies against a tabular benchmark")
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

    rb = sub.add_parser("rebuild", help="rewrite a run's summary, evaluation list and plots from its store")
    rb.add_argument("run", metavar="DIR", help="run directory")

    rp = sub.add_parser("report", help="write a run's report: one HTML page with its plots, opens offline")
    rp.add_argument("run", metavar="RUN_DIR", help="run directory")
    rp.add_argument("--out", metavar="FILE", help="where to write (default RUN_DIR/report.html)")

    ex = sub.add_parser("export", help="write a run's model as one ONNX or TorchScript file (pixels -> probabilities)")
    ex.add_argument("run", metavar="RUN_DIR", help="run directory (or a `train --out` folder) holding model.pt")
    ex.add_argument("--format", required=True, choices=list(EXPORT_FORMATS), help="file format")
    ex.add_argument("--out", metavar="FILE",
                    help="where to write (default RUN_DIR/model.onnx or RUN_DIR/model.torchscript.pt)")
    ex.add_argument("-v", "--verbose", action="store_true", help="log progress details")

    pr = sub.add_parser("predict", help="classify image files (PNG, JPEG) or .npz arrays with a run's model")
    pr.add_argument("run", metavar="RUN_DIR", help="run directory (or a `train --out` folder) holding model.pt")
    pr.add_argument("inputs", nargs="+", metavar="INPUT", help="image files, or .npz files with an array x")
    pr.add_argument("--json", action="store_true", help="one JSON object a line")
    pr.add_argument("--top", type=int, metavar="K", help="also show the K most probable classes")
    pr.add_argument("-v", "--verbose", action="store_true", help="log progress details")

    bl = sub.add_parser("baseline", help="train the seed's comparison models with the same recipe; bar chart")
    _common(bl)
    _data_flags(bl)
    _recipe_flags(bl)
    _final_flags(bl)
    bl.add_argument("--run", metavar="DIR", help="use this run's settings and compare with its final model; "
                                                 "writes baselines.json and baselines.png there")
    bl.add_argument("--epochs", type=int, help="most epochs per model (default: the final model's, 100; "
                                               "with --run, the run's)")
    bl.add_argument("--out", metavar="DIR", help="write baselines.json and baselines.png here")
    bl.add_argument("--json", action="store_true", help="one JSON object a line per model")
    bl.add_argument("--quiet", action="store_true", help="no progress bar")

    sp = sub.add_parser("space", help="show the search space, its size and Nmax")
    sp.add_argument("--config", metavar="FILE", help="TOML file with [space] and [data] sections")
    sp.add_argument("--json", action="store_true", help="print as JSON")
    _data_flags(sp)
    return parser


def _config(args: argparse.Namespace, base: RunConfig | None = None) -> RunConfig:
    """The config the flags describe: the recipe's (or `base`, if given) with each given flag applied."""
    config = base or load_config(args.config, getattr(args, "recipe", None) or "default")
    config = config.override("search", seed=getattr(args, "seed", None), lam=getattr(args, "lam", None))
    if hasattr(args, "lr"):
        config = config.override("train", lr=args.lr, scaling=args.scaling, schedule=args.schedule,
                                 aug_shift=args.aug_shift, aug_rotate=args.aug_rotate, aug_scale=args.aug_scale)
    if hasattr(args, "repeats"):
        config = config.override("search", final_repeats=args.repeats, final_patience=args.patience,
                                 final_trainval=False if args.no_trainval else None)
    if args.command == "search":
        config = config.override(
            "search",
            strategy=args.strategy,
            generations=args.generations,
            population=args.population,
            final_epochs=args.final_epochs,
            distinct_survivors=False if args.keep_duplicates else None,
            early_stop=args.early_stop,
        )
    if args.command in ("search", "evaluate", "tabulate"):
        config = config.override("train", epochs=args.epochs)
    if hasattr(args, "dataset"):
        config = config.override(
            "data", dataset=args.dataset, data_dir=args.data_dir, download=args.download,
            val_fraction=args.val_fraction, split_seed=args.split_seed, image_size=args.image_size,
            channels=args.channels,
        )
    return config


_SETTINGS = ("config", "seed", "generations", "population", "epochs", "lam", "final_epochs", "strategy", "early_stop",
             "dataset", "data_dir", "download", "val_fraction", "split_seed", "image_size", "channels",
             "recipe", "lr", "scaling", "schedule", "aug_shift", "aug_rotate", "aug_scale", "repeats", "patience",
             "no_trainval")


def _cmd_search(args: argparse.Namespace) -> None:
    if args.resume and args.out:
        raise ConfigError("--resume and --out: give one of them; a resumed run stays in its own folder")
    given = any(getattr(args, k) is not None for k in _SETTINGS) or args.keep_duplicates
    config = None
    if not args.resume:
        config = _config(args)
    elif given:  # checked against the run's: flags on top of its own config, a recipe or file in full
        whole = args.config is not None or args.recipe is not None
        config = _config(args, None if whole else api.run_config(args.resume))
    try:
        run = api.search(config, out=args.out, resume=args.resume, device=args.device, workers=args.workers,
                         executor=args.executor, ray_address=args.ray_address, progress=not args.quiet)
    except api.Interrupted as e:
        print(f"nas4cnn search: interrupted; resume with: nas4cnn search --resume {e.path}", file=sys.stderr)
        raise SystemExit(130) from None
    s = run.summary
    rows = [
        ("best architecture", s["best"]["arch"]),
        ("genotype", ",".join(map(str, s["best"]["genotype"]))),
        ("parameters", f"{s['best']['params']:,}"),
        ("objective", f"{s['best']['objective']:.4f}"),
        ("validation error", f"{s['best']['val_error']:.4f}"),
        *_test_rows(s["final"]),
        ("evaluations", f"{s['n_evaluations']} requested, {s['n_trained']} trained, {s['n_failed']} failed, "
                        f"{s['n_pruned']} pruned" + (f", {s['n_stopped']} stopped early" if s.get("n_stopped") else
                                                     "")),
        ("time", f"{s['seconds']['search']:.1f} s search + {s['seconds']['final']:.1f} s final"),
        ("run directory", str(run.path)),
    ]
    _table(rows)
    if s["config"]["search"]["strategy"] == "nsga2":
        print("\nPareto front (validation error against parameters):")
        for f in s["pareto_front"]:
            print(f"  {f['arch']:<34} {f['params']:>8,} params  val error {f['val_error']:.4f}")


def _cmd_evaluate(args: argparse.Namespace) -> None:
    results = api.evaluate(args.genotype, _config(args), device=args.device, workers=args.workers)
    if args.json:
        for r in results:
            print(json.dumps(r.to_dict()))
        return
    print(f"{'architecture':<34} {'params':>8} {'val_error':>9} {'val_nll':>8} {'objective':>9}")
    for r in results:
        print(f"{r.arch:<34} {r.params:>8} {r.val_error:>9.4f} {r.val_nll:>8.4f} {r.objective:>9.4f}")


def _cmd_train(args: argparse.Namespace) -> None:
    result = api.train(
        args.genotype, _config(args), epochs=args.epochs, out=args.out, device=args.device,
        progress=not (args.quiet or args.json),
    )
    m = result.metrics()
    if args.json:
        print(json.dumps(rundir.json_safe(m)))
        return
    rows = [
        ("architecture", m["arch"]),
        ("genotype", ",".join(map(str, m["genotype"]))),
        ("parameters", f"{m['params']:,}"),
        ("epochs", _epochs_text(m)),
        *_test_rows(m),
        ("time", f"{m['seconds']:.1f} s"),
    ]
    if args.out:
        rows.append(("saved to", str(args.out)))
    _table(rows)


def _epochs_text(m: dict) -> str:
    text = f"{m['epochs']} on train, best {m['best_epoch']}"
    return text + (f", then {m['trainval_epochs']} on train + validation" if m["trainval_epochs"] else "")


def _test_rows(m: dict) -> list[tuple[str, str]]:
    if m["repeats"] == 1:
        return [("test error", f"{m['test_error']:.4f}"), ("test NLL", f"{m['test_nll']:.4f}")]
    k = m["repeats"]
    seeds = ", ".join(f"{r['test_error']:.4f}/{r['test_nll']:.4f}" for r in m["per_seed"])
    return [
        (f"test error ({k} seeds)", f"{m['test_error_mean']:.4f} ± {m['test_error_std']:.4f}"),
        (f"test NLL ({k} seeds)", f"{m['test_nll_mean']:.4f} ± {m['test_nll_std']:.4f}"),
        ("per seed error/NLL", seeds),
    ]


def _cmd_tabulate(args: argparse.Namespace) -> None:
    table = api.tabulate(_config(args), seeds=args.seeds, out=args.out, device=args.device, workers=args.workers,
                         progress=not args.quiet)
    obj = table.objective(table.config.search.lam).mean(0)
    best = int(obj.argmin())
    print(f"wrote {args.out}: {len(table.genotypes)} networks x {len(table.seeds)} seeds x {table.epochs} epochs; "
          f"best by mean objective {table.space.name(table.genotypes[best])} ({obj[best]:.4f})")


def _cmd_compare(args: argparse.Namespace) -> None:
    names = [n.strip() for n in args.strategies.split(",") if n.strip()]
    rows = api.compare(names, table=args.table, repeats=args.repeats, budget=args.budget,
                       population=args.population, lam=args.lam, early_stop=args.early_stop, out=args.out,
                       progress=not (args.quiet or args.json))
    if args.json:
        for r in rows:
            print(json.dumps(r))
        return
    print(api.compare_markdown(rows))


def _cmd_baseline(args: argparse.Namespace) -> None:
    given = any(getattr(args, k, None) is not None for k in _SETTINGS if k != "repeats")
    if args.run and given:
        raise ConfigError("--run: the baselines use the run's own settings (recipe, data, epochs); "
                          "give only --repeats, --out, --device, --json, --quiet")
    config = None if args.run else _config(args).override("search", final_epochs=args.epochs)
    rows = api.baseline(config, run=args.run, repeats=args.repeats, out=args.out, device=args.device,
                        progress=not (args.quiet or args.json))
    if args.json:
        for r in rows:
            print(json.dumps(rundir.json_safe(r)))
        return
    print(f"{'model':<44} {'params':>8} {'test error':>17} {'test NLL':>17} {'seed published':>15}")
    for r in rows:
        pub = f"{r['published_error']:.4f}/{r['published_nll']:.3f}" if "published_error" in r else ""
        print(f"{r['label'].replace(chr(10), ' '):<44} {r['params']:>8,} "
              f"{r['test_error_mean']:>8.4f} ± {r['test_error_std']:.4f} {r['test_nll_mean']:>8.4f} ± "
              f"{r['test_nll_std']:.4f} {pub:>15}")
    if args.out or args.run:
        print(f"wrote baselines.json and baselines.png to {args.out or args.run}")


def _cmd_rebuild(args: argparse.Namespace) -> None:
    s = api.rebuild(args.run)
    print(f"rebuilt {args.run}: {s['n_generations']} generations, {s['n_trained']} networks, status {s['status']}")


def _cmd_report(args: argparse.Namespace) -> None:
    print(f"wrote {api.report(args.run, args.out)}")


def _cmd_export(args: argparse.Namespace) -> None:
    path = api.export(args.run, args.format, out=args.out)
    m = read_metadata(path, args.format)
    names = m["class_names"]
    shown = ", ".join(names[:6]) + (", ..." if len(names) > 6 else "")
    print(f"wrote {path} ({args.format}, {path.stat().st_size / 1024:,.0f} KiB): float32 pixels N x "
          f"{' x '.join(map(str, m['input_shape']))} in 0..{m['pixel_max']:g} -> probabilities over "
          f"{len(names)} classes ({shown})")


def _cmd_predict(args: argparse.Namespace) -> None:
    if args.top is not None and args.top < 1:
        raise ConfigError(f"--top must be an integer >= 1; got {args.top}")
    preds = api.predict(args.run, args.inputs)
    if args.json:
        for p in preds:
            print(json.dumps(p.to_dict(top=args.top)))
        return
    width = max(len(p.input) for p in preds)
    cwidth = max(len(p.class_name) for p in preds)
    for p in preds:
        line = f"{p.input:<{width}}  {p.class_name:<{cwidth}}  {p.probability:.4f}"
        if args.top is not None:
            line += "  top: " + ", ".join(f"{n} {q:.4f}" for n, _, q in p.top(args.top))
        print(line.rstrip())


def _cmd_space(args: argparse.Namespace) -> None:
    info = api.space_info(_config(args))
    if args.json:
        print(json.dumps(info))
        return
    for gene, choices in info["genes"].items():
        print(f"{gene:<11} {', '.join(map(str, choices))}")
    print(f"size        {info['size']:,} architectures")
    shape = "x".join(map(str, info["input_shape"]))
    print(f"Nmax        {info['nmax']:,} parameters ({info['dataset']}: {shape} inputs, {info['num_classes']} classes)")


def _table(rows: list[tuple[str, str]]) -> None:
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"{k:<{width}}  {v}")


COMMANDS = {
    "search": _cmd_search,
    "evaluate": _cmd_evaluate,
    "train": _cmd_train,
    "space": _cmd_space,
    "rebuild": _cmd_rebuild,
    "baseline": _cmd_baseline,
    "report": _cmd_report,
    "tabulate": _cmd_tabulate,
    "compare": _cmd_compare,
    "export": _cmd_export,
    "predict": _cmd_predict,
}


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if getattr(args, "verbose", False) else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        COMMANDS[args.command](args)
    except SearchFailed as e:
        print(f"nas4cnn {args.command}: failed: {e}", file=sys.stderr)
        return 1
    except Nas4cnnError as e:
        print(f"nas4cnn {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"nas4cnn {args.command}: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
