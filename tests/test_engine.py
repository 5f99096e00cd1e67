import pytest
import torch
import torch.nn.functional as F
from conftest import make_dataset, require_fused

from nas4cnn.core.config import TrainConfig
from nas4cnn.core.record import Status
from nas4cnn.core.space import SearchSpace
from nas4cnn.nn import fused, stacked
from nas4cnn.nn.activations import activation_names
from nas4cnn.nn.engine import train_group
from nas4cnn.nn.groups import Candidate, make_groups
from nas4cnn.nn.model import build_model
from nas4cnn.nn.optimizers import FastAdamax
from nas4cnn.nn.stacked import StackedGroup, group_key
from nas4cnn.nn.train import train_model

SPACE = SearchSpace()
# every registered activation, each with one of both kernels and one of several widths
ACT_SPACE = SearchSpace.from_lists(activation=list(activation_names()))
_WIDTHS = (2, 5, 0, 3, 9)
MIXED = [(i % 2, i, _WIDTHS[i % len(_WIDTHS)]) for i in range(len(ACT_SPACE.activation))]  # kernel, activation, width
# every activation, both kernels, several widths, all pooling kinds, two filter counts
GENOTYPES = [
    (2, 0, 0, 1, 6), (2, 1, 1, 1, 3), (2, 0, 4, 1, 0), (2, 1, 2, 0, 9), (2, 0, 3, 0, 4),
    (1, 0, 1, 2, 5), (1, 1, 0, 3, 7), (1, 0, 2, 2, 1), (1, 1, 3, 3, 8), (1, 0, 4, 2, 2),
]


def assert_same_weights(a, b, lr, name):
    """Equal up to float rounding. Adamax's first steps move a weight by about lr * sign(gradient),
    so a gradient that rounding pushes across zero can leave a rare single weight off by up
    to ~lr; everything else must agree to float precision."""
    diff = (a - b).abs()
    assert diff.max() <= 2 * lr, name
    assert (diff > 2e-5 + 1e-4 * b.abs()).float().mean() <= 1e-3, name
    assert diff.mean() <= 1e-6, name


def alone(cand, data, cfg, epochs):
    model = build_model(cand.arch, data.input_shape, data.num_classes, seed=cand.init_seed)
    hist = train_model(model, data, cfg, epochs, seed=0, track_val=True)
    return model, hist


ORIGINAL_RECIPE = dict(lr=1e-3, scaling="none", schedule="constant", aug_shift=0, aug_rotate=0, aug_scale=0)


@pytest.mark.parametrize("shape,recipe", [((1, 8, 8), {}), ((3, 7, 9), {}), ((1, 8, 8), ORIGINAL_RECIPE)],
                         ids=["default-8x8", "default-3x7x9", "seed-recipe-8x8"])
def test_candidate_in_a_group_matches_the_candidate_alone(shape, recipe, engine):
    data = make_dataset(shape=shape, num_classes=4, n=(150, 40, 10))
    cfg = TrainConfig(batch_size=32, **recipe)
    cands = [Candidate(SPACE.decode(g), 1000 + i) for i, g in enumerate(GENOTYPES)]
    groups = make_groups(cands, data.input_shape, overhead=1e12)
    assert any(len(g) > 1 for g in groups)
    for idx in groups:
        members = [cands[i] for i in idx]
        group, hists, failed = train_group(members, data, cfg, epochs=3, seed=0)
        assert failed == [None] * len(members)
        for cand, trained, hist in zip(members, group.extract(), hists):
            model, solo = alone(cand, data, cfg, 3)
            for a, b in zip(trained.parameters(), model.parameters()):
                assert_same_weights(a, b, cfg.lr, cand.arch.name)
            assert hist[-1].val_error == solo[-1].val_error
            assert hist[-1].val_loss == pytest.approx(solo[-1].val_loss, rel=1e-4)
            assert hist[-1].train_loss == pytest.approx(solo[-1].train_loss, rel=1e-4)


@pytest.mark.parametrize("pool", [1, 0, 2], ids=["maxpool2", "avgpool2", "identity"])
def test_hand_written_gradients_equal_autograd(pool):
    """One step's gradients, every candidate of a mixed group (every registered activation,
    both kernels, several widths) against autograd through the same networks; blank images
    make ties in every max-pooling window, whose gradient must still be counted once."""
    data = make_dataset(shape=(1, 8, 8), num_classes=4, n=(40, 10, 10))
    x, y = data.train.x.clone(), data.train.y
    x[:8] = 0
    archs = [ACT_SPACE.decode((0, k, act, pool, w)) for k, act, w in MIXED]
    models = [build_model(a, (1, 8, 8), 4, seed=i) for i, a in enumerate(archs)]
    group = StackedGroup(archs, models, (1, 8, 8), 4, torch.device("cpu"))
    group.train_step(group.patches(x).batch(), F.one_hot(y, 4).float())
    grads = []
    for m in models:
        F.nll_loss(m(x), y, reduction="sum").backward()
        g = build_model(m.arch, (1, 8, 8), 4)
        with torch.no_grad():
            for p, q in zip(g.parameters(), m.parameters()):
                p.copy_(q.grad)
        grads.append(g)
    expected = StackedGroup(archs, grads, (1, 8, 8), 4, torch.device("cpu")).flat
    assert expected.abs().max() > 1
    assert torch.allclose(group.grad, expected, rtol=1e-4, atol=1e-5)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_groups_trained_on_the_gpu_match_the_cpu(small_data):
    cfg = TrainConfig(batch_size=16, **ORIGINAL_RECIPE)
    cands = [Candidate(SPACE.decode(g), 1000 + i) for i, g in enumerate(GENOTYPES)]
    for idx in make_groups(cands, small_data.input_shape, overhead=1e12):
        members = [cands[i] for i in idx]
        on_cpu, cpu_hist, _ = train_group(members, small_data, cfg, 2, seed=0)
        on_gpu, gpu_hist, failed = train_group(members, small_data.to("cuda"), cfg, 2, seed=0)
        assert failed == [None] * len(members)
        for a, b, cand in zip(on_gpu.extract(), on_cpu.extract(), members):
            for p, q in zip(a.parameters(), b.parameters()):
                assert_same_weights(p, q, cfg.lr, cand.arch.name)
        for h, k in zip(gpu_hist, cpu_hist):
            assert h[-1].val_loss == pytest.approx(k[-1].val_loss, rel=1e-3)


def test_no_leak_between_candidates(small_data, engine):
    cfg = TrainConfig(batch_size=16)
    a = Candidate(SPACE.decode((1, 0, 0, 1, 3)), 1)
    b = Candidate(SPACE.decode((1, 1, 2, 1, 8)), 2)
    b_other_init = Candidate(b.arch, 3)
    assert group_key(a.arch) == group_key(b.arch)
    ga, _, _ = train_group([a, b], small_data, cfg, 2, seed=0)
    gb, _, _ = train_group([a, b_other_init], small_data, cfg, 2, seed=0)
    for p, q in zip(ga.extract()[0].parameters(), gb.extract()[0].parameters()):
        assert torch.allclose(p, q, atol=1e-6)
    assert not torch.allclose(ga.extract()[1].linear2.weight, gb.extract()[1].linear2.weight)


def test_groups_are_compatible_deterministic_and_cover_everyone():
    cands = [Candidate(SPACE.decode(g), 0) for g in SPACE.all_genotypes()][::7]
    groups = make_groups(cands, (1, 8, 8))
    assert groups == make_groups(cands, (1, 8, 8))
    assert sorted(i for g in groups for i in g) == list(range(len(cands)))
    for g in groups:
        assert len({group_key(cands[i].arch) for i in g}) == 1
        acts = [cands[i].arch.activation for i in g]
        assert acts == sorted(acts)
    # a larger per-group overhead never makes more groups
    assert len(make_groups(cands, (1, 8, 8), overhead=1e12)) <= len(groups)


def test_a_diverging_candidate_fails_alone(small_data, monkeypatch, engine):
    cfg = TrainConfig(batch_size=16)
    good = Candidate(SPACE.decode((1, 0, 0, 1, 3)), 1)
    bad = Candidate(SPACE.decode((1, 1, 2, 1, 8)), 2)
    real_build = build_model

    def build(arch, shape, k, seed=None):  # the bad candidate starts with enormous weights
        m = real_build(arch, shape, k, seed=seed)
        if seed == bad.init_seed:
            with torch.no_grad():
                m.linear2.weight.mul_(1e38)
                m.linear2.bias.fill_(float("inf"))
        return m

    monkeypatch.setattr("nas4cnn.nn.engine.build_model", build)
    group, hists, failed = train_group([good, bad], small_data, cfg, 2, seed=0)
    assert failed[0] is None and failed[1].status is Status.FAILED
    assert failed[1].reason.startswith("loss became") and "epoch 1, step 1" in failed[1].reason
    monkeypatch.setattr("nas4cnn.nn.engine.build_model", real_build)
    solo_group, solo_hists, _ = train_group([good], small_data, cfg, 2, seed=0)
    for p, q in zip(group.extract()[0].parameters(), solo_group.extract()[0].parameters()):
        assert torch.allclose(p, q, atol=1e-6)
    assert hists[0][-1].val_error == solo_hists[0][-1].val_error
    assert all(torch.isfinite(t).all() for t in group.params)


def test_out_of_memory_splits_the_group_then_fails_one(small_data, monkeypatch):
    from nas4cnn.searching.executors import TrainJob, local, run_group

    cands = [Candidate(SPACE.decode((1, 0, i % 5, 1, i)), i) for i in range(4)]
    too_big = cands[2]
    real = train_group

    def fake(group, *args, **kw):
        if len(group) > 1 or group[0] is too_big:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 1 GiB")
        return real(group, *args, **kw)

    monkeypatch.setattr(local, "train_group", fake)
    res = run_group(small_data, TrainJob(TrainConfig(batch_size=64), 1, 0), cands, {})
    assert res.reason == [None, None, "out of memory on cpu", None]
    assert res.status == [Status.OK, Status.OK, Status.FAILED, Status.OK]
    assert [v == v for v in res.val_error] == [True, True, False, True]


def test_lazy_patches_equal_the_unfolded_ones(small_data):
    group = StackedGroup([SPACE.decode((1, 1, 0, 1, 3))], [build_model(SPACE.decode((1, 1, 0, 1, 3)), (1, 8, 8), 3)],
                         (1, 8, 8), 3, torch.device("cpu"))
    x = small_data.train.x
    eager, lazy = group.patches(x, lazy=False), group.patches(x, lazy=True)
    idx = torch.tensor([5, 0, 17])
    assert torch.equal(eager.batch(idx), lazy.batch(idx))
    assert torch.equal(eager.batch(), lazy.batch())


@pytest.mark.parametrize("pool", [1, 0, 2], ids=["maxpool2", "avgpool2", "identity"])
def test_fused_steps_equal_the_pytorch_steps(pool):
    """Four fused steps of a mixed group (every registered activation: its code is handled by
    the C switch; both kernels, several widths; blank images tie every max-pooling window)
    against `train_step` + `FastAdamax`: the same weights, optimiser state and losses to
    float rounding, with batches cut from the whole split or given as their own patches."""
    require_fused()
    data = make_dataset(shape=(1, 8, 8), num_classes=4, n=(50, 10, 10))
    x, y = data.train.x.clone(), data.train.y
    x[:8] = 0
    archs = [ACT_SPACE.decode((0, k, act, pool, w)) for k, act, w in MIXED]

    def group_and_opt():
        models = [build_model(a, (1, 8, 8), 4, seed=i) for i, a in enumerate(archs)]
        group = StackedGroup(archs, models, (1, 8, 8), 4, torch.device("cpu"))
        return group, FastAdamax([group.flat], lr=0.01, weight_decay=1e-3)

    ref, ref_opt = group_and_opt()
    cut, cut_opt = group_and_opt()
    given, given_opt = group_and_opt()
    patches = ref.patches(x)
    start = ref.flat.clone()
    alive = torch.ones(len(archs), dtype=torch.bool)
    fused_cut = fused.FusedStep(cut, cut_opt, 16, alive)
    fused_given = fused.FusedStep(given, given_opt, 16, alive)
    onehot = F.one_hot(y, 4).float()
    for idx in torch.randperm(50, generator=torch.Generator().manual_seed(0)).split(16)[:4]:
        _, nll = ref.train_step(patches.batch(idx), onehot[idx])
        ref_opt.step()
        assert fused_cut.step(patches.data, 50, idx, y, idx, len(idx)) == 0
        assert fused_given.step(patches.batch(idx), len(idx), None, y, idx, len(idx)) == 0
        for f in (fused_cut, fused_given):
            assert torch.allclose(f.last_nll, nll, rtol=1e-4)
    assert (ref.flat - start).abs().max() > 0.03  # four Adamax steps of lr 0.01 moved the weights
    for g, opt in ((cut, cut_opt), (given, given_opt)):
        assert_same_weights(g.flat, ref.flat, 0.01, "flat")
        assert torch.allclose(opt.exp_avg[0], ref_opt.exp_avg[0], rtol=1e-4, atol=1e-6)
        assert torch.allclose(opt.exp_inf[0], ref_opt.exp_inf[0], rtol=1e-4, atol=1e-6)
        assert opt.t == ref_opt.t == 4
    assert torch.equal(cut.flat, given.flat)  # cutting the batch in C or in Python: the same numbers


@pytest.mark.parametrize("lazy", [False, True], ids=["unfolded", "lazy"])
def test_fused_training_equals_pytorch_training(small_data, monkeypatch, lazy):
    """Whole trainings (early stopping included), patches unfolded once or per batch."""
    require_fused()
    if lazy:
        monkeypatch.setattr(stacked, "PATCH_CACHE_BYTES", 0)
    cfg = TrainConfig(batch_size=16)
    cands = [Candidate(SPACE.decode(g), 10 + i) for i, g in enumerate(GENOTYPES[5:])]  # one group
    results = {}
    for flag in ("1", "0"):
        monkeypatch.setenv("NAS4CNN_FUSED", flag)
        results[flag] = train_group(cands, small_data, cfg, 3, seed=0, stop={2: 0.5})
    (g1, h1, f1), (g0, h0, f0) = results["1"], results["0"]
    assert f1 == f0 and sum(f is not None for f in f1) >= 1  # someone stopped early, the same ones
    assert [len(h) for h in h1] == [len(h) for h in h0]
    for a, b in zip(g1.extract(), g0.extract()):
        for p, q in zip(a.parameters(), b.parameters()):
            assert_same_weights(p, q, cfg.lr, a.arch.name)
    for x, z in zip(h1, h0):
        for e1, e0 in zip(x, z):
            assert e1.train_loss == pytest.approx(e0.train_loss, rel=1e-4)
            assert e1.train_error == e0.train_error


def test_without_a_compiler_the_engine_uses_pytorch(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("NAS4CNN_CACHE", str(tmp_path))
    monkeypatch.setenv("CC", "false")
    lib, why = fused._build()
    assert lib is None and "false failed" in why
    assert list(tmp_path.iterdir()) == []  # nothing half-written left behind
