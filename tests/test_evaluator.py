"""The rules every evaluator shares: reuse, pruning of new networks only, early-stop
thresholds from earlier batches, per-group records, and resume's recovered records."""

from __future__ import annotations

import math

from fakes import digits_table

from nas4cnn.core.record import Status
from nas4cnn.tables.table_evaluator import TableEvaluator

AVG1, MAX1 = (2, 0, 0, 2, 6), (2, 0, 0, 3, 6)  # the same network: pooling of size 1 is the identity
SMALL, BIG = (0, 0, 0, 0, 0), (2, 1, 0, 2, 9)


def _evaluator(**kw) -> TableEvaluator:
    return TableEvaluator(digits_table(), 0.01, 0, **kw)


def test_repeats_and_equivalent_genotypes_reuse_one_record():
    ev = _evaluator()
    a, b, c = ev.evaluate([AVG1, MAX1, AVG1])
    assert (ev.n_requested, ev.n_trained, ev.trained_epochs) == (3, 1, 8)
    assert a.objective == b.objective == c.objective and math.isfinite(a.objective)
    assert [r.cached for r in (a, b, c)] == [False, True, True]
    assert (a.genotype, b.genotype) == (AVG1, MAX1) and b.arch.endswith("maxpool1-fc70")


def test_no_reuse_trains_every_request():
    ev = _evaluator(reuse=False)
    ev.evaluate([AVG1, MAX1, AVG1])
    ev.evaluate([AVG1])
    assert (ev.n_trained, ev.trained_epochs) == (4, 32)


def test_only_new_networks_are_pruned():
    ev = _evaluator()
    big = ev.evaluate([BIG])[0]
    assert big.ok and big.objective > ev.penalty(big.params)
    again, small = ev.evaluate([BIG, SMALL], prune_above=ev.penalty(big.params) / 2)
    assert again.ok and again.objective == big.objective and again.cached  # trained before: its record stands
    pruned = ev.evaluate([(2, 1, 0, 2, 8)], prune_above=ev.penalty(big.params) / 2)[0]
    assert pruned.status is Status.PRUNED and not pruned.trained and pruned.objective == math.inf
    assert "cannot beat the best objective" in pruned.reason
    assert ev.n_trained == 2  # BIG and SMALL; the pruned one never trained


def test_training_yields_each_group_and_the_pruned_first():
    ev = _evaluator()
    batch = ev.plan([SMALL, BIG, AVG1, SMALL], prune_above=ev.penalty(ev.params(BIG)))
    made = list(ev.train(batch))
    assert [[e.status for e in group] for group in made] == [[Status.PRUNED], [Status.OK], [Status.OK]]
    results = ev.results(batch)
    assert [r.genotype for r in results] == [SMALL, BIG, AVG1, SMALL] and results[3].cached


def test_early_stop_thresholds_come_from_earlier_batches_only():
    table = digits_table()
    ev = _evaluator(early_stop=0.5)
    first = ev.evaluate(table.genotypes[:30])
    assert all(r.status is Status.OK for r in first)  # nothing to compare with yet
    second = ev.evaluate(table.genotypes[30:90])
    stopped = [r for r in second if r.status is Status.STOPPED]
    assert stopped and all(r.objective == math.inf and max(r.checks) < 8 for r in stopped)
    assert ev.trained_epochs < 90 * 8


def test_recovered_records_are_reused_and_not_made_again():
    ev = _evaluator()
    done = ev.evaluate([SMALL])
    pending = ev.evaluate([BIG, AVG1])
    resumed = _evaluator()
    resumed.preload(done, [pending[0]], n_requested=1)
    batch = resumed.plan([BIG, AVG1])
    made = [e for group in resumed.train(batch) for e in group]
    assert [e.genotype for e in made] == [resumed.space.canonical(AVG1)]  # BIG came back from the store
    assert [r.objective for r in resumed.results(batch)] == [r.objective for r in pending]
    assert (resumed.n_trained, resumed.n_requested) == (3, 3)
