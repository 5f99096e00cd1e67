import importlib
import json
import math
import signal
import sqlite3

import pytest
from test_engine import SPACE, assert_same_weights
from test_resume import cli, evaluation_lines, numbers

from nas4cnn.core.config import TrainConfig
from nas4cnn.core.early_stop import MIN_HISTORY, StopRule, checkpoints
from nas4cnn.core.record import Status
from nas4cnn.nn.engine import train_group
from nas4cnn.nn.groups import Candidate
from nas4cnn.searching.store import SCHEMA_VERSION
from nas4cnn.tables.tabulate import Table

compare = importlib.import_module("nas4cnn.tables.compare")


def test_checkpoints_are_the_quarters():
    assert checkpoints(8) == (2, 4, 6)
    assert checkpoints(2) == (1,)
    assert checkpoints(1) == ()


def test_thresholds_need_enough_history():
    rule = StopRule(0.75, 8)
    for k in range(MIN_HISTORY - 1):
        rule.add({2: float(k), 4: float(k)})
    assert rule.thresholds() == {2: math.inf, 4: math.inf, 6: math.inf}  # nothing can stop yet
    rule.add({2: float(MIN_HISTORY - 1)})
    assert rule.thresholds() == {2: pytest.approx(0.75 * (MIN_HISTORY - 1)), 4: math.inf, 6: math.inf}
    with pytest.raises(ValueError):
        StopRule(1.0, 8)


@pytest.mark.parametrize("optimizer", ["adamax", "adam"])
def test_a_stopped_candidate_leaves_the_group_without_disturbing_the_others(small_data, optimizer):
    cfg = TrainConfig(batch_size=16, optimizer=optimizer)
    a = Candidate(SPACE.decode((1, 0, 0, 1, 3)), 1)
    b = Candidate(SPACE.decode((1, 1, 2, 1, 8)), 2, penalty=10.0)  # its objective is above 1 whatever it learns
    c = Candidate(SPACE.decode((1, 0, 3, 1, 5)), 3)
    group, hists, failed = train_group([a, b, c], small_data, cfg, 3, seed=0, stop={1: 1.0, 2: 1.0})
    assert failed[0] is None and failed[2] is None
    assert failed[1].status is Status.STOPPED and failed[1].reason.startswith("stopped after epoch 1: objective")
    assert [len(h) for h in hists] == [3, 1, 3]
    assert not math.isnan(hists[1][0].val_error)  # measured where it stopped
    assert group.archs == [a.arch, c.arch]
    solo, solo_hists, _ = train_group([a, c], small_data, cfg, 3, seed=0)
    for trained, ref in zip(group.extract(), solo.extract()):
        for p, q in zip(trained.parameters(), ref.parameters()):
            assert_same_weights(p, q, cfg.lr, trained.arch.name)
    assert hists[0][-1].val_error == solo_hists[0][-1].val_error


def test_nothing_stops_below_the_threshold(small_data):
    cfg = TrainConfig(batch_size=16)
    a = Candidate(SPACE.decode((1, 0, 0, 1, 3)), 1)
    _, hists, failed = train_group([a], small_data, cfg, 2, seed=0, stop={1: math.inf})
    assert failed == [None] and len(hists[0]) == 2


def test_replay_counts_the_epochs_a_stopped_training_spent():
    table = Table.load()
    full = table.epochs
    plain = [compare.replay(table, "evolution", r, 0.01, 4000, 20) for r in range(6)]
    stopped = [compare.replay(table, "evolution", r, 0.01, 4000, 20, stop=0.75) for r in range(6)]
    assert all(r.trained_epochs == full * r.trained_networks for r in plain)
    # some trainings stopped at a checkpoint, so the epochs are no longer a multiple of the networks
    assert any(r.trained_epochs < full * r.trained_networks for r in stopped)
    assert sum(r.trained_epochs for r in stopped) / sum(r.trained_networks for r in stopped) < full


ARGS = ["--generations", "4", "--population", "6", "--epochs", "2", "--final-epochs", "1", "--seed", "3",
        "--early-stop", "0.5", "--quiet"]


@pytest.mark.slow
def test_search_with_early_stop_is_reproducible_and_resumes_to_the_same_result(tmp_path):
    ref = tmp_path / "ref"
    r = cli("search", *ARGS, "--out", ref)
    assert r.returncode == 0, r.stderr
    s = json.loads((ref / "summary.json").read_text())
    assert s["n_stopped"] > 0 and s["config"]["search"]["early_stop"] == 0.5
    rows = evaluation_lines(ref)
    stopped = [x for x in rows if x["status"] == "stopped"]
    assert stopped and all(x["objective"] is None and set(x["checks"]) == {"1"} for x in stopped)
    assert s["best"]["arch"] not in {x["arch"] for x in stopped}

    out = tmp_path / "run"
    r = cli("search", *ARGS, "--out", out, crash_after=4, workers=2)
    assert r.returncode == -signal.SIGKILL
    r = cli("search", "--resume", out, workers=2)
    assert r.returncode == 0, r.stderr
    assert numbers(out) == numbers(ref)
    assert evaluation_lines(out) == rows

    # a store written before early stopping existed (schema 1) is upgraded when opened
    db = sqlite3.connect(out / "run.db")
    db.execute("ALTER TABLE evaluations DROP COLUMN checks")
    db.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
    db.commit()
    db.close()
    r = cli("rebuild", out)
    assert r.returncode == 0, r.stderr
    db = sqlite3.connect(out / "run.db")
    assert db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == (str(SCHEMA_VERSION),)
    db.close()


@pytest.mark.parametrize("value", ["1.5", "-0.1", "1"])
def test_bad_early_stop_is_one_line(value):
    r = cli("search", "--early-stop", value, "--generations", "0")
    assert r.returncode == 2
    assert r.stderr.strip().count("\n") == 0 and "early_stop (--early-stop)" in r.stderr and "Traceback" not in r.stderr


def test_a_group_where_every_candidate_stops_ends_early(small_data):
    cfg = TrainConfig(batch_size=16)
    cands = [Candidate(SPACE.decode((1, 0, 0, 1, 3)), 1), Candidate(SPACE.decode((1, 0, 1, 1, 4)), 2)]
    group, hists, failed = train_group(cands, small_data, cfg, 2, seed=0, stop={1: -1.0})  # every one is above
    assert [f.status for f in failed] == [Status.STOPPED, Status.STOPPED]
    assert [len(h) for h in hists] == [1, 1]
