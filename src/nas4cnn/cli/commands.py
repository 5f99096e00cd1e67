"""The commands that train, measure or read models: each a thin layer over `nas4cnn.api`.

Each command checks its flags first and then imports the API (and so PyTorch), so a bad
setting is refused at once. Each takes the parsed arguments and returns its exit status
(None: 0); a Nas4cnnError it raises is printed by `nas4cnn.cli.main` as one line.
"""

from __future__ import annotations

import argparse
import json
import sys

from nas4cnn.cli.flags import config_from_args, setting_value, settings_given
from nas4cnn.cli.output import epochs_text, spread, table, test_rows
from nas4cnn.core import rundir
from nas4cnn.core.errors import ConfigError
from nas4cnn.strategies import check_strategy


def search(args: argparse.Namespace) -> int | None:
    if args.resume and args.out:
        raise ConfigError("--resume and --out: give one of them; a resumed run stays in its own folder")
    config = None
    if not args.resume:
        config = config_from_args(args)
        check_strategy(config.search.strategy)  # before the API is loaded and the run directory made
    from nas4cnn import api
    from nas4cnn.searching.loop import SearchFailed

    if args.resume and settings_given(args):  # checked against the run's: flags on top of its own config,
        whole = args.config is not None or args.recipe is not None  # a recipe or a file in full
        config = config_from_args(args, None if whole else api.run_config(args.resume))
        check_strategy(config.search.strategy)
    try:
        run = api.search(config, out=args.out, resume=args.resume, device=args.device, workers=args.workers,
                         executor=args.executor, ray_address=args.ray_address, progress=not args.quiet)
    except api.Interrupted as e:
        print(f"nas4cnn search: interrupted; resume with: nas4cnn search --resume {e.path}", file=sys.stderr)
        return 130
    except SearchFailed as e:
        print(f"nas4cnn search: failed: {e}", file=sys.stderr)
        return 1
    s = run.summary
    stopped = f", {s['n_stopped']} stopped early" if s.get("n_stopped") else ""
    table([
        ("best architecture", s["best"]["arch"]),
        ("genotype", ",".join(map(str, s["best"]["genotype"]))),
        ("parameters", f"{s['best']['params']:,}"),
        ("objective", f"{s['best']['objective']:.4f}"),
        ("validation error", f"{s['best']['val_error']:.4f}"),
        *test_rows(s["final"]),
        ("evaluations", (f"{s['n_evaluations']} requested, {s['n_trained']} trained, {s['n_failed']} failed, "
                         f"{s['n_pruned']} pruned{stopped}")),
        ("time", f"{s['seconds']['search']:.1f} s search + {s['seconds']['final']:.1f} s final"),
        ("run directory", str(run.path)),
    ])
    if s["config"]["search"]["strategy"] == "nsga2":
        print("\nPareto front (validation error against parameters):")
        for f in s["pareto_front"]:
            print(f"  {f['arch']:<34} {f['params']:>8,} params  val error {f['val_error']:.4f}")
    return None


def evaluate(args: argparse.Namespace) -> None:
    config = config_from_args(args)
    from nas4cnn import api

    results = api.evaluate(args.genotype, config, device=args.device, workers=args.workers)
    if args.json:
        for r in results:
            print(json.dumps(r.to_dict()))
        return
    width = max(34, *(len(r.arch) for r in results))
    print(f"{'architecture':<{width}} {'params':>8} {'val_error':>9} {'val_nll':>8} {'objective':>9}")
    for r in results:
        line = f"{r.arch:<{width}} {r.params:>8} {r.val_error:>9.4f} {r.val_nll:>8.4f} {r.objective:>9.4f}"
        print(line if r.ok else f"{line}  {r.status}: {r.reason}")


def train(args: argparse.Namespace) -> None:
    config = config_from_args(args)
    from nas4cnn import api

    result = api.train(args.genotype, config, epochs=args.epochs, out=args.out, device=args.device,
                       progress=not (args.quiet or args.json))
    m = result.metrics()
    if args.json:
        print(json.dumps(rundir.json_safe(m)))
        return
    rows = [
        ("architecture", m["arch"]),
        ("genotype", ",".join(map(str, m["genotype"]))),
        ("parameters", f"{m['params']:,}"),
        ("epochs", epochs_text(m)),
        *test_rows(m),
        ("time", f"{m['seconds']:.1f} s"),
    ]
    if args.out:
        rows.append(("saved to", str(args.out)))
    table(rows)


def tabulate(args: argparse.Namespace) -> None:
    config = config_from_args(args)
    from nas4cnn import api

    t = api.tabulate(config, seeds=args.seeds, out=args.out, device=args.device,
                     workers=args.workers, progress=not args.quiet, sample=args.sample)
    obj = t.objective(t.config.search.lam).mean(0)
    best = int(obj.argmin())
    of = f" (a sample of the space's {t.space_networks:,})" if t.sampled else ""
    print(f"wrote {args.out}: {len(t.genotypes)} networks{of} x {len(t.seeds)} seeds x {t.epochs} epochs; "
          f"best by mean objective {t.space.name(t.genotypes[best])} ({obj[best]:.4f})")


def compare(args: argparse.Namespace) -> None:
    from nas4cnn import api

    names = [n.strip() for n in args.strategies.split(",") if n.strip()]
    rows = api.compare(names, table=args.table, repeats=args.repeats, budget=args.budget,
                       population=args.population, lam=args.lam, early_stop=args.early_stop, out=args.out,
                       progress=not (args.quiet or args.json))
    if args.json:
        for r in rows:
            print(json.dumps(r))
        return
    print(api.compare_markdown(rows))


def baseline(args: argparse.Namespace) -> None:
    if args.run and (settings_given(args, leave_out=["search.final_repeats"]) or args.epochs is not None):
        raise ConfigError("--run: the baselines use the run's own settings (recipe, data, epochs); "
                          "give only --repeats, --out, --device, --json, --quiet")
    repeats = setting_value(args, "search.final_repeats")
    config = None if args.run else config_from_args(args).override("search", final_epochs=args.epochs)
    from nas4cnn import api

    rows = api.baseline(config, run=args.run, repeats=repeats, out=args.out, device=args.device,
                        progress=not (args.quiet or args.json))
    if args.json:
        for r in rows:
            print(json.dumps(rundir.json_safe(r)))
        return
    print(f"{'model':<44} {'params':>8} {'test error':>17} {'test NLL':>17} {'seed published':>15}")
    for r in rows:
        pub = f"{r['published_error']:.4f}/{r['published_nll']:.3f}" if "published_error" in r else ""
        error = spread(r["test_error_mean"], r["test_error_std"], r["repeats"])
        nll = spread(r["test_nll_mean"], r["test_nll_std"], r["repeats"])
        print(f"{r['label'].replace(chr(10), ' '):<44} {r['params']:>8,} {error:>17} {nll:>17} {pub:>15}")
    if args.out or args.run:
        print(f"wrote baselines.json and baselines.png to {args.out or args.run}")


def rebuild(args: argparse.Namespace) -> None:
    from nas4cnn import api

    s = api.rebuild(args.run)
    print(f"rebuilt {args.run}: {s['n_generations']} generations, {s['n_trained']} networks, status {s['status']}")


def report(args: argparse.Namespace) -> None:
    from nas4cnn import api

    print(f"wrote {api.report(args.run, args.out)}")


def export(args: argparse.Namespace) -> None:
    from nas4cnn import api
    from nas4cnn.outputs.export import read_metadata

    path = api.export(args.run, args.format, out=args.out)
    m = read_metadata(path, args.format)
    names = m["class_names"]
    shown = ", ".join(names[:6]) + (", ..." if len(names) > 6 else "")
    print(f"wrote {path} ({args.format}, {path.stat().st_size / 1024:,.0f} KiB): float32 pixels N x "
          f"{' x '.join(map(str, m['input_shape']))} in 0..{m['pixel_max']:g} -> probabilities over "
          f"{len(names)} classes ({shown})")


def predict(args: argparse.Namespace) -> None:
    if args.top is not None and args.top < 1:
        raise ConfigError(f"--top must be an integer >= 1; got {args.top}")
    from nas4cnn import api

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


COMMANDS = {
    "search": search,
    "evaluate": evaluate,
    "train": train,
    "rebuild": rebuild,
    "baseline": baseline,
    "report": report,
    "tabulate": tabulate,
    "compare": compare,
    "export": export,
    "predict": predict,
}
