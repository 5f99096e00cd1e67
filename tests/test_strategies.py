"""Contract tests run over every registered strategy."""

import json
import math

import pytest

from nas4cnn.core.pareto import pareto_front
from nas4cnn.core.record import Evaluation
from nas4cnn.core.space import SearchSpace
from nas4cnn.strategies import STRATEGIES, make_strategy
from nas4cnn.strategies.local_search import neighbours

SPACE = SearchSpace()


def fake(g, epochs=8):
    err = ((g[0] * 7 + g[1] * 3 + g[2] * 5 + g[3] * 11 + g[4]) % 13) / 13 + 1 / (1 + epochs)
    params = (g[0] + 1) * 1000 + g[4] * 100
    return Evaluation(genotype=tuple(g), arch=SPACE.name(g), params=params, epochs=epochs, val_error=err,
                      objective=err + 0.01 * params / 4000)


def drive(strategy, steps):
    asked = []
    for _ in range(steps):
        if getattr(strategy, "done", False):
            break
        gs = strategy.ask()
        epochs = getattr(strategy, "epochs", 8)
        asked.append((list(gs), epochs))
        strategy.tell(gs, [fake(g, epochs) for g in gs])
    return asked


@pytest.fixture(params=sorted(STRATEGIES))
def name(request):
    if request.param.endswith("optuna-tpe"):
        pytest.importorskip("optuna")
    return request.param


def test_asks_valid_genotypes(name):
    for gs, epochs in drive(make_strategy(name, SPACE, population=8, seed=1), 12):
        assert gs and 1 <= epochs <= 8
        for g in gs:
            assert SPACE.validate(g) == tuple(g)


def test_reproducible_from_seed(name):
    a = drive(make_strategy(name, SPACE, population=8, seed=5), 8)
    b = drive(make_strategy(name, SPACE, population=8, seed=5), 8)
    assert a == b


def test_resumable_from_state(name):
    whole = drive(make_strategy(name, SPACE, population=8, seed=9), 10)
    first = make_strategy(name, SPACE, population=8, seed=9)
    drive(first, 4)
    state = first.state_dict()
    import json

    state = json.loads(json.dumps(state))  # what the store keeps
    second = make_strategy(name, SPACE, population=8, seed=12345)
    second.load_state_dict(state)
    assert drive(second, 6) == whole[4:]


def test_grid_is_exhaustive():
    grid = make_strategy("grid", SPACE, population=50, seed=0)
    seen = [g for gs, _ in drive(grid, 1000) for g in gs]
    assert len(seen) == len(set(seen)) == 900 and grid.done  # avg1 and max1 are one network


def test_local_search_neighbourhood():
    ns = neighbours(SPACE, (2, 0, 0, 1, 6))
    assert len(ns) == 2 + 1 + 4 + 2 + 9  # avg1 and max1 are the same network
    assert all(sum(a != b for a, b in zip(n, (2, 0, 0, 1, 6))) == 1 for n in ns)


def test_hyperband_halves_and_grows_epochs():
    hb = make_strategy("hyperband", SPACE, population=8, seed=0)
    steps = drive(hb, 4)
    assert [e for _, e in steps] == [1, 2, 4, 8]
    assert [len(g) for g, _ in steps] == [8, 4, 2, 1]


def test_hyperband_around_a_strategy_draws_brackets_from_it_and_tells_it_the_results():
    hb = make_strategy("hyperband+evolution", SPACE, population=8, seed=0)
    steps = drive(hb, 5)
    assert [e for _, e in steps] == [1, 2, 4, 8, 2]  # the next bracket starts at 2 epochs
    first = steps[0][0]
    assert [len(g) for g, _ in steps[:4]] == [8, 4, 2, 1]
    inner = hb.inner
    assert inner.generation == 1  # told once, at the end of the first bracket
    # it was told each candidate's result at the most epochs it reached
    reached = {}
    for gs, e in steps[:4]:
        for g in gs:
            reached[tuple(g)] = e
    told = {g: o for g, o in inner.population}
    for g, o in told.items():
        assert o == pytest.approx(fake(g, reached[g]).objective)
    assert set(told) <= set(map(tuple, first))
    assert steps[4][0] != first  # the second bracket is the evolution's next generation


def test_pareto_front():
    pts = [((0,), 0.1, 100.0), ((1,), 0.2, 50.0), ((2,), 0.3, 60.0), ((3,), math.inf, 1.0), ((4,), 0.05, 500.0)]
    assert [p[0] for p in pareto_front(pts)] == [(1,), (0,), (4,)]


@pytest.mark.slow
@pytest.mark.parametrize("strategy", sorted(STRATEGIES))
def test_every_strategy_runs_a_search_and_resumes(tmp_path, strategy):
    import json
    import os
    import signal
    import subprocess
    import sys

    if strategy == "optuna-tpe":
        pytest.importorskip("optuna")
    args = ["search", "--strategy", strategy, "--generations", "3", "--population", "4", "--epochs", "2",
            "--final-epochs", "1", "--seed", "2", "--quiet", "--workers", "1"]

    def run(*extra, crash=None):
        env = {**os.environ}
        env.pop("NAS4CNN_CRASH_AFTER_COMMITS", None)
        if crash:
            env["NAS4CNN_CRASH_AFTER_COMMITS"] = str(crash)
        return subprocess.run([sys.executable, "-m", "nas4cnn", *args[:1], *extra, *args[1:]],
                              capture_output=True, text=True, timeout=300, env=env)

    r = run("--out", str(tmp_path / "a"))
    assert r.returncode == 0, r.stderr
    r = run("--out", str(tmp_path / "b"), crash=3)
    assert r.returncode == -signal.SIGKILL
    r = subprocess.run([sys.executable, "-m", "nas4cnn", "search", "--resume", str(tmp_path / "b"), "--quiet",
                        "--workers", "1"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    a, b = (json.loads((tmp_path / x / "summary.json").read_text()) for x in "ab")
    for key in ("best", "global_best", "local_best", "n_evaluations", "n_trained", "pareto_front", "test_error"):
        assert a[key] == b[key], key
    assert a["config"]["search"]["strategy"] == strategy
    assert (tmp_path / "a" / "pareto.png").exists()


@pytest.mark.slow
def test_networks_too_big_to_win_are_not_trained(tmp_path):
    import json
    import subprocess
    import sys

    r = subprocess.run([sys.executable, "-m", "nas4cnn", "search", "--lambda", "1.0", "--generations", "3",
                        "--population", "6", "--epochs", "3", "--final-epochs", "1", "--quiet", "--workers", "1",
                        "--out", str(tmp_path / "r")], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    s = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert s["n_pruned"] > 0 and s["n_trained"] + s["n_pruned"] <= s["n_evaluations"]
    rows = [json.loads(x) for x in (tmp_path / "r" / "evaluations.jsonl").read_text().splitlines()]
    pruned = [x for x in rows if x["status"] == "pruned"]
    assert pruned and all(x["objective"] is None for x in pruned)
    # a pruned network's size penalty alone is at least the best objective found before it
    assert min(x["params"] for x in pruned) / s["nmax"] >= min(s["global_best"])


@pytest.mark.slow
def test_tabulate_then_compare(tmp_path):
    import json
    import subprocess
    import sys

    cfg = tmp_path / "tiny.toml"
    cfg.write_text("[space]\nfilters = [8]\nlinear = [10, 20]\nactivation = ['relu', 'tanh']\n")
    table = tmp_path / "t.json.gz"
    base = [sys.executable, "-m", "nas4cnn"]
    r = subprocess.run([*base, "tabulate", "--config", str(cfg), "--epochs", "2", "--seeds", "2", "--out", str(table),
                        "--quiet", "--workers", "1"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "24 networks x 2 seeds x 2 epochs" in r.stdout  # 2 conv x 2 act x 3 distinct pools x 2 widths

    from nas4cnn.tables.tabulate import Table

    t = Table.load(table)
    assert t.val_error.shape == (2, 24, 2) and ((t.val_error >= 0) & (t.val_error <= 1)).all()
    r = subprocess.run([*base, "compare", "--table", str(table), "--strategies", "evolution,evolution-nocache,grid",
                        "--repeats", "4", "--population", "4", "--json", "--out", str(tmp_path / "cmp")],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    rows = [json.loads(x) for x in r.stdout.splitlines()]
    assert [x["strategy"] for x in rows] == ["evolution", "evolution-nocache", "grid"]
    grid = rows[2]
    assert grid["found_optimum_fraction"] == 1.0 and grid["median_trained_networks"] <= 24
    assert rows[0]["median_trained_epochs"] is None or rows[0]["median_trained_epochs"] <= 48
    assert (tmp_path / "cmp" / "compare.png").exists()
    assert "| grid | 100% |" in (tmp_path / "cmp" / "compare.md").read_text()
    r = subprocess.run([*base, "compare", "--table", str(table), "--strategies", "nope"], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 2 and "unknown strategy 'nope'" in r.stderr


def test_best_first_keeps_asking_once_every_network_is_tried():
    tiny = SearchSpace.from_lists(filters=[8], conv=["k3"], activation=["relu"], pooling=["max1", "avg1"],
                                  linear=[10, 20])
    bf = make_strategy("best-first", tiny, population=3, seed=0)
    steps = drive(bf, 4)  # 2 distinct networks in a space of 4 genotypes: used to loop for ever
    assert len(steps) == 4 and all(len(gs) == 3 for gs, _ in steps)


def test_hyperband_reads_the_state_runs_before_evaluation_records_stored():
    hb = make_strategy("hyperband+evolution", SPACE, population=8, seed=0)
    drive(hb, 2)
    state = json.loads(json.dumps(hb.state_dict()))
    state["latest"] = [[g, e["objective"], e["val_error"], e["params"], True] for g, e in state["latest"]]
    old = make_strategy("hyperband+evolution", SPACE, population=8, seed=0)
    old.load_state_dict(state)
    assert drive(old, 4) == drive(hb, 4)
