"""The Python API's refusals: one clear nas4cnn error for a bad request, and nothing left
open or half-written after it."""

import dataclasses
import gzip
import json
import sqlite3
import subprocess
import sys

import pytest
import torch
from conftest import make_dataset, require_fused

from nas4cnn import api
from nas4cnn.core.config import RunConfig
from nas4cnn.core.errors import ConfigError, RunDirError
from nas4cnn.searching.store import RunStore
from nas4cnn.tables.tabulate import Table

TINY = (RunConfig().override("search", generations=1, population=2, final_epochs=1, seed=3)
        .override("train", epochs=1))


@pytest.fixture(scope="module")
def unfinished(tmp_path_factory):
    """A run on fixture data whose store says it is still running (as after a crash)."""
    out = tmp_path_factory.mktemp("api") / "run"
    api.search(TINY, out=out, data=make_dataset(), device="cpu", workers=1)
    db = sqlite3.connect(out / "run.db")
    db.execute("UPDATE meta SET value = 'running' WHERE key = 'status'")
    db.commit()
    db.close()
    return out


@pytest.mark.slow
def test_resume_with_other_data_is_refused(unfinished):
    with pytest.raises(ConfigError, match="the run was made with other data: name is 'fixture' in the run but "
                                          "'digits' here.*give the run's data set"):
        api.search(resume=unfinished, device="cpu")
    with pytest.raises(ConfigError, match="sizes is"):
        api.search(resume=unfinished, data=make_dataset(n=(61, 30, 30)), device="cpu")
    RunStore.open(unfinished).close()  # and the run is not left locked


def test_a_failed_resume_set_up_leaves_the_run_unlocked(unfinished):
    with pytest.raises(ConfigError, match="--workers must be an integer >= 1"):
        api.search(resume=unfinished, data=make_dataset(), device="cpu", workers=0)
    RunStore.open(unfinished).close()


def test_compare_refusals(tmp_path):
    cases = [(dict(strategies=[]), "at least one strategy"),
             (dict(strategies=["random@²"]), "the population after @ must be an integer >= 2"),
             (dict(strategies=["random"], lam=float("nan")), "--lambda must be a finite number >= 0"),
             (dict(strategies=["random"], lam=-0.1), "--lambda must be a finite number >= 0"),
             (dict(strategies=["random"], budget=0), "--budget must be an integer >= 1")]
    for kwargs, message in cases:
        with pytest.raises(ConfigError, match=message):
            api.compare(repeats=1, **kwargs)
    rows = api.compare("random", repeats=2, budget=50)  # one name alone is one strategy, not its letters
    assert [r["strategy"] for r in rows] == ["random"]


def test_damaged_tables_are_named(tmp_path):
    (tmp_path / "corrupt.json.gz").write_bytes(b"\x1f\x8b\x08\x00" + b"garbage" * 20)
    with gzip.open(tmp_path / "nokeys.json.gz", "wt") as f:
        json.dump({"format": "nas4cnn-table/1"}, f)
    good = Table.load()
    dataclasses.replace(good, params=good.params[:-1]).save(tmp_path / "short.json.gz")
    for name, message in (("corrupt", "is not a readable table"), ("nokeys", r"is damaged \(KeyError"),
                          ("short", "its arrays do not match its 900 genotypes and 3 seeds")):
        with pytest.raises(RunDirError, match=message):
            Table.load(tmp_path / f"{name}.json.gz")


def test_settings_out_of_range_are_refused():
    with pytest.raises(ConfigError, match=r"split_seed \(--split-seed\) must be an integer in 0..4294967295"):
        RunConfig().override("data", split_seed=2**32)
    from nas4cnn.core.space import SearchSpace

    for bad in (3, "k3"):
        with pytest.raises(ConfigError, match="space.conv: expected a list of names"):
            SearchSpace.from_lists(conv=bad)


def test_one_genotype_alone_is_evaluated(small_data):
    one = api.evaluate("conv8k3-relu-maxpool2-fc10", TINY, data=small_data, device="cpu", workers=1)
    same = api.evaluate([0, 0, 0, 1, 0], TINY, data=small_data, device="cpu", workers=1)
    assert len(one) == len(same) == 1 and one[0].val_error == same[0].val_error


def test_reports_of_malformed_runs_are_refused(tmp_path):
    (tmp_path / "summary.json").write_text("[]")
    with pytest.raises(RunDirError, match="is not a nas4cnn summary"):
        api.report(tmp_path)
    assert not (tmp_path / "report.html").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_loading_a_model_onto_a_missing_gpu_says_so(unfinished):
    from nas4cnn import load_model

    with pytest.raises(ConfigError, match="sees no CUDA GPU"):
        load_model(unfinished / "model.pt", map_location="cuda")


@pytest.mark.slow
def test_importing_nas4cnn_leaves_the_plotting_backend_alone():
    code = "import matplotlib; matplotlib.use('svg'); import nas4cnn, nas4cnn.outputs.plots; print(matplotlib.get_backend())"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stdout.strip() == "svg", r.stderr



@pytest.mark.slow
def test_the_cpu_step_is_recorded_and_a_resume_with_the_other_one_is_warned_about(tmp_path, monkeypatch, caplog):
    require_fused()
    data = make_dataset()
    out = tmp_path / "run"
    run = api.search(TINY, out=out, data=data, device="cpu", workers=1)
    assert run.summary["execution"] == {"device": "cpu", "cpu_step": "fused", "workers": 1}
    db = sqlite3.connect(out / "run.db")
    db.execute("UPDATE meta SET value = 'running' WHERE key = 'status'")
    db.commit()
    db.close()
    (out / "summary.json").unlink()
    monkeypatch.setenv("NAS4CNN_FUSED", "0")  # the PyTorch path
    with caplog.at_level("WARNING", logger="nas4cnn.api"):
        api.search(resume=out, data=data, device="cpu", workers=1)
    assert "trained with the fused CPU step and resumes with the other one" in caplog.text
