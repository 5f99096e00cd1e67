"""The shortlist: where a search ranks candidates on subsets, its best few are trained again on
all the data and the best of them becomes the final model."""

import json
import sqlite3

import pytest
from conftest import make_dataset

from nas4cnn import api
from nas4cnn.api.shortlist import contenders
from nas4cnn.core.config import RunConfig
from nas4cnn.core.record import Evaluation, Status
from nas4cnn.searching.history import History

TINY = (RunConfig().override("search", generations=3, population=4, final_epochs=2, seed=2, subset=30,
                             val_subset=20)
        .override("train", epochs=2))


def _e(genotype, objective, epochs=2, status=Status.OK):
    return Evaluation(genotype=genotype, arch=str(genotype), params=10, epochs=epochs, status=status,
                      val_error=objective, objective=objective)


def test_contenders_are_the_best_distinct_full_epoch_networks_ties_by_genotype():
    h = History(full_epochs=2)
    h.evaluations = [(0, _e((1, 0, 0, 0, 0), 0.3)), (0, _e((0, 0, 0, 0, 1), 0.2)), (1, _e((0, 0, 0, 0, 1), 0.2)),
                     (1, _e((0, 0, 0, 0, 0), 0.2)), (1, _e((2, 0, 0, 0, 0), 0.1, epochs=1)),
                     (2, _e((3, 0, 0, 0, 0), 0.05, status=Status.FAILED))]
    got = [e.genotype for e in contenders(h, 3)]
    assert got == [(0, 0, 0, 0, 0), (0, 0, 0, 0, 1), (1, 0, 0, 0, 0)]
    assert len(contenders(h, 10)) == 3


def _search(tmp_path, name, workers=1, **search):
    data = make_dataset(n=(90, 60, 30))
    config = TINY.override("search", shortlist=3, **search)
    return api.search(config, out=tmp_path / name, data=data, device="cpu", workers=workers), data


def test_the_final_model_is_the_best_of_the_shortlist_trained_on_all_the_data(tmp_path):
    run, data = _search(tmp_path, "run")
    s = run.summary
    listed = s["shortlist"]
    assert listed["ranked_on"] == {"train": 90, "val": 60} and listed["epochs"] == 2
    nets = listed["networks"]
    # the three best distinct networks of the search (on the subsets), trained again
    searched = sorted({tuple(e["genotype"]): e["objective"] for e in map(json.loads, (run.path / "evaluations.jsonl")
                       .read_text().splitlines()) if e["status"] == "ok" and e["epochs"] == 2}.items(),
                      key=lambda kv: (kv[1], kv[0]))[:3]
    assert {tuple(n["genotype"]) for n in nets} == {g for g, _ in searched}
    assert tuple(listed["search_best"]) == tuple(s["best"]["genotype"])
    assert [n["objective"] for n in nets] == sorted(n["objective"] for n in nets)
    # figures of all the data, not the search's subset ones
    assert {tuple(n["genotype"]): n["objective"] for n in nets} != dict(searched)
    assert listed["winner"]["genotype"] == nets[0]["genotype"] == s["final"]["genotype"]


def test_the_shortlist_is_the_same_whatever_the_number_of_workers(tmp_path):
    one, _ = _search(tmp_path, "one", workers=1)
    two, _ = _search(tmp_path, "two", workers=2)
    strip = lambda nets: [{k: v for k, v in n.items() if k != "seconds"} for n in nets]  # noqa: E731
    assert strip(one.summary["shortlist"]["networks"]) == strip(two.summary["shortlist"]["networks"])


def test_a_resumed_run_does_not_train_its_recorded_shortlist_again(tmp_path, monkeypatch):
    run, data = _search(tmp_path, "run")
    (run.path / "summary.json").unlink()
    db = sqlite3.connect(run.path / "run.db")
    db.execute("UPDATE meta SET value = 'running' WHERE key = 'status'")
    db.execute("DELETE FROM meta WHERE key = 'final'")
    db.commit()
    db.close()

    def refuse(*args, **kwargs):
        raise AssertionError("the shortlist was trained again")

    monkeypatch.setattr("nas4cnn.api.search_runs.run_shortlist", refuse)
    again = api.search(resume=run.path, data=data, device="cpu", workers=1)
    assert again.summary["shortlist"] == run.summary["shortlist"]
    assert again.summary["final"]["genotype"] == run.summary["final"]["genotype"]


def test_a_budget_too_short_for_two_networks_skips_the_shortlist_and_says_so(tmp_path, caplog):
    with caplog.at_level("INFO", logger="nas4cnn.run"):
        run, _ = _search(tmp_path, "run", budget=0.001)
    assert run.summary["shortlist"] is None
    assert run.summary["final"]["genotype"] == run.summary["best"]["genotype"]
    assert any("no shortlist" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("k", [1])
def test_a_shortlist_of_one_keeps_the_search_best(tmp_path, k):
    data = make_dataset(n=(90, 60, 30))
    run = api.search(TINY.override("search", shortlist=k), out=tmp_path / "run", data=data, device="cpu", workers=1)
    assert run.summary["shortlist"] is None
    assert run.summary["final"]["genotype"] == run.summary["best"]["genotype"]


def test_the_report_lists_the_shortlist_and_the_cli_takes_the_flag(tmp_path):
    from nas4cnn.cli import main

    data_run, _ = _search(tmp_path, "run")
    html = (data_run.path / "report.html").read_text()
    assert "<h2>Shortlist</h2>" in html or ">Shortlist<" in html
    assert data_run.summary["shortlist"]["networks"][0]["arch"] in html
    assert main(["search", "--shortlist", "0", "--out", str(tmp_path / "bad")]) == 2
    assert not (tmp_path / "bad").exists()
