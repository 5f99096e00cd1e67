"""Command line: `nas4cnn search | evaluate | train | space`. A thin layer over `nas4cnn.api`."""

from __future__ import annotations

import argparse
import json
import logging
import sys

from . import api
from .config import RunConfig, load_config
from .config import STRATEGIES as STRATEGY_NAMES
from .errors import ConfigError, Nas4cnnError
from .search import SearchFailed


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2, no usage dump
        self.exit(2, f"{self.prog}: error: {message}\n")


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", metavar="FILE", help="TOML file with [space], [train], [search], [data] settings")
    p.add_argument("--seed", type=int, help="run seed (default 0)")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"],
                   help="where to train (default auto: a CUDA GPU if PyTorch sees one, else the CPU)")
    p.add_argument("-v", "--verbose", action="store_true", help="log progress details")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="nas4cnn", description="Evolutionary architecture search for small CNN classifiers.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    s = sub.add_parser("search", help="search the space, train the winner, write a run directory")
    _common(s)
    s.add_argument("--generations", type=int, help="generations after the initial population (default 50)")
    s.add_argument("--population", type=int, help="population size mu = children per generation (default 20)")
    s.add_argument("--epochs", type=int, help="training epochs per candidate (default 8)")
    s.add_argument("--lambda", dest="lam", type=float, help="weight of the size penalty (default 0.01)")
    s.add_argument("--final-epochs", type=int, help="epochs to retrain the winner (default 40)")
    s.add_argument("--strategy", choices=list(STRATEGY_NAMES),
                   help="search strategy (default evolution, the seed's genetic algorithm)")
    s.add_argument("--keep-duplicates", action="store_true",
                   help="the seed's exact survivor rule: copies of a genotype may fill the population")
    s.add_argument("--out", metavar="DIR", help="run directory (default: a new folder under runs/)")
    s.add_argument("--resume", metavar="DIR", help="continue the interrupted run in DIR from what it committed")
    s.add_argument("--executor", default="local", choices=["local", "ray"],
                   help="where candidates train: this machine (default) or a Ray cluster")
    s.add_argument("--ray-address", metavar="ADDR", help="Ray cluster address (host:port) for --executor ray")
    s.add_argument("--quiet", action="store_true", help="no progress bars")

    s.add_argument("--workers", type=int, help="worker processes (default: one per core on a CPU, 1 on a GPU)")

    e = sub.add_parser("evaluate", help="train and score the given genotypes")
    _common(e)
    e.add_argument("--workers", type=int, help="worker processes (default: one per core on a CPU, 1 on a GPU)")
    e.add_argument("--genotype", action="append", required=True, metavar="G",
                   help="indices like 2,0,0,1,6 or a name like conv32k3-relu-maxpool2-fc70 (repeatable)")
    e.add_argument("--epochs", type=int, help="training epochs (default 8)")
    e.add_argument("--lambda", dest="lam", type=float, help="weight of the size penalty (default 0.01)")
    e.add_argument("--json", action="store_true", help="one JSON object a line")

    t = sub.add_parser("train", help="train one architecture from scratch and test it")
    _common(t)
    t.add_argument("--genotype", required=True, metavar="G", help="indices like 2,0,0,1,6 or a readable name")
    t.add_argument("--epochs", type=int, help="training epochs (default 40)")
    t.add_argument("--out", metavar="DIR", help="save the model, curves and metrics here")
    t.add_argument("--json", action="store_true", help="print the metrics as one JSON object")
    t.add_argument("--quiet", action="store_true", help="no progress bar")

    tb = sub.add_parser("tabulate", help="train every architecture of the space and store its learning curves")
    _common(tb)
    tb.add_argument("--epochs", type=int, help="epochs per architecture (default 8)")
    tb.add_argument("--seeds", type=int, default=3, help="seeds, from --seed on (default 3)")
    tb.add_argument("--out", metavar="FILE", default="table.json.gz", help="where to write (default table.json.gz)")
    tb.add_argument("--workers", type=int, help="worker processes (default: one per core on a CPU, 1 on a GPU)")
    tb.add_argument("--quiet", action="store_true", help="no progress bar")

    cp = sub.add_parser("compare", help="replay search strategies against a tabular benchmark")
    cp.add_argument("--table", metavar="FILE", help="table from `nas4cnn tabulate` (default: the shipped digits table)")
    cp.add_argument("--strategies", default=",".join(api.DEFAULT_COMPARE),
                    help="comma-separated; add -nocache to one to re-train repeats (default: %(default)s)")
    cp.add_argument("--repeats", type=int, default=100, help="searches per strategy (default 100)")
    cp.add_argument("--budget", type=int, help="architecture-epochs per search (default: the whole table)")
    cp.add_argument("--population", type=int, default=20, help="batch size / population (default 20)")
    cp.add_argument("--lambda", dest="lam", type=float, help="size penalty weight (default: the table's)")
    cp.add_argument("--out", metavar="DIR", help="write compare.md and compare.png here")
    cp.add_argument("--json", action="store_true", help="one JSON object a line per strategy")
    cp.add_argument("--quiet", action="store_true", help="no progress bar")

    rb = sub.add_parser("rebuild", help="rewrite a run's summary, evaluation list and plots from its store")
    rb.add_argument("run", metavar="DIR", help="run directory")

    sp = sub.add_parser("space", help="show the search space, its size and Nmax")
    sp.add_argument("--config", metavar="FILE", help="TOML file with a [space] section")
    sp.add_argument("--json", action="store_true", help="print as JSON")
    return parser


def _config(args: argparse.Namespace) -> RunConfig:
    config = load_config(args.config)
    config = config.override("search", seed=getattr(args, "seed", None), lam=getattr(args, "lam", None))
    if args.command == "search":
        config = config.override(
            "search",
            strategy=args.strategy,
            generations=args.generations,
            population=args.population,
            final_epochs=args.final_epochs,
            distinct_survivors=False if args.keep_duplicates else None,
        )
    if args.command in ("search", "evaluate", "tabulate"):
        config = config.override("train", epochs=args.epochs)
    return config


_SETTINGS = ("config", "seed", "generations", "population", "epochs", "lam", "final_epochs", "strategy")


def _cmd_search(args: argparse.Namespace) -> None:
    if args.resume and args.out:
        raise ConfigError("--resume and --out: give one of them; a resumed run stays in its own folder")
    given = any(getattr(args, k) is not None for k in _SETTINGS) or args.keep_duplicates
    config = _config(args) if (given or not args.resume) else None
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
        ("test error", f"{s['test_error']:.4f}"),
        ("test NLL", f"{s['test_nll']:.4f}"),
        ("evaluations", f"{s['n_evaluations']} requested, {s['n_trained']} trained, {s['n_failed']} failed, "
                        f"{s['n_pruned']} pruned"),
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
        print(json.dumps(m))
        return
    _table([(k.replace("_", " "), f"{v:.4f}" if isinstance(v, float) else str(v)) for k, v in m.items()])
    if args.out:
        print(f"saved to {args.out}")


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
                       population=args.population, lam=args.lam, out=args.out,
                       progress=not (args.quiet or args.json))
    if args.json:
        for r in rows:
            print(json.dumps(r))
        return
    print(api.compare_markdown(rows))


def _cmd_rebuild(args: argparse.Namespace) -> None:
    s = api.rebuild(args.run)
    print(f"rebuilt {args.run}: {s['n_generations']} generations, {s['n_trained']} networks, status {s['status']}")


def _cmd_space(args: argparse.Namespace) -> None:
    info = api.space_info(load_config(args.config))
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
    "tabulate": _cmd_tabulate,
    "compare": _cmd_compare,
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
