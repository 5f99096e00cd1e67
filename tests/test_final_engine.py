"""The final model on the batched engine against the plain one-network loop (the oracle)."""

import math

import numpy as np
import pytest
import torch

from nas4cnn.core.config import RunConfig, TrainConfig
from nas4cnn.core.space import SearchSpace
from nas4cnn.data.dataset import DataSet
from nas4cnn.final import training
from nas4cnn.final.training import architecture, train_network, train_repeats
from nas4cnn.nn.engine import train_group
from nas4cnn.nn.groups import Candidate

SPACE = SearchSpace()
GENOTYPE = (1, 0, 0, 1, 3)
EPOCHS = 8
DEFAULT = TrainConfig(batch_size=16)  # augmentation on, cosine schedule, standardised inputs
SEED_RECIPE = RunConfig.recipe("seed").train  # raw inputs, constant lr, no augmentation


def noisy_data(noise: float = 2.5, n=(32, 48, 48), num_classes: int = 4, seed: int = 0) -> DataSet:
    """Few, noisy 8x8 images: validation loss turns up within a few epochs, so patience matters."""
    rng = np.random.default_rng(seed)
    means = rng.normal(size=(num_classes, 1, 8, 8)).astype(np.float32)
    splits = {}
    for part, size in zip(("train", "val", "test"), n):
        y = rng.integers(num_classes, size=size)
        splits[part] = (means[y] + noise * rng.normal(size=(size, 1, 8, 8)).astype(np.float32), y)
    return DataSet.from_arrays("noisy", splits, num_classes=num_classes)


def assert_like_oracle(engine, oracle, data):
    """Same figures to float rounding: losses within 1e-4, error counts within one image."""
    one = 1 / len(data.val) + 1e-9
    assert engine.seed == oracle.seed and engine.best_epoch == oracle.best_epoch
    assert len(engine.history) == len(oracle.history)
    for a, b in zip(engine.history, oracle.history):
        assert a.epoch == b.epoch
        assert a.train_loss == pytest.approx(b.train_loss, abs=1e-4)
        assert abs(a.train_error - b.train_error) <= 1 / len(data.train) + 1e-9
        assert a.val_loss == pytest.approx(b.val_loss, abs=1e-4)
        assert abs(a.val_error - b.val_error) <= one
    assert (engine.trainval_history is None) == (oracle.trainval_history is None)
    for a, b in zip(engine.trainval_history or [], oracle.trainval_history or [], strict=True):
        assert a.train_loss == pytest.approx(b.train_loss, abs=1e-4)
        assert math.isnan(a.val_loss) and math.isnan(a.val_error)
    assert engine.test_nll == pytest.approx(oracle.test_nll, abs=1e-4)
    assert abs(engine.test_error - oracle.test_error) <= 1 / len(data.test) + 1e-9
    assert sum(map(sum, engine.confusion)) == len(data.test)
    assert engine.normalization == oracle.normalization


@pytest.mark.parametrize("cfg,patience,trainval,data_args", [
    (DEFAULT, 0, True, {}),
    (DEFAULT, 2, True, {}),
    (DEFAULT, 2, False, {}),
    (SEED_RECIPE, 0, False, {"noise": 1.5, "n": (64, 48, 48)}),
    (SEED_RECIPE, 2, True, {"noise": 1.5, "n": (64, 48, 48)}),
], ids=["default", "default-patience", "default-patience-no-trainval", "seed-recipe", "seed-recipe-patience"])
def test_engine_final_matches_the_plain_loop(cfg, patience, trainval, data_args, engine):
    data = noisy_data(**data_args)
    net = architecture(SPACE, GENOTYPE, data)
    runs = train_repeats(net, data, cfg, EPOCHS, seed=0, repeats=2, patience=patience, trainval=trainval, workers=1)
    assert [r.seed for r in runs.runs] == [0, 1]
    for r, run in enumerate(runs.runs):
        oracle = train_network(net, data, cfg, EPOCHS, seed=r, patience=patience, trainval=trainval, data_seed=0)
        assert_like_oracle(run, oracle, data)
        assert isinstance(run.model, torch.nn.Module) and not run.model.training
    if patience and cfg is DEFAULT:
        # this data makes the first repeat stop early and the second train to the end: the
        # stopped one leaves the group, and with trainval each trains in its own group
        assert [len(r.history) for r in runs.runs] == [5, EPOCHS]
        assert [r.best_epoch for r in runs.runs] == [3, EPOCHS]
    assert set(runs.metrics()) >= {"test_error_mean", "test_nll_std", "per_seed", "history", "best_epoch"}


def _figures(runs):
    """Everything a run reports, NaN spelled so that equal runs compare equal."""
    def stats(h):
        return [tuple("nan" if math.isnan(v) else v for v in (e.train_loss, e.train_error, e.val_loss, e.val_error))
                for e in h or []]

    return [(r.best_epoch, stats(r.history), stats(r.trainval_history), r.test_nll, r.test_error, r.confusion,
             [p.detach().clone() for p in r.model.state_dict().values()]) for r in runs.runs]


def test_workers_give_bit_identical_results_and_report_every_epoch(monkeypatch):
    data = noisy_data()
    net = architecture(SPACE, GENOTYPE, data)
    forked = []
    real = training.run_forked
    monkeypatch.setattr(training, "run_forked", lambda *a: forked.append(1) or real(*a))
    out = {}
    for workers in (1, 2):
        calls = []
        runs = train_repeats(net, data, DEFAULT, 4, seed=3, repeats=2, trainval=True, workers=workers,
                             on_epoch=calls.append)
        assert len(calls) == 2 * 4 * 2  # repeats x epochs x (watched run, train + validation run)
        assert sum(math.isnan(h.val_loss) for h in calls) == 2 * 4
        out[workers] = _figures(runs)
    assert forked == [1]  # workers=2 ran the two runs side by side
    for a, b in zip(out[1], out[2], strict=True):
        assert a[:6] == b[:6]
        assert all(torch.equal(x, y) for x, y in zip(a[6], b[6], strict=True))


def test_on_epoch_counts_the_epochs_each_repeat_trained():
    data = noisy_data()
    net = architecture(SPACE, GENOTYPE, data)
    calls = []
    runs = train_repeats(net, data, DEFAULT, EPOCHS, seed=0, repeats=2, patience=2, trainval=True, workers=2,
                         on_epoch=calls.append)
    expected = sum(len(r.history) + len(r.trainval_history) for r in runs.runs)
    assert len(calls) == expected < 2 * EPOCHS * 2
    assert [len(r.trainval_history) for r in runs.runs] == [r.best_epoch for r in runs.runs]


def test_train_group_without_validation_and_with_an_after_epoch_stop():
    data = noisy_data()
    arch = SPACE.decode(GENOTYPE)
    seen = []

    def after_epoch(group, members, histories):
        seen.append(list(members))
        return {0: "asked to"} if len(histories[0]) == 2 else {}

    cands = [Candidate(arch, 1), Candidate(arch, 2)]
    group, hists, ended = train_group(cands, data, DEFAULT, 4, 0, track_val=False, after_epoch=after_epoch)
    assert seen == [[0, 1], [0, 1], [1], [1]] and group.P == 1
    assert [len(h) for h in hists] == [2, 4] and all(math.isnan(e.val_loss) for h in hists for e in h)
    assert ended[0].reason == "asked to" and ended[1] is None
    with pytest.raises(ValueError, match="need validation"):
        train_group(cands, data, DEFAULT, 4, 0, track_val=False, stop={2: 0.5})


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_engine_final_on_cuda_matches_the_plain_loop():
    data = noisy_data()
    net = architecture(SPACE, GENOTYPE, data)
    runs = train_repeats(net, data, DEFAULT, EPOCHS, seed=0, repeats=2, patience=2, trainval=True, device="cuda")
    for r, run in enumerate(runs.runs):
        oracle = train_network(net, data, DEFAULT, EPOCHS, seed=r, patience=2, trainval=True, data_seed=0)
        assert_like_oracle(run, oracle, data)
        assert next(run.model.parameters()).device.type == "cpu"
