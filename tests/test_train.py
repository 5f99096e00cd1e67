import torch

from nas4cnn.core.config import TrainConfig
from nas4cnn.core.space import SearchSpace
from nas4cnn.nn.model import build_model
from nas4cnn.nn.train import Prepared, epoch_batches, evaluate, lr_factor, train_model
from nas4cnn.searching.engine_evaluator import EngineEvaluator


def test_batches_cover_the_data_once_and_depend_on_seed_and_epoch():
    a = epoch_batches(100, 32, seed=1, epoch=0, device="cpu")
    assert [len(b) for b in a] == [32, 32, 32, 4]
    assert sorted(torch.cat(a).tolist()) == list(range(100))
    assert torch.equal(torch.cat(a), torch.cat(epoch_batches(100, 32, 1, 0, "cpu")))
    assert not torch.equal(torch.cat(a), torch.cat(epoch_batches(100, 32, 1, 1, "cpu")))
    assert not torch.equal(torch.cat(a), torch.cat(epoch_batches(100, 32, 2, 0, "cpu")))


def test_training_learns_and_is_deterministic(small_data):
    arch = SearchSpace().decode((1, 0, 0, 1, 3))
    models = [build_model(arch, small_data.input_shape, 3, seed=7) for _ in range(2)]
    prepared = Prepared.from_data(small_data, TrainConfig(batch_size=64))
    before = evaluate(models[0], prepared.data.val)
    hists = [train_model(m, small_data, TrainConfig(batch_size=64), epochs=15, seed=0) for m in models]
    assert hists[0] == hists[1]
    assert all(torch.equal(p, q) for p, q in zip(models[0].parameters(), models[1].parameters()))
    after = evaluate(models[0], prepared.data.val)
    assert after[0] < before[0] and after[1] < 0.2
    assert hists[0][-1].val_loss == after[0]


def test_evaluate_is_mean_nll_and_error(small_data):
    model = build_model(SearchSpace().decode((0, 0, 0, 0, 0)), small_data.input_shape, 3, seed=1)
    nll, err = evaluate(model, small_data.val)
    with torch.no_grad():
        logp = model(small_data.val.x)
    assert abs(nll - float(-logp[torch.arange(30), small_data.val.y].mean())) < 1e-5
    assert err * 30 == (logp.argmax(1) != small_data.val.y).sum().item()


def test_evaluator_trains_each_genotype_once(small_data):
    ev = EngineEvaluator(SearchSpace(), small_data, TrainConfig(epochs=1), lam=0.01, seed=0, workers=1)
    a = ev.evaluate([(0, 0, 0, 0, 0), (1, 0, 0, 0, 0), (0, 0, 0, 0, 0)])
    assert (a[0].val_error, a[0].objective) == (a[2].val_error, a[2].objective)
    assert (ev.n_requested, ev.n_trained) == (3, 2) and [r.cached for r in a] == [False, False, True]
    again = ev.evaluate([(1, 0, 0, 0, 0)])[0]
    assert again.cached and again.val_nll == a[1].val_nll and ev.n_trained == 2
    fresh = EngineEvaluator(SearchSpace(), small_data, TrainConfig(epochs=1), lam=0.01, seed=0, workers=1)
    assert fresh.evaluate([(0, 0, 0, 0, 0)])[0].val_error == a[0].val_error


def test_equivalent_genotypes_share_one_evaluation(small_data):
    ev = EngineEvaluator(SearchSpace(), small_data, TrainConfig(epochs=1), lam=0.01, seed=0, workers=1)
    avg1, max1 = (0, 0, 0, 2, 0), (0, 0, 0, 3, 0)
    a, b = ev.evaluate([avg1, max1])
    assert (ev.n_requested, ev.n_trained) == (2, 1)
    assert a.val_error == b.val_error and a.objective == b.objective
    assert a.arch.endswith("avgpool1-fc10") and b.arch.endswith("maxpool1-fc10")
    assert not a.cached and b.cached and b.seconds == 0.0


def test_results_do_not_depend_on_worker_count(small_data):
    gs = [(0, 0, 0, 0, 0), (1, 1, 1, 1, 1), (2, 0, 2, 2, 2), (0, 1, 3, 3, 3), (1, 0, 4, 0, 4)]
    with EngineEvaluator(SearchSpace(), small_data, TrainConfig(epochs=2), 0.01, 0, workers=1) as one:
        a = one.evaluate(gs)
    with EngineEvaluator(SearchSpace(), small_data, TrainConfig(epochs=2), 0.01, 0, workers=2) as two:
        b = two.evaluate(gs)
    assert [(r.val_error, r.val_nll) for r in a] == [(r.val_error, r.val_nll) for r in b]


def test_cosine_schedule_runs_from_the_base_rate_to_zero():
    assert lr_factor("cosine", 0, 100) == 1.0
    assert abs(lr_factor("cosine", 50, 100) - 0.5) < 1e-12
    assert lr_factor("cosine", 99, 100) < 1e-3
    assert lr_factor("constant", 99, 100) == 1.0


def test_prepared_data_is_standardized_on_train_and_augments_raw_images(small_data):
    p = Prepared.from_data(small_data, TrainConfig(scaling="standardize"))
    x = p.data.train.x
    assert abs(float(x.mean())) < 1e-5 and abs(float(x.std()) - 1) < 1e-2
    batches = list(p.batches(16, seed=0, epoch=0))
    idx, xb = batches[0]
    assert xb is not None and xb.shape == (16, *small_data.input_shape)
    assert not torch.allclose(xb, x[idx])  # augmented
    again = list(p.batches(16, seed=0, epoch=0))
    assert all(torch.equal(a[1], b[1]) for a, b in zip(batches, again))  # same draws for the same seed and epoch
    plain = Prepared.from_data(small_data, TrainConfig(scaling="none", aug_shift=0, aug_rotate=0, aug_scale=0))
    assert plain.raw_train is None and torch.equal(plain.data.train.x, small_data.train.x)
    assert all(xb is None for _, xb in plain.batches(16, 0, 0))
