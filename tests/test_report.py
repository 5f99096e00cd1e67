"""The run report: one self-contained HTML page, checked as text and in a real headless browser."""

import base64
import json
import os
import shutil
import subprocess
import sys
from dataclasses import replace
from html.parser import HTMLParser

import pytest
from conftest import make_dataset

from nas4cnn import api, rebuild, report
from nas4cnn.cli import main
from nas4cnn.core.config import RunConfig, config_from_dict
from nas4cnn.core.errors import RunDirError
from nas4cnn.final.training import FinalResult, FinalRuns
from nas4cnn.nn.train import EpochStats
from nas4cnn.outputs.report import load, networks, render, status
from nas4cnn.searching.store import RunStore

NAME = '<script>alert("x")</script> & co'  # a data set name that must come out as text
CLASSES = ("a<b", "c&d", '"e"')
SECTIONS = ["Configuration", "Objective progression", "Evaluated architectures", "Top 10 architectures by objective",
            "Final model", "Timing and evaluations"]


def _config(generations=3):
    return (RunConfig().override("search", generations=generations, population=6, final_epochs=2, seed=1)
            .override("train", epochs=1))


def _data():
    return replace(make_dataset(num_classes=3, name=NAME), class_names=CLASSES)


class Page(HTMLParser):
    """The parts of the page the tests look at: title, headings, images, tables with their rows."""

    def __init__(self, text: str):
        super().__init__()
        self.title, self.h1, self.h2, self.images, self.tables, self.scripts, self.links = "", "", [], [], [], 0, []
        self._in, self._row = None, None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag in ("title", "h1", "h2", "td", "th"):
            self._in = tag
            if tag == "h2":
                self.h2.append("")
            if tag in ("td", "th") and self._row is not None:
                self._row.append("")
        elif tag == "img":
            self.images.append(a)
        elif tag == "table":
            self.tables.append({"class": a.get("class", ""), "rows": []})
        elif tag == "tr":
            self._row = []
            self.tables[-1]["rows"].append(self._row)
        elif tag == "script":
            self.scripts += 1
        for key in ("href", "src"):
            if key in a and tag != "img":
                self.links.append(a[key])

    def handle_endtag(self, tag):
        if tag == self._in:
            self._in = None

    def handle_data(self, data):
        if self._in == "title":
            self.title += data
        elif self._in == "h1":
            self.h1 += data
        elif self._in == "h2":
            self.h2[-1] += data
        elif self._in in ("td", "th") and self._row:
            self._row[-1] += data

    def table(self, cls: str) -> dict:
        (t,) = [t for t in self.tables if cls in t["class"].split()]
        return t


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A tiny real search; `search` writes the report at its end."""
    out = tmp_path_factory.mktemp("report") / "run"
    api.search(_config(), out=out, data=_data(), device="cpu", workers=1)
    return out


@pytest.mark.slow
def test_search_writes_a_report_with_every_section(run_dir):
    text = (run_dir / "report.html").read_text(encoding="utf-8")
    page = Page(text)
    summary = json.loads((run_dir / "summary.json").read_text())
    arch = summary["final"]["arch"]
    assert page.title == page.h1 == f"nas4cnn run: {NAME} — {arch}"
    assert page.h2 == SECTIONS
    # four plots, all embedded PNGs: progression, scatter, learning curves, confusion matrix
    assert len(page.images) == 4
    for img in page.images:
        assert img["src"].startswith("data:image/png;base64,") and img["alt"]
        assert base64.b64decode(img["src"].split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    # self-contained: no scripts, no links or resources elsewhere
    assert page.scripts == 0 and page.links == []
    assert "http://" not in text and "https://" not in text and "<link" not in text
    assert "default-src 'none'" in text
    assert not list(run_dir.glob("*.tmp"))


def test_text_is_escaped(run_dir):
    text = (run_dir / "report.html").read_text(encoding="utf-8")
    assert "<script" not in text
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; co" in text


def test_top_ten_table_matches_the_evaluations(run_dir):
    """One row per network trained for the configured epochs: equivalent genotypes (the run's
    `SearchSpace.canonical`) are one network, shown by the request that trained it."""
    page = Page((run_dir / "report.html").read_text(encoding="utf-8"))
    summary = json.loads((run_dir / "summary.json").read_text())
    config = config_from_dict(summary["config"])
    rows = [json.loads(line) for line in (run_dir / "evaluations.jsonl").read_text().splitlines()]
    ok = {}
    for r in rows:
        if status(r) == "ok" and r["epochs"] in (None, config.train.epochs):
            ok.setdefault(config.space.canonical(r["genotype"]), r)
    assert len(ok) > 10  # the run is big enough for the table to be cut at ten
    top = page.table("top")["rows"]
    assert top[0] == ["rank", "architecture", "genotype", "parameters", "val error", "val NLL", "objective",
                      "generation"]
    body = top[1:]
    assert [r[0] for r in body] == [str(k) for k in range(1, 11)]
    objectives = [float(r[6]) for r in body]
    assert objectives == sorted(objectives)
    canonical = [config.space.canonical([int(g) for g in r[2].split(",")]) for r in body]
    assert len(set(canonical)) == 10
    expected = sorted(ok.values(), key=lambda r: r["objective"])[:10]
    assert sorted(r[1].removesuffix(" ★") for r in body) == sorted(r["arch"] for r in expected)
    assert body[0][1] == summary["best"]["arch"] + " ★" and sum("★" in r[1] for r in body) == 1
    assert objectives[0] == pytest.approx(summary["best"]["objective"], abs=1e-4)
    assert body[0][3] == f"{summary['best']['params']:,}"
    assert f"<p>{len(ok):,} networks trained for the configured epochs" in (run_dir / "report.html").read_text()
    assert summary["n_trained"] == len(ok)  # nothing failed, was pruned or stopped in this run


def _equivalent_genotypes_run(path, layout):
    """A run folder (summary.json and evaluations.jsonl, no store) whose evaluations include two
    genotypes of one network (pooling of size 1, average or max), the chosen one's twin among them;
    rows in the evaluation record of today (`status`) or of runs written before it (`failed`)."""
    config = RunConfig()
    full = config.train.epochs
    chosen, twin, other = (2, 1, 0, 3, 8), (2, 1, 0, 2, 8), (1, 0, 0, 1, 6)
    assert config.space.canonical(chosen) == config.space.canonical(twin) and config.space.name(twin) < \
        config.space.name(chosen)  # the twin would sort first by name
    rows = []

    def add(generation, genotype, st="ok", objective=None, cached=False, epochs=full, reason=None):
        row = {"generation": generation, "genotype": list(genotype), "arch": config.space.name(genotype),
               "params": 1000 * sum(genotype) + 10, "val_error": None if objective is None else objective - 0.01,
               "val_nll": 0.1, "objective": objective, "seconds": 0.0 if cached else 1.5, "cached": cached,
               "checks": None}
        if layout == "status":
            row |= {"status": st, "reason": reason, "epochs": epochs}
        else:  # before the record had a status: the reason said pruned or stopped, None meant the full epochs
            row |= {"failed": reason, "epochs": None if epochs == full else epochs}
        rows.append(row)

    add(0, chosen, objective=0.04)
    add(0, other, objective=0.08)
    add(1, twin, objective=0.04, cached=True)
    add(1, (1, 0, 0, 0, 6), "pruned", reason="pruned: its size penalty 0.0500 cannot beat the best 0.0400")
    add(1, (2, 0, 0, 1, 6), "failed", reason="diverged (non-finite loss)")
    add(1, (2, 0, 0, 0, 6), "stopped", reason="stopped after epoch 2: objective 0.5000 above the threshold")
    add(2, other, objective=0.08, cached=True)
    add(2, (2, 1, 0, 2, 3), objective=0.02, epochs=2)  # a multi-fidelity batch: not the configured epochs
    summary = {
        "config": config.to_dict(), "status": "finished", "final": None,
        "best": {"genotype": list(chosen), "arch": config.space.name(chosen), "params": rows[0]["params"],
                 "objective": 0.04, "val_error": 0.03, "val_nll": 0.1},
        "global_best": [0.04, 0.04, 0.04], "local_best": [0.04, 0.04, None], "n_generations": 3,
        "n_evaluations": len(rows), "n_trained": 5, "n_failed": 1, "n_pruned": 1, "n_stopped": 1,
        "pareto_front": [], "seconds": {"search": 9.0, "final": None, "total": 9.0},
    }
    path.mkdir()
    (path / "summary.json").write_text(json.dumps(summary))
    (path / "evaluations.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return summary


@pytest.mark.parametrize("layout", ["status", "failed"])
def test_equivalent_genotypes_are_one_network(tmp_path, layout):
    summary = _equivalent_genotypes_run(tmp_path / "run", layout)
    text = report(tmp_path / "run").read_text(encoding="utf-8")
    page = Page(text)
    top = page.table("top")["rows"][1:]
    assert [(r[1], r[2], r[7]) for r in top] == [("conv32k5-relu-maxpool1-fc90 ★", "2,1,0,3,8", "0"),
                                                 ("conv16k3-relu-maxpool2-fc70", "1,0,0,1,6", "0")]
    assert "<p>2 networks trained for the configured epochs and scored, of 5 trained in all" in text
    timing = dict(page.table("timing")["rows"])
    assert timing["networks trained"] == str(summary["n_trained"]) and timing["answered from the cache"] == "2"
    assert timing["evaluations requested"] == "8" and timing["failed"] == timing["pruned (could not beat the best)"] \
        == timing["stopped early (--early-stop)"] == "1"
    assert timing["mean training time per network"] == "1.5 s"  # the four trainings, not the pruned one


def test_status_reads_both_records():
    assert [status({"status": s, "failed": "x"}) for s in ("ok", "failed", "pruned", "stopped")] == \
        ["ok", "failed", "pruned", "stopped"]
    old = [None, "", "pruned: its size penalty 0.05 cannot beat the best 0.04", "stopped after epoch 2: objective",
           "diverged (non-finite loss)", "out of memory"]
    assert [status({"failed": r}) for r in old] == ["ok", "ok", "pruned", "stopped", "failed", "failed"]


def test_metrics_and_timing_tables(run_dir):
    page = Page((run_dir / "report.html").read_text(encoding="utf-8"))
    s = json.loads((run_dir / "summary.json").read_text())
    metrics = dict(page.table("metrics")["rows"])
    assert metrics["test error"] == f"{s['final']['test_error']:.4f}"
    assert metrics["test NLL"] == f"{s['final']['test_nll']:.4f}"
    assert metrics["epochs"] == "2"
    timing = dict(page.table("timing")["rows"])
    assert timing["evaluations requested"] == str(s["n_evaluations"])
    assert timing["networks trained"] == str(s["n_trained"])
    assert timing["pruned (could not beat the best)"] == str(s["n_pruned"])
    assert timing["search"] == f"{s['seconds']['search']:,.1f} s"
    config = {k: v for t in page.tables if "config" in t["class"].split() for k, v in t["rows"]}
    assert config["generations"] == "3" and config["population"] == "6" and config["lambda"] == "0.01"


def test_class_names_come_from_the_model(run_dir):
    from nas4cnn.outputs.report import class_names

    summary, _ = load(run_dir)
    assert class_names(run_dir, summary) == list(CLASSES)
    summary["final"]["confusion_matrix"] = [[1, 0], [0, 1]]  # a mismatch falls back to indices
    assert class_names(run_dir, summary) == ["0", "1"]


@pytest.mark.parametrize("layout", ["list under repeats", "count and per_seed list"])
def test_repeats_are_shown_when_present(run_dir, layout):
    summary, rows = load(run_dir)
    final = summary["final"]
    seeds = [{"seed": s, "test_error": 0.1 + s / 100, "test_nll": 0.5} for s in range(3)]
    final.update(test_error_mean=0.125, test_error_std=0.0125, test_nll_mean=0.5, test_nll_std=0.05,
                 best_epoch=2, trainval_epochs=2)
    final.pop("per_seed", None)
    final.update({"repeats": seeds} if layout == "list under repeats" else {"repeats": 3, "per_seed": seeds})
    page = Page(render(summary, rows, list(CLASSES), run_dir))
    metrics = dict(page.table("metrics")["rows"])
    assert metrics["test error, mean ± std over 3 seeds"] == "0.1250 ± 0.0125"
    assert metrics["test NLL, mean ± std over 3 seeds"] == "0.5000 ± 0.0500"
    assert metrics["best validation epoch"] == "2" and metrics["retrained on train + validation"] == "2 epochs"
    assert "validation error (epoch 2, kept)" in metrics
    reps = page.table("repeats")["rows"]
    assert reps[0] == ["seed", "test error", "test NLL"] and len(reps) == 4
    assert reps[2] == ["1", "0.1100", "0.5000"]
    assert "(mean over seeds 0.1250 ± 0.0125)" in dict(page.table("overview")["rows"])["test error"]


def test_search_with_repeats_reports_the_spread(tmp_path):
    if not hasattr(RunConfig().search, "final_repeats"):
        pytest.skip("this nas4cnn has no final_repeats setting")
    config = _config(generations=1).override("search", final_repeats=2)
    api.search(config, out=tmp_path / "run", data=_data(), device="cpu", workers=1)
    page = Page((tmp_path / "run" / "report.html").read_text(encoding="utf-8"))
    metrics = dict(page.table("metrics")["rows"])
    assert "±" in metrics["test error, mean ± std over 2 seeds"]
    assert len(page.table("repeats")["rows"]) == 3


def test_no_repeats_no_spread(run_dir):
    """One final seed has no standard deviation: none in summary.json, no ± anywhere on the page,
    also for a summary written before (std 0.0)."""
    text = (run_dir / "report.html").read_text(encoding="utf-8")
    page = Page(text)
    assert not any("mean ± std" in k for k, _ in page.table("metrics")["rows"])
    assert not [t for t in page.tables if "repeats" in t["class"].split()]
    assert "±" not in text
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["repeats"] == 1 and summary["test_error_std"] is None and summary["test_nll_std"] is None
    assert summary["final"]["test_error_std"] is None and summary["final"]["test_nll_std"] is None
    summary, rows = load(run_dir)
    summary["final"].update(test_error_std=0.0, test_nll_std=0.0)
    assert "±" not in render(summary, rows, list(CLASSES), run_dir)


def test_one_final_seed_has_no_spread():
    def seed(k):
        stats = [EpochStats(1, 0.5, 0.2, 0.4, 0.1 + k)]
        return FinalResult((0, 0, 0, 0, 0), "a", 10, k, stats, 1, None, 0.3 + k, 0.2 + k, 1.0, None, None, [[1]])

    one = FinalRuns([seed(0)]).metrics()
    assert one["repeats"] == 1 and one["test_error_std"] is None and one["test_nll_std"] is None
    assert one["test_error_mean"] == pytest.approx(0.2)
    two = FinalRuns([seed(0), seed(0.1)]).metrics()
    assert two["test_error_std"] == pytest.approx(0.0707107) and two["test_nll_std"] == pytest.approx(0.0707107)


def test_interrupted_run_gets_a_report_with_a_note(tmp_path, monkeypatch):
    def stop(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(RunStore, "finish", stop)  # Ctrl-C just before the final model is committed
    out = tmp_path / "run"
    with pytest.raises(api.Interrupted):
        api.search(_config(generations=1), out=out, data=_data(), device="cpu", workers=1)
    assert not (out / "summary.json").exists() and not (out / "report.html").exists()
    path = report(out)
    page = Page(path.read_text(encoding="utf-8"))
    text = path.read_text(encoding="utf-8")
    summary, _ = load(out)
    assert summary["final"] is None and summary["status"] == "running"
    assert page.title == f"nas4cnn run: {NAME} — {summary['best']['arch']}"  # the best so far
    assert "No final model yet" in text and "nas4cnn search --resume" in text
    assert page.h2 == SECTIONS
    assert len(page.images) == 2  # progression and scatter; no curves or confusion matrix
    assert len(page.table("top")["rows"]) > 1
    timing = dict(page.table("timing")["rows"])
    assert timing["final training"] == "—" and timing["evaluations requested"] == "12"


@pytest.mark.slow
def test_report_from_summary_alone_and_rebuild(run_dir, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(run_dir, copy)
    (copy / "report.html").unlink()
    rebuild(copy)  # rewrites the report too
    assert Page((copy / "report.html").read_text(encoding="utf-8")).h2 == SECTIONS
    (copy / "run.db").unlink()
    for extra in copy.glob("run.db-*"):
        extra.unlink()
    out = report(copy, out=tmp_path / "elsewhere.html")
    assert out == tmp_path / "elsewhere.html"
    a = Page((run_dir / "report.html").read_text(encoding="utf-8"))
    b = Page(out.read_text(encoding="utf-8"))
    assert b.table("top")["rows"] == a.table("top")["rows"] and len(b.images) == 4


@pytest.mark.slow
def test_cli_report_and_bad_input(run_dir, tmp_path, capsys):
    target = tmp_path / "r.html"
    assert main(["report", str(run_dir), "--out", str(target)]) == 0
    assert capsys.readouterr().out.strip() == f"wrote {target}"
    assert target.stat().st_size > 10_000
    (tmp_path / "empty").mkdir()
    (tmp_path / "afile").write_text("x")
    cases = [
        ([str(tmp_path / "missing")], "no run directory"),
        ([str(tmp_path / "empty")], "is not a nas4cnn run directory"),
        ([str(tmp_path / "afile")], "no run directory"),
        ([str(run_dir), "--out", str(tmp_path / "afile" / "r.html")], "afile' is a file"),
        ([str(run_dir), "--out", str(tmp_path)], "--out: expected a file name"),
    ]
    for args, fragment in cases:
        assert main(["report", *args]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("nas4cnn report: error: ") and fragment in err[0], err
    with pytest.raises(RunDirError):
        report(tmp_path / "missing")
    # a missing folder is made, as `search --out` makes its folder
    assert main(["report", str(run_dir), "--out", str(tmp_path / "new" / "sub" / "r.html")]) == 0
    assert (tmp_path / "new" / "sub" / "r.html").stat().st_size > 10_000


@pytest.mark.slow
def test_cli_report_subprocess(run_dir, tmp_path):
    r = subprocess.run([sys.executable, "-m", "nas4cnn", "report", str(tmp_path / "none")], check=False,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1


@pytest.mark.slow
def test_baselines_section(tmp_path, capsys, caplog):
    """`nas4cnn baseline --run RUN` rewrites the run's report with a Baselines section: the bar chart
    it wrote, embedded, and a table of baselines.json's rows."""
    from test_datasets import TINY_SPACE, write_npz

    write_npz(tmp_path / "d.npz", n=40, n_test=12, shape=(8, 8), classes=3)
    (tmp_path / "tiny.toml").write_text(TINY_SPACE)
    run = tmp_path / "run"
    assert main(["search", "--config", str(tmp_path / "tiny.toml"), "--dataset", f"npz:{tmp_path / 'd.npz'}",
                 "--generations", "1", "--population", "2", "--epochs", "1", "--final-epochs", "1",
                 "--workers", "1", "--quiet", "--out", str(run)]) == 0
    assert "Baselines" not in Page((run / "report.html").read_text(encoding="utf-8")).h2
    assert main(["baseline", "--run", str(run), "--repeats", "1", "--quiet"]) == 0, \
        capsys.readouterr().err
    with_baselines = SECTIONS[:5] + ["Baselines"] + SECTIONS[5:]
    page = Page((run / "report.html").read_text(encoding="utf-8"))
    assert page.h2 == with_baselines
    chart = [img for img in page.images if img["alt"].startswith("Test NLL and classification error per model")]
    assert len(chart) == 1 and len(page.images) == 5
    png = (run / "baselines.png").read_bytes()
    assert base64.b64decode(chart[0]["src"].removeprefix("data:image/png;base64,")) == png
    data = json.loads((run / "baselines.json").read_text())
    table = page.table("baselines")["rows"]
    assert table[0] == ["model", "parameters", "test error, mean ± std", "test NLL, mean ± std", "seeds"]
    arch = json.loads((run / "summary.json").read_text())["final"]["arch"]
    assert [r[0] for r in table[1:]] == ["human-cnn", "feed-forward", f"searched {arch}"]
    for want, got in zip(data["rows"], table[1:]):
        assert got[1:] == [f"{want['params']:,}", f"{want['test_error_mean']:.4f}", f"{want['test_nll_mean']:.4f}", "1"]

    # several seeds show their spread, the seed's published figures get their columns, and a missing chart
    # is drawn again from the rows
    for r, (err, nll) in zip(data["rows"], [(0.0716, 0.30), (0.0783, 0.336), (0.0604, 0.193)]):
        r.update(repeats=3, test_error_std=0.0123, published_error=err, published_nll=nll)
    (run / "baselines.json").write_text(json.dumps(data))
    (run / "baselines.png").unlink()
    page = Page(report(run).read_text(encoding="utf-8"))
    table = page.table("baselines")["rows"]
    assert table[0][-2:] == ["seed's published error", "seed's published NLL"]
    assert table[1][2] == f"{data['rows'][0]['test_error_mean']:.4f} ± 0.0123" and table[1][-2:] == ["0.0716", "0.300"]
    (img,) = [i for i in page.images if i["alt"].startswith("Test NLL and classification error")]
    assert base64.b64decode(img["src"].split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"

    # an unreadable baselines.json: a warning, the chart alone
    (run / "baselines.json").write_text("{not json")
    (run / "baselines.png").write_bytes(png)
    with caplog.at_level("WARNING", logger="nas4cnn.outputs.report"):
        page = Page(report(run).read_text(encoding="utf-8"))
    assert "cannot read" in caplog.text and "baselines.json" in caplog.text
    assert page.h2 == with_baselines and len(page.images) == 5
    assert not [t for t in page.tables if "baselines" in t["class"].split()]


def test_networks_skip_failed_partial_and_repeated():
    summary = {"config": RunConfig().override("train", epochs=3).to_dict(), "best": {"genotype": [2, 0, 0, 1, 6]}}
    rows = [
        {"genotype": [0, 0, 0, 1, 0], "arch": "a", "objective": 0.3, "val_error": 0.2, "params": 10, "failed": None,
         "epochs": None},
        {"genotype": [0, 0, 0, 1, 0], "arch": "a", "objective": 0.3, "val_error": 0.2, "params": 10, "failed": None,
         "epochs": None, "cached": True},
        {"genotype": [1, 0, 0, 1, 0], "arch": "b", "objective": None, "val_error": None, "params": 20,
         "status": "failed", "epochs": 3},
        {"genotype": [2, 0, 0, 0, 0], "arch": "c", "objective": 0.1, "val_error": 0.1, "params": 30, "status": "ok",
         "epochs": 2},
        {"genotype": [2, 0, 0, 1, 6], "arch": "d", "objective": 0.2, "val_error": 0.1, "params": 40, "status": "ok",
         "epochs": 3},
        {"genotype": [2, 0, 0, 1, 1], "arch": "e", "objective": 0.2, "val_error": 0.1, "params": 40, "status": "ok",
         "epochs": 3},
    ]
    nets = networks(rows, summary)
    assert [(r["arch"], r["chosen"]) for r in nets] == [("d", True), ("e", False), ("a", False)]


# --- a real browser ----------------------------------------------------------------------------------


def _browser_or_skip():
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    missing = [name for name, found in (("chromium", chromium), ("chromedriver", driver)) if not found]
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("the selenium package")
    if missing:
        why = (f"the headless-browser check needs {', '.join(missing)} "
               "(apt-get install chromium chromium-driver; pip install -e '.[dev]')")
        if os.environ.get("NAS4CNN_REQUIRE_BROWSER") == "1":
            pytest.fail(f"NAS4CNN_REQUIRE_BROWSER=1 but {why}")
        pytest.skip(why)
    return chromium, driver


@pytest.mark.slow
def test_report_renders_in_headless_chromium(run_dir):
    chromium, chromedriver = _browser_or_skip()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--window-size=1200,1000"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(executable_path=chromedriver), options=options)
    try:
        driver.get((run_dir / "report.html").resolve().as_uri())
        summary = json.loads((run_dir / "summary.json").read_text())
        assert driver.title == f"nas4cnn run: {NAME} — {summary['final']['arch']}"
        assert [h.text for h in driver.find_elements(By.TAG_NAME, "h2")] == SECTIONS
        images = driver.find_elements(By.TAG_NAME, "img")
        assert len(images) == 4
        for img in images:
            done, width, height = driver.execute_script(
                "const i = arguments[0]; return [i.complete, i.naturalWidth, i.naturalHeight];", img)
            assert done and width > 0 and height > 0, img.get_attribute("alt")
            assert img.size["width"] > 100  # laid out, not collapsed
        tables = driver.find_elements(By.TAG_NAME, "table")
        assert len(tables) >= 5 and all(t.size["height"] > 0 for t in tables if t.is_displayed())
        top = driver.find_element(By.CSS_SELECTOR, "table.top")
        assert len(top.find_elements(By.CSS_SELECTOR, "tbody tr")) == 10
        assert NAME in driver.find_element(By.TAG_NAME, "h1").text  # shown as text, not run
        # nothing was fetched from anywhere: the page and its data URIs are all there is
        fetched = driver.execute_script(
            "return performance.getEntriesByType('resource').map(e => e.name)"
            ".filter(n => !n.startsWith('data:'))")
        assert fetched == []
    finally:
        driver.quit()
