import json
import os
import signal
import sqlite3
import subprocess
import sys

import pytest

from nas4cnn.searching.store import SCHEMA_VERSION, RunStore

pytestmark = pytest.mark.slow  # every test here runs the CLI in processes (or a Ray cluster)

ARGS = ["--generations", "4", "--population", "6", "--epochs", "1", "--final-epochs", "2", "--seed", "7", "--quiet"]
KEYS = ("best", "global_best", "local_best", "n_evaluations", "n_trained", "n_failed", "test_error", "test_nll",
        "config", "config_hash", "final")


# The CLI as a terminal runs it: with Python's Ctrl-C handler, even where an earlier test (Ray's
# processes) left SIGINT ignored in this test process, which children would otherwise inherit.
MAIN = ("import runpy, signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
        "sys.argv[0] = 'nas4cnn'; runpy.run_module('nas4cnn', run_name='__main__', alter_sys=True)")


def cli(*args, crash_after=None, interrupt_after=None, workers=1):
    """Run the CLI; it kills itself after `crash_after` commits, or gets Ctrl-C after `interrupt_after`."""
    env = dict(os.environ)
    hooks = {"NAS4CNN_CRASH_AFTER_COMMITS": crash_after, "NAS4CNN_INTERRUPT_AFTER_COMMITS": interrupt_after}
    for name, value in hooks.items():
        env.pop(name, None)
        if value:
            env[name] = str(value)
    extra = ["--workers", str(workers)] if args[0] == "search" else []
    return subprocess.run([sys.executable, "-c", MAIN, *map(str, args), *extra],
                          capture_output=True, text=True, timeout=300, env=env)


def numbers(path):
    s = json.loads((path / "summary.json").read_text())
    final = dict(s["final"])
    final.pop("seconds")
    final["per_seed"] = [{k: v for k, v in r.items() if k != "seconds"} for r in final["per_seed"]]
    return {**{k: s[k] for k in KEYS if k != "final"}, "final": final}


def evaluation_lines(path):
    rows = [json.loads(line) for line in (path / "evaluations.jsonl").read_text().splitlines()]
    return [{k: v for k, v in r.items() if k != "seconds"} for r in rows]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    out = tmp_path_factory.mktemp("ref") / "run"
    r = cli("search", *ARGS, "--out", out)
    assert r.returncode == 0, r.stderr
    return out


@pytest.mark.parametrize("workers", [1, 2])
def test_killed_runs_resume_to_the_same_result(tmp_path, reference, workers):
    out = tmp_path / "run"
    r = cli("search", *ARGS, "--out", out, crash_after=3, workers=workers)
    assert r.returncode == -signal.SIGKILL
    assert not (out / "summary.json").exists()
    # kill again at other points: after an evaluation commit, after a generation commit, ...
    generations_seen = []
    for k in (1, 2, 4, 3):
        r = cli("search", "--resume", out, crash_after=k, workers=workers)
        assert r.returncode in (-signal.SIGKILL, 0), r.stderr
        db = sqlite3.connect(out / "run.db")
        generations_seen.append(db.execute("SELECT count(*) FROM generations").fetchone()[0])
        db.close()
    assert generations_seen == sorted(generations_seen)  # the generation counter never goes back
    r = cli("search", "--resume", out, workers=workers)
    assert r.returncode == 0, r.stderr
    assert numbers(out) == numbers(reference)
    db = sqlite3.connect(out / "run.db")
    rows = db.execute("SELECT canonical FROM evaluations").fetchall()
    assert len(rows) == len(set(rows)) == numbers(reference)["n_trained"]
    assert evaluation_lines(out) == evaluation_lines(reference)
    assert len(evaluation_lines(out)) == numbers(reference)["n_evaluations"] == 30


def test_killed_after_finishing_before_writing_outputs(tmp_path, reference):
    out = tmp_path / "run"
    out.mkdir()
    for name in ("run.db", "model.pt"):
        (out / name).write_bytes((reference / name).read_bytes())
    r = cli("search", "--resume", out)
    assert r.returncode == 0, r.stderr
    assert numbers(out) == numbers(reference)
    assert (out / "report.html").stat().st_size > 0


def test_rebuild_from_store_alone(tmp_path, reference):
    out = tmp_path / "copy"
    out.mkdir()
    (out / "run.db").write_bytes((reference / "run.db").read_bytes())
    r = cli("rebuild", out)
    assert r.returncode == 0, r.stderr
    assert json.loads((out / "summary.json").read_text())["best"] == numbers(reference)["best"]
    assert (out / "evaluations.jsonl").read_text() == (reference / "evaluations.jsonl").read_text()
    assert (out / "objective.png").exists() and (out / "final_curves.png").exists()


def test_resume_refusals(tmp_path, reference):
    r = cli("search", "--resume", reference)
    assert r.returncode == 2 and "already finished" in r.stderr
    r = cli("search", "--resume", tmp_path / "nope")
    assert r.returncode == 2 and "no run directory" in r.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    r = cli("search", "--resume", empty)
    assert r.returncode == 2 and "has no run.db" in r.stderr
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "run.db").write_bytes(b"this is not sqlite" * 100)
    r = cli("search", "--resume", bad)
    assert r.returncode == 2 and "not a readable run store" in r.stderr
    assert (bad / "run.db").read_bytes() == b"this is not sqlite" * 100
    for r in (cli("search", "--resume", bad), cli("search", "--resume", empty)):
        assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr


def test_resume_with_other_config_or_schema_is_refused(tmp_path):
    out = tmp_path / "run"
    r = cli("search", *ARGS, "--out", out, crash_after=2)
    assert r.returncode == -signal.SIGKILL
    r = cli("search", "--resume", out, "--lambda", "0.5")
    assert r.returncode == 2 and "search.lambda is 0.01 in the run but 0.5 here" in r.stderr
    assert "generations" not in r.stderr  # only what was given is compared, not the defaults
    r = cli("search", "--resume", out, "--recipe", "default")  # a recipe is a whole configuration
    assert r.returncode == 2 and "search.generations is 4 in the run but 50 here" in r.stderr
    r = cli("search", "--resume", out, "--epochs", "1", "--seed", "7")
    assert r.returncode == 0, r.stderr  # some of the run's own settings repeated are fine
    db = sqlite3.connect(out / "run.db")
    db.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION + 1),))
    db.execute("UPDATE meta SET value = 'running' WHERE key = 'status'")
    db.commit()
    db.close()
    r = cli("search", "--resume", out)
    assert r.returncode == 2 and f"schema version '{SCHEMA_VERSION + 1}'" in r.stderr


@pytest.mark.parametrize("workers", [1, 2])
def test_ctrl_c_stops_cleanly_and_says_how_to_resume(tmp_path, reference, workers):
    out = tmp_path / "run"
    p = cli("search", *ARGS, "--out", out, interrupt_after=3, workers=workers)  # Ctrl-C mid-search
    assert p.returncode == 130, p.stderr
    assert f"resume with: nas4cnn search --resume {out}" in p.stderr and "Traceback" not in p.stderr
    assert not (out / "summary.json").exists()
    r = cli("search", "--resume", out, workers=workers)
    assert r.returncode == 0, r.stderr
    assert numbers(out) == numbers(reference)


def test_a_run_in_use_is_neither_resumed_nor_rebuilt(tmp_path):
    out = tmp_path / "run"
    r = cli("search", *ARGS, "--out", out, crash_after=2)
    assert r.returncode == -signal.SIGKILL
    store = RunStore.open(out)  # as the search writing it holds it
    try:
        generations = len(store.generations())
        for r in (cli("search", "--resume", out), cli("rebuild", out)):
            assert r.returncode == 2 and "is in use by another nas4cnn process" in r.stderr
            assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr
        assert len(store.generations()) == generations
        reader = RunStore.open(out, write=False)  # reading it (the report) is fine
        assert len(reader.generations()) == generations
        reader.close()
    finally:
        store.close()
    r = cli("search", "--resume", out)  # the lock goes with the store
    assert r.returncode == 0, r.stderr
