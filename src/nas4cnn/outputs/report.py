"""A run's report: one self-contained HTML page that opens offline.

The page has inline CSS, its plots as base64 PNG data URIs, no scripts and no external
resources. It is built from the run's store when the folder has one (so an interrupted run
gets a report of what it committed), else from summary.json and evaluations.jsonl.
"""

from __future__ import annotations

import base64
import html
import io
import json
import logging
import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import fields
from pathlib import Path
from types import SimpleNamespace

from nas4cnn.core import rundir
from nas4cnn.core.errors import Nas4cnnError, RunDirError
from nas4cnn.nn.train import EpochStats
from nas4cnn.outputs.plots import (
    plot_bars,
    plot_confusion,
    plot_curves,
    plot_pareto,
    plot_progression,
)

log = logging.getLogger(__name__)

REPORT = "report.html"
TOP = 10
BASELINES_JSON = "baselines.json"  # written into the run folder by `nas4cnn baseline --run RUN_DIR`
BASELINES_PNG = "baselines.png"
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def report(run_dir: str | Path, out: str | Path | None = None) -> Path:
    """Write the run's HTML report (default RUN_DIR/report.html, atomically); returns its path."""
    run_dir = Path(run_dir)
    summary, rows = load(run_dir)
    path = rundir.check_writable(out, "--out") if out is not None else run_dir / REPORT
    page = render(summary, rows, class_names(run_dir, summary), run_dir)
    with rundir.atomic_path(path, "--out" if out is not None else "") as tmp:
        tmp.write_text(page, encoding="utf-8")
    log.info("report: %s", path)
    return path



def load(run_dir: Path) -> tuple[dict, list[dict]]:
    """The run's summary and its evaluations (one dict a request, as in evaluations.jsonl)."""
    from nas4cnn.search.store import FILENAME

    if not run_dir.is_dir():
        raise RunDirError(f"no run directory {str(run_dir)!r}")
    has_summary = (run_dir / rundir.SUMMARY).is_file()
    if (run_dir / FILENAME).is_file():
        try:
            return _from_store(run_dir)
        except Nas4cnnError as e:
            if not has_summary:
                raise
            log.warning("report: cannot read the run's store (%s); using %s", e, rundir.SUMMARY)
    if not has_summary:
        raise RunDirError(f"{str(run_dir)!r} is not a nas4cnn run directory "
                          f"(it has neither {rundir.SUMMARY} nor {FILENAME})")
    summary = rundir.read_summary(run_dir)
    rows = []
    evaluations = run_dir / rundir.EVALUATIONS
    if evaluations.is_file():
        for n, line in enumerate(evaluations.read_text(encoding="utf-8").splitlines(), 1):
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                row = None
            if isinstance(row, dict):
                rows.append(row)
            else:
                log.warning("report: skipping line %d of %s: not a JSON object", n, evaluations)
    return summary, rows


def _from_store(run_dir: Path) -> tuple[dict, list[dict]]:
    from nas4cnn.core.config import config_from_dict
    from nas4cnn.outputs.summary import build_summary
    from nas4cnn.search.loop import replay
    from nas4cnn.search.store import RunStore

    store = RunStore.open(run_dir, "", write=False)
    try:
        evaluations = store.evaluations()
        history = replay(config_from_dict(store.config).space, store.generations(), evaluations)
        summary = build_summary(store, (evaluations, history))
    finally:
        store.close()
    return summary, [{"generation": g, **e.to_dict()} for g, e in history.evaluations]


def class_names(run_dir: Path, summary: dict) -> list[str]:
    """The class names saved with the final model, else the class indices."""
    final = summary.get("final") or {}
    n = len(final.get("confusion_matrix") or []) or _get(summary, "dataset", "num_classes") or 0
    model = run_dir / rundir.MODEL
    if model.is_file():
        from nas4cnn.nn.checkpoint import load_bundle

        try:
            names = list(load_bundle(model).class_names)
        except RunDirError as e:
            log.warning("report: no class names (%s); using class indices", e)
        else:
            if not n or len(names) == n:
                return names
            log.warning("report: %s has %d class names for %d classes; using class indices", model, len(names), n)
    return [str(i) for i in range(n)]


def networks(rows: Iterable[dict]) -> list[dict]:
    """Every distinct network trained for the configured epochs and scored, best objective first."""
    best: dict[str, dict] = {}
    for r in rows:
        if r.get("failed") or r.get("epochs") is not None or not _finite(r.get("objective")) \
                or not _finite(r.get("val_error")):
            continue
        if r["arch"] not in best or r["objective"] < best[r["arch"]]["objective"]:
            best[r["arch"]] = r
    return sorted(best.values(), key=lambda r: (r["objective"], r["params"], r["arch"]))



def render(summary: dict, rows: list[dict], names: Sequence[str], run_dir: Path | None = None) -> str:
    final = summary.get("final")
    best = summary.get("best")
    dataset = _get(summary, "dataset", "name") or _get(summary, "config", "data", "dataset") or "unknown data set"
    arch = (final or {}).get("arch") or (best or {}).get("arch")
    title = f"nas4cnn run: {dataset} — {arch or 'no architecture chosen yet'}"
    nets = networks(rows)
    body = [f"<h1>{_e(title)}</h1>", _overview(summary, run_dir)]
    if not final:
        done, planned = summary.get("n_generations") or 0, _get(summary, "config", "search", "generations")
        of = f" of {planned + 1}" if isinstance(planned, int) else ""
        body.append(
            '<p class="note"><strong>No final model yet.</strong> '
            + _e(f"This run's status is {summary.get('status') or 'unknown'!r}: it has {done}{of} generations "
                 "and no retrained winner, so the search was interrupted or is still going. This report shows "
                 "what the run had committed when it was written; ")
            + "<code>" + _e(f"nas4cnn search --resume {run_dir or 'RUN_DIR'}") + "</code>"
            + _e(" finishes the run and rewrites this report.") + "</p>"
        )
    body += [
        _section("Configuration", _config_table(summary)),
        _section("Objective progression", _progression(summary)),
        _section("Evaluated architectures", _scatter(summary, nets)),
        _section(f"Top {TOP} architectures by objective", _top(nets, best)),
        _section("Final model", _final(final, names) if final else
                 '<p class="note">No final model: the run stopped before retraining its winner.</p>'),
    ]
    if run_dir is not None and any((run_dir / f).is_file() for f in (BASELINES_JSON, BASELINES_PNG)):
        body.append(_section("Baselines", _baselines(run_dir)))
    body.append(_section("Timing and evaluations", _timing(summary, rows)))
    foot = f"Written {time.strftime('%Y-%m-%d %H:%M:%S %Z')} by nas4cnn {_version()}."
    return _PAGE.format(title=_e(title), css=_CSS, body="\n".join(body), foot=_e(foot))


def _overview(summary: dict, run_dir: Path | None) -> str:
    best, final = summary.get("best") or {}, summary.get("final") or {}
    ds = summary.get("dataset") or {}
    shape = "×".join(map(str, ds.get("input_shape") or [])) or "?"
    sizes = ds.get("sizes") or {}
    items = [
        ("chosen architecture" if final else "best architecture so far", best.get("arch", "—")),
        ("genotype", _genotype(best.get("genotype"))),
        ("parameters", _int(best.get("params"))),
        ("objective", _num(best.get("objective"))),
        ("validation error (search)", _num(best.get("val_error"))),
        ("test error", _test(final, "test_error")),
        ("test NLL", _test(final, "test_nll")),
        ("data set", f"{ds.get('name', '?')}: {shape} images, {ds.get('num_classes', '?')} classes, "
                     + ", ".join(f"{k} {_int(v)}" for k, v in sizes.items())),
        ("Nmax", _int(summary.get("nmax"))),
        ("status", summary.get("status") or "—"),
    ]
    if run_dir is not None:
        items.append(("run directory", str(run_dir.resolve())))
    return _kv_table(items, cls="overview")


def _config_table(summary: dict) -> str:
    """One small table per config section, side by side."""
    config = summary.get("config") or {}
    groups: list[tuple[str, list[tuple[str, str]]]] = []
    for section, values in config.items():
        if isinstance(values, dict):
            groups.append((section, [(k, _value(v)) for k, v in values.items()]))
        else:
            groups.append(("other", [(section, _value(values))]))
    run = [(f"{k}", _value(v)) for k, v in (summary.get("execution") or {}).items()]
    run += [(f"{k} version", _value(v)) for k, v in (summary.get("versions") or {}).items()]
    if summary.get("config_hash"):
        run.append(("config hash", summary["config_hash"]))
    if run:
        groups.append(("execution", run))
    return '<div class="cols">' + "".join(_kv_table(items, cls="config", caption=f"[{name}]")
                                          for name, items in groups) + "</div>"


def _progression(summary: dict) -> str:
    g, loc = summary.get("global_best") or [], summary.get("local_best") or []
    if not g:
        return '<p class="note">No generation finished yet.</p>'
    inf = float("inf")
    records = [SimpleNamespace(generation=i, global_best=inf if a is None else a, local_best=inf if b is None else b)
               for i, (a, b) in enumerate(zip(g, loc))]
    finite = [(i, a) for i, a in enumerate(g) if a is not None]
    text = ""
    if finite:
        first = next(i for i, a in finite if a == finite[-1][1])
        text = (f"<p>{len(g)} generations (the initial population is generation 0); best objective "
                f"{_e(_num(finite[-1][1]))}, first reached in generation {first}.</p>")
    table = _table(("generation", "global best", "local best"),
                   [(str(i), _num(a), _num(b)) for i, (a, b) in enumerate(zip(g, loc))], num=(0, 1, 2))
    return (text + _figure(plot_progression, (records,), "Global and local best objective per generation")
            + f"<details><summary>Values per generation</summary>{table}</details>")


def _scatter(summary: dict, nets: list[dict]) -> str:
    if not nets:
        return '<p class="note">No network has been trained yet.</p>'
    front, best = summary.get("pareto_front") or [], summary.get("best")
    text = (f"<p>{len(nets)} distinct networks trained for the configured epochs; {len(front)} on the Pareto "
            "front (no other network is both smaller and more accurate); the star is the chosen one, the best "
            "by objective (validation error + λ·parameters/Nmax).</p>")
    points = [(r["params"], r["val_error"]) for r in nets]
    return text + _figure(plot_pareto, (points, front, best),
                          "Validation error against parameters (log scale) for every evaluated architecture")


def _top(nets: list[dict], best: dict | None) -> str:
    if not nets:
        return '<p class="note">No network has been trained yet.</p>'
    chosen = (best or {}).get("arch")
    rows = [(str(k), r["arch"] + (" ★" if r["arch"] == chosen else ""), _genotype(r.get("genotype")),
             _int(r["params"]), _num(r["val_error"]), _num(r.get("val_nll")), _num(r["objective"]),
             str(r.get("generation", "—")))
            for k, r in enumerate(nets[:TOP], 1)]
    return _table(("rank", "architecture", "genotype", "parameters", "val error", "val NLL", "objective",
                   "generation"), rows, num=(0, 3, 4, 5, 6, 7), cls="top")


def _final(final: dict, names: Sequence[str]) -> str:
    parts = []
    best_epoch = final.get("best_epoch")
    at = f"epoch {best_epoch}, kept" if isinstance(best_epoch, int) else "last epoch"
    items = [
        ("architecture", final.get("arch", "—")),
        ("genotype", _genotype(final.get("genotype"))),
        ("parameters", _int(final.get("params"))),
        ("epochs", _value(final.get("epochs"))),
    ]
    if isinstance(best_epoch, int):
        items.append(("best validation epoch", str(best_epoch)))
    if final.get("trainval_epochs"):
        items.append(("retrained on train + validation", f"{final['trainval_epochs']} epochs"))
    items += [
        (f"validation error ({at})", _num(final.get("val_error"))),
        (f"validation NLL ({at})", _num(final.get("val_nll"))),
        ("test error", _num(final.get("test_error"))),
        ("test NLL", _num(final.get("test_nll"))),
    ]
    seeds = _per_seed(final)
    if _has_repeats(final):
        count = _n_seeds(final)
        n = f" over {count} seeds" if count else ""
        items += [(f"test error, mean ± std{n}", _pm(final, "test_error")),
                  (f"test NLL, mean ± std{n}", _pm(final, "test_nll"))]
    items.append(("training time", _secs(final.get("seconds"))))
    parts.append(_kv_table(items, cls="metrics"))
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
        parts.append(_figure(plot_curves, (curves, final["test_nll"], final["test_error"]), caption))
    matrix = final.get("confusion_matrix")
    if matrix:
        correct = sum(matrix[i][i] for i in range(len(matrix)))
        total = sum(map(sum, matrix))
        parts.append(f"<p>Test split: {correct:,} of {total:,} images classified correctly. "
                     "Rows are the true class, columns the predicted one.</p>")
        parts.append(_figure(plot_confusion, (matrix, list(names)), "Confusion matrix on the test split"))
    return "\n".join(parts)


def _baselines(run_dir: Path) -> str:
    """The seed's comparison models (`nas4cnn baseline --run`): their bar chart and a table of their rows."""
    parts = []
    rows, config = _baseline_rows(run_dir / BASELINES_JSON)
    if rows:
        search = _get(config, "search") or {}
        recipe = ", ".join(x for x in (
            f"{search['final_epochs']} epoch{'s' if search['final_epochs'] != 1 else ''}"
            if isinstance(search.get("final_epochs"), int) else "",
            f"{search['final_repeats']} seed{'s' if search['final_repeats'] != 1 else ''} each"
            if isinstance(search.get("final_repeats"), int) else "",
        ) if x)
        parts.append("<p>" + _e("The seed's comparison models, a human-designed CNN and a feed-forward network, "
                                "trained with this run's recipe" + (f" ({recipe})" if recipe else "")
                                + " and tested on the same split, beside the searched model.") + "</p>")
        published = any("published_error" in r or "published_nll" in r for r in rows)
        head = ("model", "parameters", "test error, mean ± std", "test NLL, mean ± std", "seeds")
        if published:
            head += ("seed's published error", "seed's published NLL")
        table = []
        for r in rows:
            one = r.get("repeats") == 1  # no spread over a single seed
            row = (" ".join(str(r.get("label", "—")).split()), _int(r.get("params")),
                   _spread(r.get("test_error_mean"), None if one else r.get("test_error_std")),
                   _spread(r.get("test_nll_mean"), None if one else r.get("test_nll_std")), _int(r.get("repeats")))
            if published:
                row += (_num(r.get("published_error")), _num(r.get("published_nll"), 3))
            table.append(row)
        parts.append(_table(head, table, num=tuple(range(1, len(head))), cls="baselines"))
    png = run_dir / BASELINES_PNG
    caption = "Test NLL and classification error per model (mean ± std over seeds)"
    try:
        image = png.read_bytes() if png.is_file() else b""
    except OSError as e:
        log.warning("report: cannot read %s (%s)", png, e.strerror or e)
        image = b""
    if image.startswith(_PNG_MAGIC):
        data = base64.b64encode(image).decode("ascii")
        parts.append(f'<figure><img src="data:image/png;base64,{data}" alt="{_e(caption)}">'
                     f"<figcaption>{_e(caption)}</figcaption></figure>")
    elif rows:  # the chart is missing or damaged: draw it again from the rows
        if image:
            log.warning("report: %s is not a PNG image; drawing the chart again", png)
        try:
            parts.append(_figure(plot_bars, (rows,), caption))
        except (KeyError, TypeError, ValueError) as e:
            log.warning("report: cannot draw the baselines chart from %s (%s)", run_dir / BASELINES_JSON, e)
    if not parts:
        parts.append('<p class="note">' + _e(f"{BASELINES_JSON} and {BASELINES_PNG} could not be read; run "
                                             f"`nas4cnn baseline --run {run_dir}` again.") + "</p>")
    return "\n".join(parts)


def _baseline_rows(path: Path) -> tuple[list[dict], dict]:
    """The rows and config of a baselines.json; nothing (with a warning) when it is missing or unreadable."""
    if not path.is_file():
        return [], {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        log.warning("report: cannot read %s (%s)", path, e)
        return [], {}
    rows = data.get("rows") if isinstance(data, dict) else None
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        log.warning("report: %s has no list of rows", path)
        return [], {}
    config = data.get("config")
    return rows, config if isinstance(config, dict) else {}


def _spread(mean, std) -> str:
    if not _finite(mean):
        return "—"
    return f"{_num(mean)} ± {_num(std)}" if _finite(std) else _num(mean)


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
    mean, std = final.get(f"{key}_mean"), final.get(f"{key}_std")
    if mean is None:
        return "—"
    return f"{_num(mean)} ± {_num(std)}" if std is not None else _num(mean)


def _repeats_table(reps: list) -> str:
    if not all(isinstance(r, dict) for r in reps):
        return _table(("#", "value"), [(str(k), _value(r)) for k, r in enumerate(reps, 1)], num=(0,))
    keys: list[str] = []
    for r in reps:
        keys += [k for k, v in r.items() if k not in keys and not isinstance(v, (dict, list))]
    def cell(v) -> str:
        return f"{v:.4f}" if isinstance(v, float) else _value(v)

    rows = [tuple(cell(r.get(k)) for k in keys) for r in reps]
    head = tuple(k.replace("_", " ").replace("nll", "NLL") for k in keys)
    return _table(head, rows, num=tuple(range(len(keys))), cls="repeats")


def _timing(summary: dict, rows: list[dict]) -> str:
    s = summary.get("seconds") or {}
    cached = sum(1 for r in rows if r.get("cached"))
    trained = [r for r in rows if not r.get("cached") and not str(r.get("failed") or "").startswith("pruned")]
    items = [
        ("search", _secs(s.get("search"))),
        ("final training", _secs(s.get("final"))),
        ("total", _secs(s.get("total"))),
        ("evaluations requested", _int(summary.get("n_evaluations"))),
        ("networks trained", _int(summary.get("n_trained"))),
        ("answered from the cache", _int(cached) if rows else "—"),
        ("pruned (could not beat the best)", _int(summary.get("n_pruned"))),
        ("stopped early (--early-stop)", _int(summary.get("n_stopped") or 0)),
        ("failed", _int(summary.get("n_failed"))),
    ]
    if trained:
        mean = sum(r.get("seconds") or 0.0 for r in trained) / len(trained)
        items.append(("mean training time per network", _secs(mean)))
    return _kv_table(items, cls="timing")



def _e(text) -> str:
    return html.escape(str(text), quote=True)


def _section(heading: str, content: str) -> str:
    anchor = heading.lower().split()[0]
    return f'<section id="{_e(anchor)}"><h2>{_e(heading)}</h2>\n{content}\n</section>'


def _kv_table(items: Sequence[tuple[str, str]], cls: str = "", caption: str | None = None) -> str:
    cap = f"<caption>{_e(caption)}</caption>" if caption else ""
    body = "".join(f'<tr><th scope="row">{_e(k)}</th><td>{_e(v)}</td></tr>' for k, v in items)
    return f'<table class="kv {_e(cls)}">{cap}<tbody>{body}</tbody></table>'


def _table(head: Sequence[str], rows: Sequence[Sequence[str]], num: Sequence[int] = (), cls: str = "") -> str:
    def cell(tag: str, j: int, v: str) -> str:
        return f'<{tag} class="num">{_e(v)}</{tag}>' if j in num else f"<{tag}>{_e(v)}</{tag}>"

    thead = "<tr>" + "".join(cell("th", j, h) for j, h in enumerate(head)) + "</tr>"
    body = "".join("<tr>" + "".join(cell("td", j, v) for j, v in enumerate(r)) + "</tr>" for r in rows)
    return f'<table class="grid {_e(cls)}"><thead>{thead}</thead><tbody>{body}</tbody></table>'


def _figure(plot: Callable, args: tuple, caption: str) -> str:
    buf = io.BytesIO()
    plot(*args, buf)
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return (f'<figure><img src="data:image/png;base64,{data}" alt="{_e(caption)}">'
            f"<figcaption>{_e(caption)}</figcaption></figure>")


def _get(d, *keys):
    for k in keys:
        if not isinstance(d, dict):
            return None
        d = d.get(k)
    return d


def _finite(x) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x)


def _num(x, digits: int = 4) -> str:
    return f"{x:.{digits}f}" if _finite(x) else "—"


def _int(x) -> str:
    return f"{x:,}" if isinstance(x, int) and not isinstance(x, bool) else "—"


def _secs(x) -> str:
    return f"{x:,.1f} s" if _finite(x) else "—"


def _test(final: dict, key: str) -> str:
    if not final:
        return "— (no final model yet)"
    text = _num(final.get(key))
    return f"{text} (mean over seeds {_pm(final, key)})" if _has_repeats(final) else text


def _genotype(g) -> str:
    return ",".join(map(str, g)) if isinstance(g, (list, tuple)) else "—"


def _value(v) -> str:
    if isinstance(v, float):
        return f"{v:.6g}"
    if isinstance(v, (list, tuple)):
        return ", ".join(map(str, v))
    if isinstance(v, dict):
        return json.dumps(v, sort_keys=True)
    return "—" if v is None else str(v)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("nas4cnn")
    except PackageNotFoundError:
        return "(not installed)"


_CSS = """
:root { color-scheme: light; }
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif;
       color: #1d232a; background: #fff; margin: 0 auto; max-width: 1100px; padding: 24px 32px 48px; }
h1 { font-size: 1.6em; margin: 0 0 16px; border-bottom: 3px solid #2f6db5; padding-bottom: 8px; }
h2 { font-size: 1.25em; margin: 32px 0 10px; color: #2f6db5; }
h3 { font-size: 1.05em; margin: 18px 0 8px; }
table { border-collapse: collapse; margin: 8px 0 12px; font-size: 0.93em; }
th, td { border: 1px solid #d6dbe1; padding: 4px 10px; text-align: left; vertical-align: top; }
thead th { background: #eef2f7; }
table.kv th { background: #f6f8fa; font-weight: 600; white-space: nowrap; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
table.grid tbody tr:nth-child(even) { background: #fafbfc; }
table.top td:nth-child(2), table.overview td, table.config td { font-family: ui-monospace, "DejaVu Sans Mono",
       monospace; font-size: 0.95em; }
caption { text-align: left; font-weight: 600; padding: 2px 0 4px; font-family: ui-monospace,
       "DejaVu Sans Mono", monospace; }
div.cols { display: flex; flex-wrap: wrap; gap: 0 28px; align-items: flex-start; }
figure { margin: 12px 0 20px; }
figure img { max-width: 100%; height: auto; border: 1px solid #e3e7ec; }
figcaption { color: #5a6572; font-size: 0.9em; margin-top: 4px; }
p.note { background: #fff6e0; border-left: 4px solid #e0a100; padding: 8px 12px; }
details summary { cursor: pointer; color: #2f6db5; margin: 4px 0; }
code { font-family: ui-monospace, "DejaVu Sans Mono", monospace; background: #f2f4f7; padding: 1px 4px; }
footer { margin-top: 40px; color: #8a949e; font-size: 0.85em; border-top: 1px solid #e3e7ec; padding-top: 8px; }
"""

_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline'">
<title>{title}</title>
<style>{css}</style>
</head>
<body>
<main>
{body}
</main>
<footer>{foot}</footer>
</body>
</html>
"""
