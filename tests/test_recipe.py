import json
import math
import statistics
import subprocess
import sys

import pytest
import torch

from nas4cnn.core.config import RunConfig, TrainConfig, load_config
from nas4cnn.core.space import SearchSpace
from nas4cnn.data.augment import Augmentation
from nas4cnn.data.dataset import Split
from nas4cnn.final.training import EarlyStopping, architecture, train_network
from nas4cnn.nn.checkpoint import load_bundle
from nas4cnn.nn.train import EpochStats, evaluate

PLAIN = TrainConfig(aug_shift=0, aug_rotate=0, aug_scale=0)


def cli(*args):
    return subprocess.run([sys.executable, "-m", "nas4cnn", *map(str, args)], capture_output=True, text=True,
                          timeout=300)


def test_augmentation_moves_images_by_at_most_the_shift():
    x = torch.zeros(64, 1, 12, 12)
    x[:, :, 5:7, 5:7] = 1.0
    out = Augmentation(shift=2.0)(x, torch.Generator().manual_seed(0))
    grid = torch.arange(12.0)
    mass = out.sum((1, 2, 3))
    cy = (out.sum(3).squeeze(1) * grid).sum(1) / mass
    cx = (out.sum(2).squeeze(1) * grid).sum(1) / mass
    shift = torch.stack([cy - 5.5, cx - 5.5], 1).abs()
    assert shift.max() <= 2.0 + 1e-4 and shift.max() > 1.0  # moved, within bounds
    assert torch.allclose(mass, torch.full_like(mass, 4.0), atol=1e-4)  # nothing fell off the image
    assert torch.equal(Augmentation()(x, torch.Generator()), x)


def test_rotation_turns_about_the_centre():
    yy, xx = torch.meshgrid(torch.arange(16.0) - 7.5, torch.arange(16.0) - 7.5, indexing="ij")
    bar = ((yy.abs() < 1) & (xx.abs() < 6)).float()[None, None].repeat(32, 1, 1, 1)  # horizontal
    out = Augmentation(rotate=30.0)(bar, torch.Generator().manual_seed(1))
    mass = out.sum((1, 2, 3))
    assert torch.allclose(mass, bar[0].sum().expand(32), rtol=0.05)
    assert (out * yy).sum((1, 2, 3)).abs().max() / mass.min() < 0.05  # centre stays
    tilt = (out * xx * yy).sum((1, 2, 3)) / mass  # 0 for a level bar; its sign follows the angle
    assert (tilt > 0.5).any() and (tilt < -0.5).any() and tilt.abs().max() < 12


def test_flip_mirrors_about_half_the_images_exactly():
    x = torch.rand(200, 1, 6, 7)
    out = Augmentation(flip=True)(x, torch.Generator().manual_seed(3))
    same = (out == x).flatten(1).all(1)
    mirrored = (out == x.flip(-1)).flatten(1).all(1)
    assert bool((same | mirrored).all())  # no resampling: every image is itself or its mirror
    assert 60 < int(mirrored.sum()) < 140
    again = Augmentation(flip=True)(x, torch.Generator().manual_seed(3))
    assert torch.equal(out, again)


def test_flip_leaves_the_other_draws_as_they_were():
    x = torch.rand(32, 1, 10, 10)
    plain = Augmentation(shift=2.0, rotate=10.0)(x, torch.Generator().manual_seed(5))
    both = Augmentation(shift=2.0, rotate=10.0, flip=True)(x, torch.Generator().manual_seed(5))
    mirrored = (both != plain).flatten(1).any(1)
    assert bool(mirrored.any()) and not bool(mirrored.all())
    assert torch.equal(both[mirrored], plain[mirrored].flip(-1))
    assert torch.equal(both[~mirrored], plain[~mirrored])


def test_early_stopping_keeps_the_best_epoch_weights():
    model = torch.nn.Linear(2, 2)
    stop = EarlyStopping(model, patience=2)
    losses = [1.0, 0.5, 0.7, 0.8, 0.4]
    states = []
    for epoch, loss in enumerate(losses, 1):
        with torch.no_grad():
            model.weight.fill_(epoch)
        states.append(epoch)
        done = stop([EpochStats(epoch, 0, 0, loss, 0)] * 1)
        if done:
            break
    assert epoch == 4 and stop.best_epoch == 2
    stop.restore()
    assert torch.all(model.weight == 2)


def test_final_model_on_train_and_validation(small_data):
    cfg = TrainConfig(batch_size=16)
    net = architecture(SearchSpace(), (1, 0, 0, 1, 3), small_data)
    r = train_network(net, small_data, cfg, epochs=6, seed=0, patience=2, trainval=True)
    assert 1 <= r.best_epoch <= len(r.history) <= 6
    assert len(r.trainval_history) == r.best_epoch
    # the normalisation is fitted on train + validation images, and the model gives the reported figures
    both = torch.cat([small_data.train.x, small_data.val.x])
    assert r.normalization.mean[0] == pytest.approx(float(both.double().mean()), abs=1e-6)
    test = Split(r.normalization.apply(small_data.test.x), small_data.test.y)
    assert evaluate(r.model, test) == pytest.approx((r.test_nll, r.test_error))
    assert sum(map(sum, r.confusion)) == len(small_data.test)
    again = train_network(net, small_data, cfg, epochs=6, seed=0, patience=2, trainval=True)
    assert (again.test_nll, again.best_epoch) == (r.test_nll, r.best_epoch)


def test_seed_recipe_is_the_seeds_training():
    seed = RunConfig.recipe("seed")
    assert (seed.train.lr, seed.train.scaling, seed.train.schedule) == (1e-3, "none", "constant")
    assert (seed.train.aug_shift, seed.train.aug_rotate, seed.train.aug_scale) == (0, 0, 0)
    assert (seed.search.final_epochs, seed.search.final_patience, seed.search.final_trainval) == (40, 0, False)
    assert (seed.train.optimizer, seed.train.batch_size, seed.train.weight_decay) == ("adamax", 64, 1e-5)


def test_config_file_settings_apply_on_top_of_a_recipe(tmp_path):
    f = tmp_path / "c.toml"
    f.write_text("[train]\naug_rotate = 5.0\n[search]\nfinal_repeats = 3\n")
    c = load_config(f, recipe="seed")
    assert c.train.aug_rotate == 5.0 and c.train.lr == 1e-3 and c.search.final_repeats == 3


@pytest.mark.parametrize("args,expected", [
    (["--aug-rotate", "500"], "train.aug_rotate (--aug-rotate) must be at most 180 degrees; got 500.0"),
    (["--aug-scale", "1.5"], "train.aug_scale (--aug-scale) must be below 1; got 1.5"),
    (["--repeats", "0"], "search.final_repeats (--repeats) must be an integer >= 1; got 0"),
    (["--patience", "-1"], "search.final_patience (--patience) must be an integer >= 0; got -1"),
    (["--lr", "0"], "train.lr (--lr) must be a finite number > 0; got 0.0"),
])
def test_bad_recipe_settings_give_one_line(tmp_path, args, expected):
    r = cli("train", "--genotype", "0,0,0,0,0", "--out", tmp_path / "t", *args)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.strip().endswith(expected), r.stderr
    assert not (tmp_path / "t").exists()


@pytest.mark.slow
def test_train_repeats_reports_mean_spread_and_seeds(tmp_path):
    r = cli("train", "--genotype", "0,0,0,0,0", "--epochs", "2", "--repeats", "3", "--patience", "0", "--json",
            "--out", tmp_path / "t")
    assert r.returncode == 0, r.stderr
    m = json.loads(r.stdout)
    errors = [s["test_error"] for s in m["per_seed"]]
    nlls = [s["test_nll"] for s in m["per_seed"]]
    assert [s["seed"] for s in m["per_seed"]] == [0, 1, 2] and m["repeats"] == 3
    assert m["test_error_mean"] == pytest.approx(statistics.fmean(errors))
    assert m["test_error_std"] == pytest.approx(statistics.stdev(errors))
    assert m["test_nll_mean"] == pytest.approx(statistics.fmean(nlls))
    assert m["test_nll_std"] == pytest.approx(statistics.stdev(nlls))
    assert len(set(nlls)) == 3 and m["test_nll"] == nlls[0]
    assert m["trainval_epochs"] == 2 and all(math.isfinite(v) for v in nlls)
    # the saved model is the first seed's, with its normalisation: it gives the reported figures
    from nas4cnn.data.sources.digits import load_digits

    bundle = load_bundle(tmp_path / "t" / "model.pt")
    test = load_digits().test
    nll, err = evaluate(bundle.model, Split(bundle.normalization.apply(test.x), test.y))
    assert err == pytest.approx(m["test_error"]) and nll == pytest.approx(m["test_nll"], rel=1e-4)
    assert bundle.class_names == tuple("0123456789") and bundle.pixel_max == 16.0


@pytest.mark.slow
def test_baseline_command_trains_both_models_and_draws_the_chart(tmp_path):
    r = cli("baseline", "--epochs", "2", "--repeats", "2", "--patience", "0", "--json", "--out", tmp_path)
    assert r.returncode == 0, r.stderr
    rows = [json.loads(x) for x in r.stdout.splitlines()]
    assert [x["label"] for x in rows] == ["human-cnn", "feed-forward"]
    assert all(x["repeats"] == 2 and 0 <= x["test_error_mean"] <= 1 for x in rows)
    assert rows[0]["published_error"] == 0.0716 and rows[1]["published_nll"] == 0.336
    assert (tmp_path / "baselines.png").stat().st_size > 0
    saved = json.loads((tmp_path / "baselines.json").read_text())
    assert saved["rows"] == rows and set(saved["baselines"]) == {"human-cnn", "feed-forward"}


@pytest.mark.slow
def test_baseline_with_a_run_adds_its_model(tmp_path):
    run = tmp_path / "run"
    r = cli("search", "--generations", "1", "--population", "2", "--epochs", "1", "--final-epochs", "2",
            "--quiet", "--out", run)
    assert r.returncode == 0, r.stderr
    r = cli("baseline", "--run", run, "--json", "--quiet")
    assert r.returncode == 0, r.stderr
    rows = [json.loads(x) for x in r.stdout.splitlines()]
    summary = json.loads((run / "summary.json").read_text())
    assert rows[-1]["label"].startswith("searched") and rows[-1]["test_error_mean"] == summary["test_error"]
    assert (run / "baselines.png").exists()
    r = cli("baseline", "--run", run, "--lr", "0.1")
    assert r.returncode == 2 and "Traceback" not in r.stderr


def test_final_figures_do_not_depend_on_the_thread_count(small_data):
    results = []
    before = torch.get_num_threads()
    try:
        for threads in (1, 2):
            torch.set_num_threads(threads)
            r = train_network(architecture(SearchSpace(), (2, 1, 0, 1, 9), small_data), small_data,
                              TrainConfig(batch_size=8), epochs=3, seed=0)
            results.append((r.test_nll, r.history[-1].train_loss))
    finally:
        torch.set_num_threads(before)
    assert results[0] == results[1]


def test_baseline_run_takes_no_other_settings(tmp_path):
    r = cli("baseline", "--run", tmp_path, "--epochs", "3")
    assert r.returncode == 2 and "--run: the baselines use the run's own settings" in r.stderr
