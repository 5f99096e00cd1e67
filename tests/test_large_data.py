"""Large data at small cost: the settings chosen from the data's size, the stratified subsets
candidates are ranked on, the time budget and the progress inside a batch."""

import json

import numpy as np
import pytest
import torch
from conftest import make_dataset

from nas4cnn import api
from nas4cnn.cli import main
from nas4cnn.core.checks import parse_duration
from nas4cnn.core.config import RunConfig, config_from_dict
from nas4cnn.core.defaults import choose, final_epochs
from nas4cnn.core.errors import ConfigError
from nas4cnn.data.subset import search_subset, subset_indices, subset_split
from nas4cnn.searching.engine_evaluator import EngineEvaluator
from nas4cnn.searching.executors import LocalExecutor, TrainJob
from nas4cnn.searching.store import RunStore

TINY = (RunConfig().override("search", generations=3, population=3, final_epochs=2, seed=2)
        .override("train", epochs=2))


# --- settings chosen from the data's size

def test_digits_sizes_choose_the_values_the_settings_had():
    config, chosen = choose(RunConfig(), 1000, 350)
    assert (config.search.subset, config.search.val_subset) == (1000, 350)
    assert (config.train.batch_size, config.search.final_epochs, config.train.augment) == (64, 100, "on")
    assert config.train.aug_flip == "off"  # digits do not mirror
    assert {c.setting.split(" ")[0] for c in chosen} == {"search.subset", "search.val_subset", "train.batch_size",
                                                         "train.augment", "train.aug_flip", "search.final_epochs"}
    automatic = lambda c: (c.search.subset, c.search.val_subset, c.search.final_epochs, c.train.batch_size,  # noqa: E731
                           c.train.augment, c.train.aug_flip)
    assert 0 not in automatic(config) and "auto" not in automatic(config)
    assert 0 in automatic(RunConfig()) and "auto" in automatic(RunConfig())


def test_large_data_is_ranked_on_subsets_and_trains_fewer_final_epochs():
    config, chosen = choose(RunConfig(), 54_000, 6_000)
    assert (config.search.subset, config.search.val_subset) == (2_000, 2_000)
    assert (config.train.batch_size, config.search.final_epochs, config.train.augment) == (128, 15, "off")
    assert "of 54,000 training images" in str(chosen[0])
    assert config.train.aug_flip == "off"
    mirrored, chosen = choose(RunConfig(), 54_000, 6_000, mirrors=True)  # Fashion-MNIST's clothes
    assert mirrored.train.aug_flip == "on" and mirrored.train.augment == "off"
    assert "train.aug_flip (--aug-flip) = on (its classes look alike mirrored)" in map(str, chosen)
    assert final_epochs(10_000) == 80 and final_epochs(2_000) == 100


def test_a_run_on_a_data_set_of_mirror_alike_classes_mirrors_its_batches():
    from nas4cnn.api.preparation import prepare
    from nas4cnn.nn.train import Prepared

    for name, flip in (("fashion-mnist", "on"), ("digits", "off"), ("fixture", "off")):
        config, data = prepare(None, make_dataset(n=(40, 10, 10), name=name))
        assert config.train.aug_flip == flip
        assert Prepared.from_data(data, config.train).augmentation.flip == (flip == "on")
    config, _ = prepare(RunConfig().override("train", aug_flip="off"), make_dataset(name="fashion-mnist"))
    assert config.train.aug_flip == "off"  # given: kept


def test_a_longer_budget_buys_a_larger_subset():
    config, _ = choose(RunConfig().override("search", budget=7200.0), 54_000, 6_000)
    assert config.search.subset == 8_000
    config, _ = choose(RunConfig().override("search", budget=6 * 3600.0), 54_000, 6_000)
    assert config.search.subset == 24_000
    config, _ = choose(RunConfig().override("search", budget=600.0), 54_000, 6_000)
    assert config.search.subset == 2_000


def test_given_settings_are_kept():
    given = (RunConfig().override("search", subset=500, final_epochs=3)
             .override("train", batch_size=32, augment="on", aug_flip="off"))
    config, chosen = choose(given, 54_000, 6_000, mirrors=True)
    assert (config.search.subset, config.search.final_epochs, config.train.batch_size) == (500, 3, 32)
    assert config.train.augment == "on"
    assert [c.setting.split(" ")[0] for c in chosen] == ["search.val_subset"]
    assert config.train.aug_flip == "off"
    seed, _ = choose(RunConfig.recipe("seed"), 54_000, 6_000, mirrors=True)
    assert (seed.train.batch_size, seed.search.final_epochs, seed.train.aug_flip) == (64, 40, "off")
    assert seed.train.aug_shift == seed.train.aug_rotate == seed.train.aug_scale == 0  # the seed's: none


# --- durations

@pytest.mark.parametrize("text, seconds", [("30m", 1800), ("2h", 7200), ("1h30m", 5400), ("90s", 90), ("45", 45),
                                           ("1.5h", 5400), (120, 120)])
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


def test_a_budget_in_a_config_file_is_converted_and_a_bad_one_refused():
    assert config_from_dict({"search": {"budget": "30m"}}).search.budget == 1800
    with pytest.raises(ConfigError, match=r"search.budget \(--budget\) must be a duration such as 30m.*got 'soon'"):
        config_from_dict({"search": {"budget": "soon"}})
    with pytest.raises(ConfigError, match="search.budget"):
        config_from_dict({"search": {"budget": -5}})


def test_a_bad_budget_flag_is_one_line(capsys):
    with pytest.raises(SystemExit) as e:
        main(["search", "--budget", "3 weeks"])
    assert e.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "--budget: not a duration: '3 weeks'" in err


# --- stratified subsets

def test_subsets_keep_each_class_share_and_are_seeded():
    y = np.repeat(np.arange(4), [500, 300, 150, 50])
    idx = subset_indices(y, 100, seed=1)
    assert len(idx) == 100 and np.all(np.diff(idx) > 0)
    assert np.bincount(y[idx]).tolist() == [50, 30, 15, 5]
    assert np.array_equal(idx, subset_indices(y, 100, seed=1))
    assert not np.array_equal(idx, subset_indices(y, 100, seed=2))
    odd = subset_indices(y, 7, seed=0)  # quotas 3.5, 2.1, 1.05, 0.35: the largest remainders get the rest
    assert np.bincount(y[odd], minlength=4).tolist() == [4, 2, 1, 0]
    assert np.array_equal(subset_indices(y, 5000, seed=0), np.arange(1000))


def test_search_subset_cuts_train_and_validation_only():
    data = make_dataset(n=(90, 60, 30))
    same = search_subset(data, 90, 60, seed=0)
    assert same is data
    cut = search_subset(data, 30, 20, seed=0)
    assert (len(cut.train), len(cut.val), len(cut.test)) == (30, 20, 30)
    rows = {tuple(r.flatten().tolist()) for r in data.train.x}
    assert all(tuple(r.flatten().tolist()) in rows for r in cut.train.x)
    assert torch.equal(subset_split(data.train, 30, 5).y, subset_split(data.train, 30, 5).y)


def test_a_search_ranks_on_the_subset_and_trains_the_final_model_on_everything(tmp_path):
    data = make_dataset(n=(90, 60, 30))
    config = TINY.override("search", subset=30, val_subset=20)
    run = api.search(config, out=tmp_path / "run", data=data, device="cpu", workers=1)
    store = RunStore.open(tmp_path / "run", write=False)
    try:
        assert store.info["ranked_on"] == {"train": 30, "val": 20}
        assert store.config["search"]["subset"] == 30
        assert store.config["train"]["batch_size"] == 64  # chosen, and recorded with the run
    finally:
        store.close()
    final = run.summary["final"]
    # the final model trained on all 90 training images: its first epoch's loss is over them
    assert final["history"] and final["trainval_epochs"] == 2


# --- the budget

def test_a_budget_ends_the_search_records_why_and_fits_the_final_epochs(tmp_path):
    data = make_dataset()
    config = TINY.override("search", budget=0.001)  # any batch crosses this share
    run = api.search(config, out=tmp_path / "run", data=data, device="cpu", workers=1)
    s = run.summary
    assert s["search_end"]["reason"] == "budget" and s["search_end"]["after_generation"] == 0
    assert s["n_generations"] == 1
    assert s["final"]["budget"]["final_epochs"] == 1 and s["final"]["epochs"] == 1


def test_a_resumed_run_whose_budget_ended_its_search_does_not_search_again(tmp_path):
    data = make_dataset()
    out = tmp_path / "run"
    config = TINY.override("search", budget=0.001)
    api.search(config, out=out, data=data, device="cpu", workers=1)
    store = RunStore.open(out, write=False)
    generations = len(store.generations())
    store.close()
    (out / "summary.json").unlink()
    import sqlite3

    db = sqlite3.connect(out / "run.db")
    db.execute("UPDATE meta SET value = 'running' WHERE key = 'status'")
    db.commit()
    db.close()
    run = api.search(resume=out, data=data, device="cpu", workers=1)
    assert run.summary["n_generations"] == generations == 1
    assert run.summary["search_end"]["after_generation"] == 0


# --- progress inside a batch

class Recorder:
    def __init__(self):
        self.started, self.epochs, self.records = [], 0, 0

    def start(self, networks, epochs):
        self.started.append((networks, epochs))

    def advance(self, n):
        self.epochs += n

    def done(self, records):
        self.records += len(records)


@pytest.mark.parametrize("workers", [1, 2])
def test_progress_hears_every_epoch_also_from_worker_processes(workers):
    data = make_dataset()
    config = TINY
    train = config.train.__class__(**{**config.train.__dict__, "batch_size": 16})
    ex = LocalExecutor(data, TrainJob(train, 2, 0), "cpu", workers)
    space = config.space
    genotypes = [(0, 0, 0, 1, 2), (2, 1, 1, 0, 5), (1, 0, 2, 3, 9), (0, 1, 3, 2, 0)]
    with EngineEvaluator(space, data, train, 0.01, 0, executor=ex) as evaluator:
        rec = Recorder()
        evaluator.progress = rec
        results = evaluator.evaluate(genotypes)
    assert rec.started == [(4, 2)]
    assert rec.epochs == 8 and rec.records == 4
    assert all(r.status.value == "ok" for r in results)


def test_the_search_tells_what_it_chose_on_large_data(tmp_path, caplog, monkeypatch):
    monkeypatch.setattr("nas4cnn.api.preparation.SUBSET", 50)  # the fixture's 60 images count as large
    data = make_dataset()
    config = TINY.override("search", subset=40)
    with caplog.at_level("INFO", logger="nas4cnn.run"):
        api.search(config, out=tmp_path / "run", data=data, device="cpu", workers=1)
    text = " ".join(r.getMessage() for r in caplog.records if r.name == "nas4cnn.run")
    assert "chosen from the data's size" in text and "train.batch_size (--batch-size) = 64" in text
    assert "train.augment (--augment) = on" in text
    assert "search.subset" not in text  # given, not chosen
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["config"]["search"]["val_subset"] == 30


# --- the patch cache's bound

def test_the_patch_cache_drops_old_layouts_beyond_its_bound_and_results_stay(monkeypatch):
    from nas4cnn.core.config import TrainConfig
    from nas4cnn.core.space import SearchSpace
    from nas4cnn.nn import engine
    from nas4cnn.nn.groups import Candidate

    data = make_dataset()
    space = SearchSpace()
    cfg = TrainConfig(batch_size=16, augment="off")
    archs = [space.decode(g) for g in ((0, 0, 0, 1, 2), (0, 1, 0, 1, 2), (0, 0, 0, 2, 2), (0, 0, 0, 1, 3))]

    def run(cache):
        return [engine.train_group([Candidate(a, 1)], data, cfg, 1, 0, patch_cache=cache)[1][0][-1] for a in archs]

    unbounded = run({})
    layouts = lambda c: [k for k in c if isinstance(k, tuple)]  # noqa: E731
    bounded: dict = {}
    monkeypatch.setattr(engine, "PATCH_CACHE_TOTAL", 1)  # any layout is over the bound: one is kept
    assert run(bounded) == unbounded
    assert len(layouts(bounded)) == 1 and engine._cached_bytes(bounded[layouts(bounded)[0]]) > 1


def test_a_long_search_without_a_budget_says_so_after_its_first_batch(caplog):
    from nas4cnn.api.progress import SearchProgress
    from nas4cnn.searching.history import Generation

    bars = SearchProgress(50, 0, 2000, None, enabled=False)
    record = Generation(generation=0, genotypes=[], epochs=8, global_best=0.2, local_best=0.2, best_genotype=None,
                        best_arch=None, strategy_state={}, seconds=60.0)
    with caplog.at_level("INFO", logger="nas4cnn.run"):
        bars.generation(record, trained=20)
    bars.close()
    text = " ".join(r.getMessage() for r in caplog.records if r.name == "nas4cnn.run")
    assert "generation 0 took 1m00s" in text and "up to 50m00s" in text and "--budget" in text
    caplog.clear()
    quick = SearchProgress(50, 0, 2000, None, enabled=False)
    with caplog.at_level("INFO", logger="nas4cnn.run"):
        quick.generation(Generation(generation=0, genotypes=[], epochs=8, global_best=0.2, local_best=0.2,
                                    best_genotype=None, best_arch=None, strategy_state={}, seconds=1.0), trained=20)
    quick.close()
    assert not caplog.records  # a short search says nothing
