"""The run store keeps every record as it was committed, and older stores are upgraded."""

from __future__ import annotations

import json
import math
import sqlite3

import pytest

from nas4cnn.core.errors import RunDirError
from nas4cnn.core.record import Evaluation, Status
from nas4cnn.searching.history import Generation
from nas4cnn.searching.store import SCHEMA_VERSION, RunStore

CONFIG = {"train": {"epochs": 8}, "search": {"seed": 0}}
RECORDS = [
    Evaluation(genotype=(2, 0, 0, 1, 6), arch="conv32k3-relu-maxpool2-fc70", params=40_000, epochs=8,
               val_error=0.05, val_nll=0.2, objective=0.052, seconds=1.5, checks={2: 0.3, 4: 0.1, 6: 0.07}),
    Evaluation(genotype=(0, 0, 1, 0, 0), arch="conv8k3-sigmoid-avgpool2-fc10", params=1_000, epochs=8,
               status=Status.FAILED, reason="loss became nan", seconds=0.5),
    Evaluation(genotype=(2, 1, 0, 2, 9), arch="conv32k5-relu-avgpool1-fc100", params=200_000, epochs=8,
               status=Status.PRUNED, reason="its size penalty 0.0097 cannot beat the best objective 0.0052"),
    Evaluation(genotype=(1, 0, 3, 1, 2), arch="conv16k3-softplus-maxpool2-fc30", params=9_000, epochs=8,
               status=Status.STOPPED, reason="stopped after epoch 2", val_error=0.6, val_nll=1.9, checks={2: 0.6}),
    Evaluation(genotype=(1, 0, 3, 1, 2), arch="conv16k3-softplus-maxpool2-fc30", params=9_000, epochs=2,
               val_error=0.6, val_nll=1.9, objective=0.6004, seconds=0.1),
]


def _set_schema(run_dir, version: str, *statements: str) -> None:
    """Rewrite a store as an older or unknown version would have left it."""
    conn = sqlite3.connect(run_dir / "run.db")
    with conn:
        for sql in statements:
            conn.execute(sql)
        conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (version,))
    conn.close()


def _same(a: Evaluation, b: Evaluation) -> bool:
    eq = lambda x, y: x == y or (math.isnan(x) and math.isnan(y))  # noqa: E731
    return (a.genotype, a.arch, a.params, a.epochs, a.status, a.reason, a.objective, a.seconds, a.checks) == \
        (b.genotype, b.arch, b.params, b.epochs, b.status, b.reason, b.objective, b.seconds, b.checks) and \
        eq(a.val_error, b.val_error) and eq(a.val_nll, b.val_nll)


def test_records_and_generations_read_back_as_written(tmp_path):
    store = RunStore.create(tmp_path, CONFIG, {"nmax": 1})
    store.add_evaluations(0, RECORDS[:3])
    store.add_evaluations(1, RECORDS[3:])
    g = Generation(generation=0, genotypes=[(2, 0, 0, 1, 6), (0, 0, 1, 0, 0)], epochs=8, global_best=0.052,
                   local_best=0.052, best_genotype=(2, 0, 0, 1, 6), best_arch="conv32k3-relu-maxpool2-fc70",
                   strategy_state={"rng": [1, 2]}, seconds=3.25)
    store.add_generation(g)
    store.close()
    store = RunStore.open(tmp_path)
    rows = store.evaluations()
    assert [gen for gen, _ in rows] == [0, 0, 0, 1, 1]
    assert all(_same(a, b) for (_, a), b in zip(rows, RECORDS))
    assert [type(e.status) for _, e in rows] == [Status] * 5
    assert store.generations() == [g]
    store.close()


def test_a_network_is_committed_once_per_epochs(tmp_path):
    store = RunStore.create(tmp_path, CONFIG, {})
    store.add_evaluations(0, RECORDS[:1])
    with pytest.raises(sqlite3.IntegrityError):
        store.add_evaluations(1, RECORDS[:1])
    assert len(store.evaluations()) == 1  # the failed transaction left nothing behind
    store.close()


def test_a_run_open_for_writing_is_refused_to_a_second_writer(tmp_path):
    store = RunStore.create(tmp_path, CONFIG, {})
    with pytest.raises(RunDirError, match="in use by another nas4cnn process"):
        RunStore.open(tmp_path)
    reader = RunStore.open(tmp_path, write=False)  # reading needs no lock
    assert reader.status == "running"
    reader.close()
    store.finish({"test_error": 0.1})
    store.close()
    store = RunStore.open(tmp_path)
    assert (store.status, store.final) == ("finished", {"test_error": 0.1})
    store.close()


def test_a_schema_2_store_is_upgraded_with_the_configured_epochs(tmp_path):
    """Version 2 wrote NULL for the configured epochs; reading it gives them as a number."""
    store = RunStore.create(tmp_path, CONFIG, {})
    store.close()
    conn = sqlite3.connect(tmp_path / "run.db")
    with conn:
        for table in ("evaluations", "generations"):  # the same tables with a nullable epochs column
            sql = conn.execute("SELECT sql FROM sqlite_master WHERE name = ?", (table,)).fetchone()[0]
            conn.execute(f"DROP TABLE {table}")
            conn.execute(sql.replace("epochs INTEGER NOT NULL", "epochs INTEGER"))
        conn.execute("INSERT INTO evaluations (generation, canonical, epochs, arch, params, seconds, status) "
                     "VALUES (0, '[2, 0, 0, 1, 6]', NULL, 'a', 5, 1.0, 'ok'), (0, '[2, 0, 0, 1, 6]', 2, 'a', 5, 1.0, 'ok')")
        conn.execute("INSERT INTO generations VALUES (0, '[[2, 0, 0, 1, 6]]', NULL, 0.1, 0.1, NULL, NULL, '{}', 1.0)")
        conn.execute("UPDATE meta SET value = '2' WHERE key = 'schema_version'")
    conn.close()
    reader = RunStore.open(tmp_path, write=False)  # read as upgraded, left as it is
    assert [e.epochs for _, e in reader.evaluations()] == [8, 2]
    assert [g.epochs for g in reader.generations()] == [8]
    assert reader.meta("schema_version") == "2"
    reader.close()
    store = RunStore.open(tmp_path)
    assert store.meta("schema_version") == str(SCHEMA_VERSION) == "3"
    assert [e.epochs for _, e in store.evaluations()] == [8, 2]
    assert [g.epochs for g in store.generations()] == [8]
    store.close()


def test_a_schema_1_store_gains_the_checks_column(tmp_path):
    store = RunStore.create(tmp_path, CONFIG, {})
    store.add_evaluations(0, RECORDS[:1])
    store.close()
    _set_schema(tmp_path, "1", "ALTER TABLE evaluations DROP COLUMN checks")
    reader = RunStore.open(tmp_path, write=False)
    assert [e.checks for _, e in reader.evaluations()] == [None] and reader.meta("schema_version") == "1"
    reader.close()
    store = RunStore.open(tmp_path)
    assert [e.checks for _, e in store.evaluations()] == [None] and store.meta("schema_version") == "3"
    store.close()


def test_an_old_store_without_its_epochs_is_named_damaged(tmp_path):
    RunStore.create(tmp_path, {"search": {}}, {}).close()
    _set_schema(tmp_path, "2")
    with pytest.raises(RunDirError, match="is damaged: its config names no training epochs"):
        RunStore.open(tmp_path)


def test_a_store_of_an_unknown_schema_is_refused(tmp_path):
    RunStore.create(tmp_path, CONFIG, {}).close()
    _set_schema(tmp_path, "99")
    with pytest.raises(RunDirError, match="schema version '99'"):
        RunStore.open(tmp_path)


def test_the_jsonl_form_of_a_record_reads_back(tmp_path):
    for e in RECORDS:
        d = json.loads(json.dumps(e.to_dict(), allow_nan=False))  # strict JSON
        assert _same(Evaluation.from_dict(d), e) and d["status"] == e.status.value
