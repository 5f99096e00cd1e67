"""The report's sections, each an HTML fragment built from the run's summary and rows."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import fields
from pathlib import Path
from types import SimpleNamespace

from nas4cnn.nn.train import EpochStats
from nas4cnn.outputs.plots import (
    plot_bars,
    plot_confusion,
    plot_curves,
    plot_pareto,
    plot_progression,
)
from nas4cnn.outputs.report.html import (
    PNG_MAGIC,
    escape,
    figure,
    finite,
    genotype,
    get,
    integer,
    kv_table,
    num,
    png_figure,
    secs,
    table,
    value,
)
from nas4cnn.outputs.report.rundata import (
    BASELINES_JSON,
    BASELINES_PNG,
    baseline_rows,
    baselines_chart,
    status,
)

log = logging.getLogger(__name__)

TOP = 10


def overview(summary: dict, run_dir: Path | None) -> str:
    best, final = summary.get("best") or {}, summary.get("final") or {}
    ds = summary.get("dataset") or {}
    shape = "×".join(map(str, ds.get("input_shape") or [])) or "?"
    sizes = ds.get("sizes") or {}
    items = [
        ("chosen architecture" if final else "best architecture so far", best.get("arch", "—")),
        *([("final architecture (shortlist)", final.get("arch", "—"))]
          if final and final.get("arch") != best.get("arch") else []),
        ("genotype", genotype(best.get("genotype"))),
        ("parameters", integer(best.get("params"))),
        ("objective", num(best.get("objective"))),
        ("validation error (search)", num(best.get("val_error"))),
        ("test error", _test(final, "test_error")),
        ("test NLL", _test(final, "test_nll")),
        ("data set", f"{ds.get('name', '?')}: {shape} images, {ds.get('num_classes', '?')} classes, "
                     + ", ".join(f"{k} {integer(v)}" for k, v in sizes.items())),
        ("Nmax", integer(summary.get("nmax"))),
        ("status", summary.get("status") or "—"),
    ]
    if run_dir is not None:
        items.append(("run directory", str(run_dir.resolve())))
    return kv_table(items, cls="overview")


def config_tables(summary: dict) -> str:
    """One small table per config section, side by side."""
    config = summary.get("config") or {}
    groups: list[tuple[str, list[tuple[str, str]]]] = []
    for name, values in config.items():
        if isinstance(values, dict):
            groups.append((name, [(k, value(v)) for k, v in values.items()]))
        else:
            groups.append(("other", [(name, value(values))]))
    run = [(f"{k}", value(v)) for k, v in (summary.get("execution") or {}).items()]
    run += [(f"{k} version", value(v)) for k, v in (summary.get("versions") or {}).items()]
    if summary.get("config_hash"):
        run.append(("config hash", summary["config_hash"]))
    if run:
        groups.append(("execution", run))
    return '<div class="cols">' + "".join(kv_table(items, cls="config", caption=f"[{name}]")
                                          for name, items in groups) + "</div>"


def progression(summary: dict) -> str:
    g, loc = summary.get("global_best") or [], summary.get("local_best") or []
    if not g:
        return '<p class="note">No generation finished yet.</p>'
    inf = float("inf")
    records = [SimpleNamespace(generation=i, global_best=inf if a is None else a, local_best=inf if b is None else b)
               for i, (a, b) in enumerate(zip(g, loc))]
    finite_bests = [(i, a) for i, a in enumerate(g) if a is not None]
    text = ""
    if finite_bests:
        first = next(i for i, a in finite_bests if a == finite_bests[-1][1])
        text = (f"<p>{len(g)} generations (the initial population is generation 0); best objective "
                f"{escape(num(finite_bests[-1][1]))}, first reached in generation {first}.</p>")
    values = table(("generation", "global best", "local best"),
                   [(str(i), num(a), num(b)) for i, (a, b) in enumerate(zip(g, loc))], num=(0, 1, 2))
    return (text + figure(plot_progression, (records,), "Global and local best objective per generation")
            + f"<details><summary>Values per generation</summary>{values}</details>")


def scatter(summary: dict, nets: list[dict]) -> str:
    """`nets`: one row per network trained for the configured epochs (see `rundata.networks`)."""
    if not nets:
        return '<p class="note">No network has been trained yet.</p>'
    front, best = summary.get("pareto_front") or [], summary.get("best")
    count = f"{integer(len(nets))} networks trained for the configured epochs"
    trained = summary.get("n_trained")
    if isinstance(trained, int) and trained != len(nets):
        count += f" and scored, of {integer(trained)} trained in all"
    text = (f"<p>{count} (genotypes that build the same network count once); {len(front)} on the Pareto "
            "front (no other network is both smaller and more accurate); the star is the chosen one, the best "
            "by objective (validation error + λ·parameters/Nmax).</p>")
    points = [(r["params"], r["val_error"]) for r in nets]
    return text + figure(plot_pareto, (points, front, best),
                         "Validation error against parameters (log scale) for every evaluated architecture")


def top(nets: list[dict]) -> str:
    """The best networks by objective, the chosen one starred."""
    if not nets:
        return '<p class="note">No network has been trained yet.</p>'
    rows = [(str(k), r["arch"] + (" ★" if r["chosen"] else ""), genotype(r.get("genotype")),
             integer(r["params"]), num(r["val_error"]), num(r.get("val_nll")), num(r["objective"]),
             str(r.get("generation", "—")))
            for k, r in enumerate(nets[:TOP], 1)]
    return table(("rank", "architecture", "genotype", "parameters", "val error", "val NLL", "objective",
                  "generation"), rows, num=(0, 3, 4, 5, 6, 7), cls="top")


def shortlist(listed: dict) -> str:
    """The search's best networks trained again on all the data; the final model's starred."""
    on = listed.get("ranked_on") or {}
    winner = tuple((listed.get("winner") or {}).get("genotype") or ())
    rows = [(str(k), n["arch"] + (" ★" if tuple(n["genotype"]) == winner else ""), genotype(n.get("genotype")),
             integer(n["params"]), num(n.get("val_error")), num(n.get("val_nll")), num(n.get("objective")),
             secs(n.get("seconds")))
            for k, n in enumerate(listed.get("networks") or [], 1)]
    text = (f'<p>The search\'s {len(rows)} best networks, trained again for {listed.get("epochs")} epochs on all '
            f'{integer(on.get("train"))} training images and ranked on all {integer(on.get("val"))} validation '
            'images; the best (★) is the final model\'s architecture.</p>')
    return text + table(("rank", "architecture", "genotype", "parameters", "val error", "val NLL", "objective",
                         "seconds"), rows, num=(0, 3, 4, 5, 6, 7), cls="top")


def layer_table(listed) -> str:
    """The final model's layers (`core.layers.Layer`), with output shapes and parameters."""
    rows = [(str(k), layer.name, "×".join(map(str, layer.shape)), integer(layer.params))
            for k, layer in enumerate(listed, 1)]
    rows.append(("", "total", "", integer(sum(layer.params for layer in listed))))
    return "<h3>Layers</h3>" + table(("#", "layer", "output (one image)", "parameters"), rows, num=(0, 3),
                                     cls="layers")


def final_model(final: dict, names: Sequence[str], listed=None) -> str:
    parts = []
    best_epoch = final.get("best_epoch")
    at = f"epoch {best_epoch}, kept" if isinstance(best_epoch, int) else "last epoch"
    items = [
        ("architecture", final.get("arch", "—")),
        ("genotype", genotype(final.get("genotype"))),
        ("parameters", integer(final.get("params"))),
        ("epochs", value(final.get("epochs"))),
    ]
    if isinstance(best_epoch, int):
        items.append(("best validation epoch", str(best_epoch)))
    if final.get("trainval_epochs"):
        items.append(("retrained on train + validation", f"{final['trainval_epochs']} epochs"))
    items += [
        (f"validation error ({at})", num(final.get("val_error"))),
        (f"validation NLL ({at})", num(final.get("val_nll"))),
        ("test error", num(final.get("test_error"))),
        ("test NLL", num(final.get("test_nll"))),
    ]
    seeds = _per_seed(final)
    if _has_repeats(final):
        count = _n_seeds(final)
        n = f" over {count} seeds" if count else ""
        items += [(f"test error, mean ± std{n}", _pm(final, "test_error")),
                  (f"test NLL, mean ± std{n}", _pm(final, "test_nll"))]
    items.append(("training time", secs(final.get("seconds"))))
    parts.append(kv_table(items, cls="metrics"))
    if listed:
        parts.append(layer_table(listed))
    if len(seeds) > 1:
        parts.append("<h3>Per-seed results</h3>" + _repeats_table(seeds))
    history = final.get("history") or []
    if history and final.get("test_error") is not None:
        keys = {f.name for f in fields(EpochStats)}
        curves = [EpochStats(**{k: v for k, v in h.items() if k in keys}) for h in history]
        caption = "Learning curves: loss and error per epoch on the training split, test marked"
        if final.get("trainval_epochs"):
            caption += (f"; the model tested was then retrained on train + validation for {final['trainval_epochs']} "
                        "epochs")
        parts.append(figure(plot_curves, (curves, final["test_nll"], final["test_error"]), caption))
    matrix = final.get("confusion_matrix")
    if matrix:
        correct = sum(matrix[i][i] for i in range(len(matrix)))
        total = sum(map(sum, matrix))
        parts.append(f"<p>Test split: {correct:,} of {total:,} images classified correctly. "
                     "Rows are the true class, columns the predicted one.</p>")
        parts.append(figure(plot_confusion, (matrix, list(names)), "Confusion matrix on the test split"))
    return "\n".join(parts)


def baselines(run_dir: Path) -> str:
    """The seed's comparison models (`nas4cnn baseline --run`): their bar chart and a table of their rows."""
    parts = []
    rows, config = baseline_rows(run_dir)
    if rows:
        search = get(config, "search") or {}
        recipe = ", ".join(x for x in (
            f"{search['final_epochs']} epoch{'s' if search['final_epochs'] != 1 else ''}"
            if isinstance(search.get("final_epochs"), int) else "",
            f"{search['final_repeats']} seed{'s' if search['final_repeats'] != 1 else ''} each"
            if isinstance(search.get("final_repeats"), int) else "",
        ) if x)
        parts.append("<p>" + escape("The seed's comparison models, a human-designed CNN and a feed-forward network, "
                                    "trained with this run's recipe" + (f" ({recipe})" if recipe else "")
                                    + " and tested on the same split, beside the searched model.") + "</p>")
        published = any("published_error" in r or "published_nll" in r for r in rows)
        head = ("model", "parameters", "test error, mean ± std", "test NLL, mean ± std", "seeds")
        if published:
            head += ("seed's published error", "seed's published NLL")
        cells = []
        for r in rows:
            one = r.get("repeats") == 1  # no spread over a single seed
            row = (" ".join(str(r.get("label", "—")).split()), integer(r.get("params")),
                   _spread(r.get("test_error_mean"), None if one else r.get("test_error_std")),
                   _spread(r.get("test_nll_mean"), None if one else r.get("test_nll_std")), integer(r.get("repeats")))
            if published:
                row += (num(r.get("published_error")), num(r.get("published_nll"), 3))
            cells.append(row)
        parts.append(table(head, cells, num=tuple(range(1, len(head))), cls="baselines"))
    caption = "Test NLL and classification error per model (mean ± std over seeds)"
    image = baselines_chart(run_dir)
    if image.startswith(PNG_MAGIC):
        parts.append(png_figure(image, caption))
    elif rows:  # the chart is missing or damaged: draw it again from the rows
        if image:
            log.warning("report: %s is not a PNG image; drawing the chart again", run_dir / BASELINES_PNG)
        try:
            parts.append(figure(plot_bars, (rows,), caption))
        except (KeyError, TypeError, ValueError) as e:
            log.warning("report: cannot draw the baselines chart from %s (%s)", run_dir / BASELINES_JSON, e)
    if not parts:
        parts.append('<p class="note">' + escape(f"{BASELINES_JSON} and {BASELINES_PNG} could not be read; run "
                                                 f"`nas4cnn baseline --run {run_dir}` again.") + "</p>")
    return "\n".join(parts)


def timing(summary: dict, rows: list[dict]) -> str:
    s = summary.get("seconds") or {}
    cached = sum(1 for r in rows if r.get("cached"))
    trained = [r for r in rows if not r.get("cached") and status(r) != "pruned"]
    items = [
        ("search", secs(s.get("search"))),
        ("final training", secs(s.get("final"))),
        ("total", secs(s.get("total"))),
        ("evaluations requested", integer(summary.get("n_evaluations"))),
        ("networks trained", integer(summary.get("n_trained"))),
        ("answered from the cache", integer(cached) if rows else "—"),
        ("pruned (could not beat the best)", integer(summary.get("n_pruned"))),
        ("stopped early (--early-stop)", integer(summary.get("n_stopped") or 0)),
        ("failed", integer(summary.get("n_failed"))),
    ]
    if trained:
        mean = sum(r.get("seconds") or 0.0 for r in trained) / len(trained)
        items.append(("mean training time per network", secs(mean)))
    return kv_table(items, cls="timing")


def _spread(mean, std) -> str:
    if not finite(mean):
        return "—"
    return f"{num(mean)} ± {num(std)}" if finite(std) else num(mean)


def _per_seed(final: dict) -> list:
    """The per-seed results of a final model trained with several seeds, if any."""
    for key in ("per_seed", "repeats"):
        if isinstance(final.get(key), list) and final[key]:
            return final[key]
    return []


def _n_seeds(final: dict) -> int | None:
    seeds, n = _per_seed(final), final.get("repeats")
    if seeds:
        return len(seeds)
    return n if isinstance(n, int) and not isinstance(n, bool) else None


def _has_repeats(final: dict) -> bool:
    """Whether the final model was trained with several seeds (and their spread is stored)."""
    n = _n_seeds(final)
    return (n is None or n > 1) and any(final.get(f"{k}_mean") is not None for k in ("test_error", "test_nll"))


def _pm(final: dict, key: str) -> str:
    """mean ± std of a test figure over the seeds; the mean alone where there is no spread."""
    mean, std = final.get(f"{key}_mean"), final.get(f"{key}_std")
    if mean is None:
        return "—"
    return _spread(mean, None if _n_seeds(final) == 1 else std)


def _repeats_table(reps: list) -> str:
    if not all(isinstance(r, dict) for r in reps):
        return table(("#", "value"), [(str(k), value(r)) for k, r in enumerate(reps, 1)], num=(0,))
    keys: list[str] = []
    for r in reps:
        keys += [k for k, v in r.items() if k not in keys and not isinstance(v, (dict, list))]

    def cell(v) -> str:
        return f"{v:.4f}" if isinstance(v, float) else value(v)

    rows = [tuple(cell(r.get(k)) for k in keys) for r in reps]
    head = tuple(k.replace("_", " ").replace("nll", "NLL") for k in keys)
    return table(head, rows, num=tuple(range(len(keys))), cls="repeats")


def _test(final: dict, key: str) -> str:
    if not final:
        return "— (no final model yet)"
    text = num(final.get(key))
    return f"{text} (mean over seeds {_pm(final, key)})" if _has_repeats(final) else text
