"""The report page: the sections in order, in the page template, written to a file."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path

from nas4cnn.core import rundir
from nas4cnn.outputs.report import sections
from nas4cnn.outputs.report.html import CSS, PAGE, escape, get, section
from nas4cnn.outputs.report.rundata import (
    BASELINES_JSON,
    BASELINES_PNG,
    class_names,
    final_layers,
    load,
    networks,
)

log = logging.getLogger(__name__)

REPORT = "report.html"


def report(run_dir: str | Path, out: str | Path | None = None) -> Path:
    """Write the run's HTML report (default RUN_DIR/report.html, atomically); returns its path.
    A missing folder of `out` is made, as `search --out` makes its folder."""
    run_dir = Path(run_dir)
    summary, rows = load(run_dir)
    path = run_dir / REPORT
    if out is not None:
        path = rundir.check_output_file(out, "--out")
    page = render(summary, rows, class_names(run_dir, summary), run_dir)
    with rundir.atomic_path(path, "--out" if out is not None else "") as tmp:
        tmp.write_text(page, encoding="utf-8")
    log.info("report: %s", path)
    return path


def render(summary: dict, rows: list[dict], names: Sequence[str], run_dir: Path | None = None) -> str:
    """The page for a run's summary and evaluation rows (see `rundata`), `names` its class names."""
    final = summary.get("final")
    best = summary.get("best")
    dataset = get(summary, "dataset", "name") or get(summary, "config", "data", "dataset") or "unknown data set"
    arch = (final or {}).get("arch") or (best or {}).get("arch")
    title = f"nas4cnn run: {dataset} — {arch or 'no architecture chosen yet'}"
    nets = networks(rows, summary)
    body = [f"<h1>{escape(title)}</h1>", sections.overview(summary, run_dir)]
    if not final:
        done, planned = summary.get("n_generations") or 0, get(summary, "config", "search", "generations")
        of = f" of {planned + 1}" if isinstance(planned, int) else ""
        body.append(
            '<p class="note"><strong>No final model yet.</strong> '
            + escape(f"This run's status is {summary.get('status') or 'unknown'!r}: it has {done}{of} generations "
                     "and no retrained winner, so the search was interrupted or is still going. This report shows "
                     "what the run had committed when it was written; ")
            + "<code>" + escape(f"nas4cnn search --resume {run_dir or 'RUN_DIR'}") + "</code>"
            + escape(" finishes the run and rewrites this report.") + "</p>"
        )
    body += [
        section("Configuration", sections.config_tables(summary)),
        section("Objective progression", sections.progression(summary)),
        section("Evaluated architectures", sections.scatter(summary, nets)),
        section(f"Top {sections.TOP} architectures by objective", sections.top(nets)),
    ]
    if summary.get("shortlist"):
        body.append(section("Shortlist", sections.shortlist(summary["shortlist"])))
    body += [
        section("Final model", sections.final_model(final, names, final_layers(summary)) if final else
                '<p class="note">No final model: the run stopped before retraining its winner.</p>'),
    ]
    if run_dir is not None and any((run_dir / f).is_file() for f in (BASELINES_JSON, BASELINES_PNG)):
        body.append(section("Baselines", sections.baselines(run_dir)))
    body.append(section("Timing and evaluations", sections.timing(summary, rows)))
    foot = f"Written {time.strftime('%Y-%m-%d %H:%M:%S %Z')} by nas4cnn {_version()}."
    return PAGE.format(title=escape(title), css=CSS, body="\n".join(body), foot=escape(foot))


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("nas4cnn")
    except PackageNotFoundError:
        return "(not installed)"
