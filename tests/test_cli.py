import contextlib
import importlib
import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from nas4cnn import load_run
from nas4cnn.cli import main
from nas4cnn.core import rundir
from nas4cnn.core.errors import RunDirError

SMALL = ["--generations", "2", "--population", "4", "--epochs", "1", "--final-epochs", "2", "--quiet"]


def cli(*args):
    """Run the real command in a subprocess, as a user would."""
    return subprocess.run(
        [sys.executable, "-m", "nas4cnn", *map(str, args)], capture_output=True, text=True, timeout=300
    )


def _not_json(constant):
    raise ValueError(f"{constant} is not JSON")


@pytest.mark.slow
def test_small_search_end_to_end(tmp_path):
    out = tmp_path / "run"
    r = cli("search", *SMALL, "--seed", "3", "--out", out)
    assert r.returncode == 0, r.stderr
    assert "best architecture" in r.stdout and "test error" in r.stdout
    for name in ("summary.json", "evaluations.jsonl", "objective.png", "final_curves.png", "model.pt"):
        assert (out / name).stat().st_size > 0
    s = json.loads((out / "summary.json").read_text(), parse_constant=_not_json)  # strict JSON: no NaN
    assert s["n_evaluations"] == 4 * 3
    retrain = s["final"]["trainval_history"]  # on train + validation: nothing left to validate on
    assert retrain and all(h["val_error"] is None and h["train_loss"] > 0 for h in retrain)
    assert len(s["global_best"]) == len(s["local_best"]) == 3
    assert all(b <= a for a, b in zip(s["global_best"], s["global_best"][1:]))
    assert s["global_best"][-1] == pytest.approx(s["best"]["objective"])
    assert s["config"]["search"]["seed"] == 3 and s["nmax"] == 206_742
    assert 0 <= s["test_error"] <= 1 and s["test_nll"] > 0
    lines = [json.loads(x) for x in (out / "evaluations.jsonl").read_text().splitlines()]
    assert len(lines) == 12 and {x["generation"] for x in lines} == {0, 1, 2}
    assert min(x["objective"] for x in lines) == pytest.approx(s["best"]["objective"])

    # the saved model rebuilds and, with its input normalisation, gives the reported test error
    from nas4cnn.data.dataset import Split
    from nas4cnn.data.sources.digits import load_digits
    from nas4cnn.nn.checkpoint import load_bundle
    from nas4cnn.nn.train import evaluate

    run = load_run(out)
    norm = load_bundle(out / "model.pt").normalization
    test = load_digits().test
    nll, err = evaluate(run.model, Split(norm.apply(test.x), test.y))
    assert err == pytest.approx(s["test_error"]) and nll == pytest.approx(s["test_nll"], rel=1e-4)


@pytest.mark.slow
def test_same_seed_same_result(tmp_path):
    summaries = []
    for name in ("a", "b"):
        assert main(["search", *SMALL, "--seed", "5", "--out", str(tmp_path / name)]) == 0
        s = json.loads((tmp_path / name / "summary.json").read_text())
        summaries.append({k: s[k] for k in ("best", "global_best", "local_best", "test_error", "test_nll")})
    assert summaries[0] == summaries[1]
    a = torch.load(tmp_path / "a" / "model.pt", weights_only=True)["state_dict"]
    b = torch.load(tmp_path / "b" / "model.pt", weights_only=True)["state_dict"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_evaluate_json(capsys):
    assert main(["evaluate", "--genotype", "2,0,0,1,6", "--genotype", "conv8k5-tanh-avgpool1-fc10",
                 "--epochs", "1", "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["genotype"] for r in rows] == [[2, 0, 0, 1, 6], [0, 1, 2, 2, 0]]
    assert rows[0]["arch"] == "conv32k3-relu-maxpool2-fc70" and rows[0]["params"] == 36_940
    for r in rows:
        assert r["objective"] == pytest.approx(r["val_error"] + 0.01 * r["params"] / 206_742)
        assert r["val_nll"] > 0


def test_train_json_and_saved_model(tmp_path, capsys):
    assert main(["train", "--genotype", "conv8k3-relu-maxpool2-fc20", "--epochs", "2", "--json",
                 "--out", str(tmp_path / "t")]) == 0
    m = json.loads(capsys.readouterr().out)
    assert m["epochs"] == 2 and 0 <= m["test_error"] <= 1 and m["test_nll"] > 0
    assert (tmp_path / "t" / "model.pt").exists() and (tmp_path / "t" / "final_curves.png").exists()


def test_space_command(capsys):
    assert main(["space", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["size"] == 1200 and info["nmax"] == 206_742


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["evaluate", "--genotype", "2,0,9,1,6"], "gene 'activation' must be an index in 0..4; got 9"),
        (["evaluate", "--genotype", "2,0,0,1"], "expected 5 genes"),
        (["evaluate", "--genotype", "conv32k3-swish-maxpool2-fc70"], "activation 'swish' is not in the space"),
        (["search", "--lambda", "-1"], "--lambda) must be a finite number >= 0; got -1"),
        (["search", "--population", "1"], "--population) must be an integer >= 2; got 1"),
        (["search", "--epochs", "0"], "--epochs) must be an integer >= 1; got 0"),
        (["train", "--genotype", "2,0,0,1,6", "--epochs", "0"], "--epochs must be an integer >= 1; got 0"),
        (["search", "--epochs", "many"], "argument --epochs: invalid int value: 'many'"),
        (["search", "--config", "missing.toml"], "--config: no such file"),
        (["search", "--bogus"], "unrecognized arguments: --bogus"),
        (["search", "--ray-address", "10.0.0.1:6379"], "--ray-address 10.0.0.1:6379 is for --executor ray"),
    ],
)
@pytest.mark.slow
def test_bad_input_is_one_line_exit_2(tmp_path, args, fragment):
    out = tmp_path / "never"
    if args[0] == "search":
        args = args + ["--out", str(out)]
    r = cli(*args)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert fragment in lines[0]
    assert "Traceback" not in r.stderr and r.stdout == ""
    assert not out.exists()


def test_bad_config_files_through_cli(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text("[search]\ngenerashuns = 3\n")
    r = cli("search", "--config", cfg, "--out", tmp_path / "never")
    assert r.returncode == 2 and "unknown key 'generashuns'" in r.stderr and "did you mean 'generations'" in r.stderr
    cfg.write_bytes(b"\xff\xfe[")
    r = cli("space", "--config", cfg)
    assert r.returncode == 2 and "cannot read" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "never").exists()


@pytest.mark.slow
def test_out_holding_a_run_is_not_overwritten(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "summary.json").write_text("{}")
    r = cli("search", *SMALL, "--out", out)
    assert r.returncode == 2 and "already holds a run" in r.stderr
    assert (out / "summary.json").read_text() == "{}"


@pytest.mark.slow
def test_diverging_training_fails_candidates_not_the_program(tmp_path):
    import sqlite3

    cfg = tmp_path / "c.toml"
    cfg.write_text("[train]\nlr = 1e30\n")  # 1e6 only makes the loss huge: log-softmax is stable
    out = tmp_path / "run"
    r = cli("search", "--config", cfg, *SMALL, "--out", out, "--workers", "1")
    assert r.returncode == 1, r.stderr
    lines = r.stderr.strip().splitlines()
    assert "Traceback" not in r.stderr
    assert lines[-1].startswith("nas4cnn search: failed: every one of the 12 evaluations failed to train")
    rows = sqlite3.connect(out / "run.db").execute("SELECT status, reason FROM evaluations").fetchall()
    assert rows and all(s == "failed" and r.startswith("loss became") for s, r in rows)
    gens = sqlite3.connect(out / "run.db").execute("SELECT count(*) FROM generations").fetchone()[0]
    assert gens == 3  # every generation ran


def test_unwritable_outputs_are_refused_before_the_work(tmp_path, monkeypatch, capsys):
    blocked = tmp_path / "read-only"
    blocked.mkdir()
    access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: access(p, mode) and os.path.abspath(p) != str(blocked))

    def work(*args, **kwargs):
        raise AssertionError("the work started before the output was checked")

    monkeypatch.setattr(importlib.import_module("nas4cnn.tables.tabulate"), "tabulate", work)
    monkeypatch.setattr("nas4cnn.api.tables._replay_pool", work)
    for args in (["tabulate", "--epochs", "1", "--seeds", "1", "--out", str(blocked / "t.json.gz")],
                 ["compare", "--repeats", "1", "--out", str(blocked / "c")],
                 ["compare", "--repeats", "1", "--out", str(blocked / "new" / "c")],
                 ["compare", "--repeats", "1", "--out", str(tmp_path / "t.json.gz" / "c")]):
        (tmp_path / "t.json.gz").write_text("a file")
        assert main(args) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "--out: cannot" in err, err
    assert list(blocked.iterdir()) == []


def test_a_failed_atomic_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "out"
    (target / "inside").mkdir(parents=True)  # a non-empty folder: the final rename fails
    with pytest.raises(RunDirError, match="--out: cannot write"):
        with rundir.atomic_path(target, "--out") as tmp:
            tmp.write_text("new")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"] and (target / "inside").is_dir()
    good = tmp_path / "good.json"
    rundir.write_json(good, {"a": float("nan"), "b": [float("inf"), 1.5]})
    assert json.loads(good.read_text(), parse_constant=_not_json) == {"a": None, "b": [None, 1.5]}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["good.json", "out"]


def test_help_space_and_argument_errors_load_no_heavy_library():
    """`--help`, `space` and a bad flag answer at once: they import no PyTorch, Matplotlib or
    scikit-learn (the speed itself is measured by benchmarks/bench_cli.py)."""
    probe = ("import contextlib, io, sys\n"
             "from nas4cnn.cli import main\n"
             "for argv in {argvs!r}:\n"
             "    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):\n"
             "        try:\n"
             "            main(argv)\n"
             "        except SystemExit:\n"
             "            pass\n"
             "print(sorted({{m.split('.')[0] for m in sys.modules}} & {{'torch', 'matplotlib', 'sklearn'}}))\n")
    argvs = [["--help"], ["search", "--help"], ["space"], ["space", "--json"], ["search", "--epochs", "many"],
             ["search", "--population", "1"], ["train", "--generation", "5"], [], ["--version"]]
    r = subprocess.run([sys.executable, "-c", probe.format(argvs=argvs)], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"


def test_version_bare_command_and_no_abbreviations(capsys):
    import nas4cnn

    r = cli("--version")
    assert r.returncode == 0 and r.stdout.strip() == f"nas4cnn {nas4cnn.__version__}" == "nas4cnn 0.1.0"
    r = cli()  # a bare `nas4cnn` lists the commands, as a usage error: on stderr, exit 2
    assert r.returncode == 2 and r.stdout == ""
    assert "search" in r.stderr and "space" in r.stderr and "COMMAND" in r.stderr
    for argv, message in ((["search", "--generation", "5"], "nas4cnn search: error: unrecognized arguments: --generation 5"),
                          (["space", "--data", "mnist"], "nas4cnn space: error: unrecognized arguments: --data mnist"),
                          (["train", "--geno", "2,0,0,1,6"], "the following arguments are required: --genotype")):
        r = cli(*argv)
        assert r.returncode == 2 and message in r.stderr, r.stderr


def test_help_shows_each_settings_defaults_from_its_declaration():
    from nas4cnn.cli.flags import default_text
    from nas4cnn.core.config import RECIPE_VALUES, SETTINGS

    assert default_text(SETTINGS["search.final_epochs"]).startswith("default 0 = chosen from the data's size: 100")
    assert default_text(SETTINGS["search.final_epochs"]).endswith("; --recipe seed: 40")
    assert default_text(SETTINGS["train.aug_shift"]) == "default 1; --recipe seed: 0; 0 = off"
    assert default_text(SETTINGS["search.final_patience"]) == "default 0 = off"
    assert default_text(SETTINGS["search.final_trainval"]) == "on with --recipe seed"
    assert default_text(SETTINGS["search.distinct_survivors"]) == ""
    r = cli("search", "--help")
    assert r.returncode == 0
    text = " ".join(r.stdout.split()).replace("- ", "-")  # argparse wraps lines at hyphens too
    shown = [s for s in SETTINGS.values() if s.flag and f"--{s.flag} " in text]
    assert len(shown) > 20
    for s in shown:
        assert f"({default_text(s)})" in text if default_text(s) else True, s.flag
    assert ("--final-epochs FINAL_EPOCHS most epochs to retrain the winner (default 0 = chosen from the data's size: "
            "100, fewer above 8,000 training images (800,000 / images, at least 15); --recipe seed: 40)") in text
    assert "most training epochs (default 0 = chosen from the data's size: 100," in " ".join(
        cli("train", "--help").stdout.split())
    assert set(RECIPE_VALUES) == {"default", "seed"}


def test_strategy_names_come_from_the_registry():
    from nas4cnn.strategies import STRATEGIES

    r = cli("search", "--help")
    text = " ".join(r.stdout.split()).replace("- ", "-")
    assert all(name in text for name in STRATEGIES)
    r = cli("search", "--strategy", "evolutoin")
    assert r.returncode == 2 and "invalid choice: 'evolutoin'" in r.stderr and "'nsga2'" in r.stderr


def test_space_of_the_bundled_digits_is_the_loaded_data_sets():
    from nas4cnn import api
    from nas4cnn.cli.space import BUNDLED, space_info
    from nas4cnn.core.config import RunConfig
    from nas4cnn.data.sources.digits import load_digits

    data = load_digits()
    assert BUNDLED["digits"] == (data.input_shape, data.num_classes)
    for config in (RunConfig(), RunConfig().override("search", lam=0.5)):
        assert space_info(config) == api.space_info(config)
    assert space_info(RunConfig().override("data", val_fraction=0.2)) is None  # loaded: its warning is kept
    r = cli("space", "--config", "/dev/null")
    assert r.returncode == 0 and "206,742 parameters (digits: 1x8x8 inputs, 10 classes)" in r.stdout


def test_one_repeat_shows_no_spread():
    from nas4cnn.cli.output import spread, test_rows

    assert spread(0.05, 0.0, 1) == "0.0500"
    assert spread(0.05, None, 3) == "0.0500"
    assert spread(0.05, 0.01, 3) == "0.0500 ± 0.0100"
    one = {"repeats": 1, "test_error": 0.05, "test_nll": 0.2, "test_error_mean": 0.05, "test_error_std": 0.0,
           "test_nll_mean": 0.2, "test_nll_std": 0.0, "per_seed": [{"test_error": 0.05, "test_nll": 0.2}]}
    assert "±" not in str(test_rows(one))
    three = {**one, "repeats": 3, "test_error_std": 0.01, "test_nll_std": None,
             "per_seed": [{"test_error": 0.05, "test_nll": 0.2}] * 3}
    rows = dict(test_rows(three))
    assert rows["test error (3 seeds)"] == "0.0500 ± 0.0100" and rows["test NLL (3 seeds)"] == "0.2000"


def _committed(db) -> bool:
    """Whether the run's store holds a trained network yet."""
    import sqlite3

    if not db.exists():
        return False
    try:
        with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1)) as c:
            return c.execute("SELECT count(*) FROM evaluations").fetchone()[0] > 0
    except sqlite3.Error:  # being created
        return False


@pytest.mark.slow
def test_sigterm_stops_a_search_as_ctrl_c_and_it_resumes(tmp_path):
    out = tmp_path / "run"
    args = ["search", "--generations", "3", "--population", "4", "--epochs", "1", "--final-epochs", "2", "--quiet",
            "--workers", "2", "--out", str(out)]
    p = subprocess.Popen([sys.executable, "-m", "nas4cnn", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    deadline = time.monotonic() + 120
    while not _committed(out / "run.db") and p.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert p.poll() is None, p.communicate()  # stopped mid-search, after its first commit
    p.send_signal(signal.SIGTERM)  # as a cluster scheduler does before it kills a job
    _, err = p.communicate(timeout=120)
    assert p.returncode == 130, err
    assert f"interrupted; resume with: nas4cnn search --resume {out}" in err and "Traceback" not in err
    assert not (out / "summary.json").exists()
    r = cli("search", "--resume", out, "--workers", "2")
    assert r.returncode == 0, r.stderr
    assert json.loads((out / "summary.json").read_text())["n_evaluations"] == 4 * 4
