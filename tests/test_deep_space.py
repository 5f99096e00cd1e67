"""Deep search spaces: the description (Python and TOML), genotypes and names both ways,
parameter and MAC counts against the built networks, Nmax without listing the space, the
networks that do not fit, and a search with every downstream output on a deep space."""

import itertools
import json
import math

import numpy as np
import pytest
import torch
from conftest import make_dataset
from torch import nn

from nas4cnn import api
from nas4cnn.cli import main
from nas4cnn.core import deep_params
from nas4cnn.core.config import RunConfig, config_from_dict, load_config
from nas4cnn.core.deep_space import BlockSpace, DeepSpace
from nas4cnn.core.errors import ConfigError, GenotypeError
from nas4cnn.core.params import max_params, refusal
from nas4cnn.core.space import PoolChoice, SearchSpace
from nas4cnn.core.spaces import COMPACT, describe, load_space, space_from_dict
from nas4cnn.nn.groups import Candidate
from nas4cnn.nn.model import build_model
from nas4cnn.nn.train import train_model
from nas4cnn.strategies import STRATEGIES, make_strategy

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch.jit is deprecated upstream

M1, M2, A2 = PoolChoice("max", 1), PoolChoice("max", 2), PoolChoice("avg", 2)

# A small deep space, small enough to list whole.
SMALL = DeepSpace(
    label="small",
    blocks=(BlockSpace(filters=(4, 6), kernel=(3, 5), stride=(1,), activation=("relu", "elu"), pool=(M1, M2),
                       batchnorm=(True, False), conv=("full",)),
            BlockSpace(filters=(8,), kernel=(3,), stride=(1, 2), activation=("relu",),
                       pool=(M1, A2, PoolChoice("avg", 1)), batchnorm=(False, True), conv=("full", "separable"))),
    depth=(1, 2), dropout=(0.0, 0.25), head=("gap", "flatten"), hidden=(0, 2), width=(5, 7),
)


def _random(space, n, seed=0):
    rng = np.random.default_rng(seed)
    return [space.random_genotype(rng) for _ in range(n)]


# --- genotypes and names

def test_genes_are_fixed_length_and_inactive_ones_do_not_change_the_network():
    assert len(COMPACT.genes) == 1 + 4 * 7 + 3 + 1 == len(COMPACT.sizes)
    for g in _random(COMPACT, 200):
        c = COMPACT.canonical(g)
        assert COMPACT.canonical(c) == c
        assert COMPACT.decode(g) == COMPACT.decode(c)


def test_names_parse_back_to_the_canonical_genotype():
    for space in (COMPACT, SMALL):
        for g in _random(space, 300, seed=1):
            name = space.name(g)
            assert space.parse(name) == space.canonical(g)
            assert space.parse(",".join(map(str, g))) == tuple(g)


def test_a_name_not_in_the_space_is_one_clear_error():
    with pytest.raises(GenotypeError, match="block1.filters 12 is not in the space 'compact'"):
        COMPACT.parse("conv12k3-relu+conv32k3-relu+gap")
    with pytest.raises(GenotypeError, match="like 'conv16k3"):
        COMPACT.parse("conv16k3-relu-maxpool2-fc60")  # a seed-space name
    with pytest.raises(GenotypeError, match="expected 33 genes"):
        COMPACT.validate((0, 0, 0))


def test_the_distinct_network_count_matches_listing_the_space():
    assert SMALL.n_networks == len({SMALL.canonical(g) for g in SMALL.all_genotypes()})
    assert SearchSpace().n_networks == len({SearchSpace().canonical(g) for g in SearchSpace().all_genotypes()})


# --- sizes

def _macs(model: nn.Module, shape) -> int:
    total = 0

    def hook(m, inp, out):
        nonlocal total
        if isinstance(m, nn.Conv2d):
            total += out[0].numel() * (m.in_channels // m.groups) * m.kernel_size[0] * m.kernel_size[1]
        elif isinstance(m, nn.Linear):
            total += m.in_features * m.out_features

    hooks = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    model.eval()
    model(torch.zeros(1, *shape))
    for h in hooks:
        h.remove()
    return total


@pytest.mark.parametrize("shape,classes", [((1, 28, 28), 10), ((3, 32, 32), 7)])
def test_parameter_and_mac_counts_match_the_built_networks(shape, classes):
    checked = 0
    for g in _random(COMPACT, 60, seed=2):
        arch = COMPACT.decode(g)
        if deep_params.shrink_reason(arch, shape) is not None:
            continue
        model = build_model(arch, shape, classes, seed=0)
        assert deep_params.count_params(arch, shape, classes) == sum(p.numel() for p in model.parameters())
        assert deep_params.count_macs(arch, shape, classes) == _macs(model, shape)
        assert model(torch.zeros(2, *shape)).shape == (2, classes)
        checked += 1
    assert checked > 30


@pytest.mark.parametrize("shape", [(1, 8, 8), (1, 28, 28), (3, 5, 5)])
def test_nmax_is_the_largest_count_of_a_network_that_fits(shape):
    counts = [deep_params.count_params(SMALL.decode(g), shape, 3)
              for g in {SMALL.canonical(g) for g in SMALL.all_genotypes()}
              if deep_params.shrink_reason(SMALL.decode(g), shape) is None]
    assert max_params(SMALL, shape, 3) == max(counts)


def test_a_network_that_shrinks_to_nothing_or_is_too_large_is_refused_with_its_reason():
    name = "conv32k3-relu-maxpool2+conv64k3s2-relu-maxpool2+conv96k3-relu-maxpool2+gap"
    arch = COMPACT.decode(COMPACT.parse(name))
    why = refusal(COMPACT, arch, (1, 8, 8), 1000)
    assert "shrinks to nothing in block 3 (8x8 -> 4x4 -> 1x1 -> 0x0)" in why
    with pytest.raises(ConfigError, match="shrinks to nothing"):
        build_model(arch, (1, 8, 8), 10)
    assert refusal(COMPACT, arch, (1, 28, 28), 100_001) == \
        "it has 100,001 parameters, above the space's limit of 100,000"
    assert refusal(COMPACT, arch, (1, 28, 28), 50_000) is None
    tiny = space_from_dict({"block": [{"pool": ["max2"]}] * 3, "depth": [3]})
    with pytest.raises(ConfigError, match="every network's feature map shrinks to nothing on 4x4"):
        deep_params.check_fits(tiny, (1, 4, 4))


# --- descriptions: TOML, the config, the command line

SPACE_TOML = """
name = "mine"
depth = [1, 2]
dropout = [0.0, 0.25]
head = ["gap"]
hidden = [0, 1]
width = [16, 32]
max_params = 50000

[[block]]
filters = [8, 16]
kernel = [3, 5]
pool = ["none", "max2"]
batchnorm = [true, false]

[[block]]
filters = [16, 32]
stride = [1, 2]
conv = ["full", "separable"]
activation = ["relu", "elu"]
"""


def test_a_space_file_loads_round_trips_and_is_recorded_with_the_run(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text(SPACE_TOML)
    space = load_space(str(path))
    assert isinstance(space, DeepSpace) and space.label == "mine" and space.max_params == 50_000
    assert space.blocks[0].pool == (M1, M2) and space.blocks[1].conv == ("full", "separable")
    assert space_from_dict(space.to_dict()) == space
    config = RunConfig().__class__(space=space)
    assert config_from_dict(json.loads(json.dumps(config.to_dict()))).space == space
    cfg = tmp_path / "run.toml"
    cfg.write_text("[space]\nname = \"compact\"\n")
    assert load_config(cfg).space == COMPACT
    assert load_config(None).space == SearchSpace()


@pytest.mark.parametrize("text,message", [
    ("[[block]]\nkernel = [4]", "odd kernel sizes"),
    ("[[block]]\nfilters = []", "non-empty list"),
    ("depth = [3]\n[[block]]\nfilters = [8]", "at most 1 (the blocks described)"),
    ("hidden = [3]\n[[block]]\nfilters = [8]", "hidden-layer counts 0..2"),
    ("dropout = [1.5]\n[[block]]\nfilters = [8]", "dropout rates in [0, 1)"),
    ("[[block]]\npool = [\"max0\"]", "'none' or a pooling"),
    ("[[block]]\nsize = [3]", "unknown key 'size'"),
    ("head = [\"gapp\"]\n[[block]]\nfilters = [8]", "expected some of ['gap', 'flatten']"),
])
def test_a_bad_space_file_is_one_line_and_exit_2(tmp_path, capsys, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("(", r"\(").replace(")", r"\)")):
        load_space(str(path))
    assert main(["space", "--space", str(path)]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_the_space_command_describes_a_deep_space(capsys):
    assert main(["space", "--space", "compact", "--json"]) in (0, None)
    info = json.loads(capsys.readouterr().out)
    assert info["space"] == "compact" and info["max_params"] == 100_000 and info["nmax"] == 100_000
    assert info["genes"]["block2.conv"] == ["full", "separable"] and info["size"] == COMPACT.size
    assert describe(SearchSpace())["genes"] == SearchSpace().to_dict()


# --- strategies and training

@pytest.mark.parametrize("name", [n for n in STRATEGIES if n != "grid"])
def test_every_sampling_strategy_asks_valid_genotypes_of_a_deep_space(name):
    strategy = make_strategy(name, COMPACT, 6, 0, max_epochs=4)
    asked = strategy.ask()
    assert asked and all(COMPACT.validate(g) == tuple(g) for g in asked)


def test_grid_search_refuses_a_space_too_large_to_list():
    with pytest.raises(ConfigError, match="4,119,552,000"):
        make_strategy("grid", COMPACT, 6, 0)
    assert len(make_strategy("grid", SMALL, 6, 0).order) == SMALL.n_networks


def test_a_group_of_deep_candidates_trains_as_each_alone_with_the_plain_loop():
    from nas4cnn.nn.engine import train_group

    data = make_dataset(n=(64, 32, 16))
    cfg = RunConfig().train.__class__(epochs=2, batch_size=16)
    names = ["conv4k3-relu-bn+gap-drop25", "conv6k5-elu-maxpool2+sep8k3s2-relu-bn+flat-fc5-fc7"]
    cands = [Candidate(SMALL.decode(SMALL.parse(n)), 11 + i) for i, n in enumerate(names)]
    group, hist, ended = train_group(cands, data, cfg, 2, seed=3)
    assert group is None and ended == [None, None]
    for cand, h in zip(cands, hist):
        model = build_model(cand.arch, data.input_shape, data.num_classes, seed=cand.init_seed)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(cand.init_seed)
            alone = train_model(model, data, cfg, 2, 3)
        assert [e.train_loss for e in h] == [e.train_loss for e in alone]
        assert h[-1].val_error == alone[-1].val_error and math.isnan(h[0].val_error)  # measured at the end only


def test_a_deep_candidate_whose_loss_diverges_fails_and_one_above_a_threshold_stops(monkeypatch):
    from nas4cnn.nn.engine import train_group

    data = make_dataset(n=(64, 32, 16))
    cfg = RunConfig().train.__class__(epochs=4, batch_size=16)
    cands = [Candidate(SMALL.decode(SMALL.parse("conv4k3-relu+gap")), 1),
             Candidate(SMALL.decode(SMALL.parse("conv6k3-relu+gap")), 2)]

    def build(arch, shape, k, seed=None):  # the second starts with an infinite output
        m = build_model(arch, shape, k, seed=seed)
        if seed == 2:
            with torch.no_grad():
                m.classifier[-1].bias.fill_(float("inf"))
        return m

    with monkeypatch.context() as patch:
        patch.setattr("nas4cnn.nn.deep_train.build_model", build)
        _, hist, ended = train_group(cands, data, cfg, 4, seed=0)
    assert ended[0] is None and len(hist[0]) == 4
    assert ended[1].status.value == "failed" and ended[1].reason == "loss became nan in epoch 1"
    _, hist, ended = train_group(cands[:1], data, cfg, 4, seed=0, stop={2: -1.0})
    assert ended[0].status.value == "stopped" and len(hist[0]) == 2


# --- a whole search on a deep space

def test_a_search_on_a_deep_space_gives_every_output(tmp_path):
    data = make_dataset(n=(60, 30, 30))
    config = RunConfig(space=SMALL).override("search", generations=1, population=4, final_epochs=2, seed=1) \
        .override("train", epochs=2)
    run = api.search(config, out=tmp_path / "run", data=data, device="cpu", workers=2)
    s = run.summary
    assert s["config"]["space"]["name"] == "small"
    assert SMALL.parse(s["final"]["arch"]) == SMALL.canonical(tuple(s["final"]["genotype"]))
    assert s["nmax"] == max_params(SMALL, (1, 8, 8), 3)
    from nas4cnn.nn.checkpoint import ProbabilityModel, load_bundle

    bundle = load_bundle(run.path / "model.pt")
    assert bundle.arch_name == s["final"]["arch"] and not bundle.model.training
    raw = np.abs(data.test.x[:5].numpy()).astype(np.float32) * 50  # raw pixels, 0..255
    with torch.no_grad():
        direct = ProbabilityModel(bundle)(torch.from_numpy(raw)).numpy()
    got = np.array([p.probabilities for p in api.predict(run.path, raw)])
    assert np.allclose(got, direct, atol=1e-6)
    import onnxruntime as ort

    sess = ort.InferenceSession(str(api.export(run.path, "onnx")))
    out = sess.run(None, {sess.get_inputs()[0].name: raw})[0]
    assert np.allclose(out, direct, atol=1e-5)
    scripted = torch.jit.load(str(api.export(run.path, "torchscript")))
    assert np.allclose(scripted(torch.from_numpy(raw)).detach().numpy(), direct, atol=1e-6)
    html = (run.path / "report.html").read_text()
    assert s["final"]["arch"] in html and "<h3>Layers</h3>" in html and "log-softmax" in html


def test_the_seed_space_is_unchanged_by_deep_spaces():
    space = RunConfig().space
    assert space == SearchSpace() and space.genes == ("filters", "conv", "activation", "pooling", "linear")
    assert max_params(space, (1, 8, 8), 10) == 206_742
    assert list(itertools.islice(space.all_genotypes(), 2)) == [(0, 0, 0, 0, 0), (0, 0, 0, 0, 1)]


def test_layer_listings_add_up_to_the_parameter_counts():
    from nas4cnn.core.layers import layers
    from nas4cnn.core.params import count_params

    for space, shape in ((COMPACT, (1, 28, 28)), (SearchSpace(), (3, 32, 32))):
        for g in _random(space, 40, seed=5):
            arch = space.decode(g)
            if refusal(space, arch, shape, 0) is not None:
                continue
            listed = layers(arch, shape, 10)
            assert sum(layer.params for layer in listed) == count_params(arch, shape, 10)
            assert listed[-1].shape == (10,) and listed[-1].name.endswith("log-softmax")


def test_tabulate_refuses_a_space_too_large_to_train_whole(capsys):
    assert main(["tabulate", "--space", "compact", "--out", "never.json.gz"]) == 2
    err = capsys.readouterr().err
    assert "this space has 4,119,552,000" in err and "--sample N" in err and len(err.strip().splitlines()) == 1


def test_a_space_too_large_is_tabulated_on_a_sample_and_compared_against_it(tmp_path):
    from nas4cnn.api.tables import compare_markdown
    from nas4cnn.tables.tabulate import Table, sample_networks

    data = make_dataset(shape=(1, 16, 16), n=(40, 10, 10))
    config = RunConfig(space=COMPACT).override("train", epochs=2).override("search", seed=4)
    table = api.tabulate(config, seeds=1, out=tmp_path / "t.json.gz", data=data, device="cpu", workers=1, sample=6)
    assert table.sampled and len(table.genotypes) == 6 and table.space_networks == COMPACT.n_networks
    assert table.genotypes == sample_networks(COMPACT, 6, 4, data.input_shape, 3)  # the run seed's draws
    assert table.genotypes != sample_networks(COMPACT, 6, 5, data.input_shape, 3)
    for g in table.genotypes:
        assert COMPACT.canonical(g) == g and refusal(COMPACT, COMPACT.decode(g), data.input_shape, 0) is None
    assert not np.isnan(table.val_error).any()
    loaded = Table.load(tmp_path / "t.json.gz")
    assert loaded.sampled and loaded.space_networks == COMPACT.n_networks
    assert loaded.input_shape == (1, 16, 16) and loaded.num_classes == 3
    rows = api.compare(["random", "evolution"], table=tmp_path / "t.json.gz", repeats=2, population=3, budget=40)
    assert all(0 < r["nearest_lookup_fraction"] <= 1 for r in rows)
    from nas4cnn.tables.table_evaluator import TableEvaluator

    ev = TableEvaluator(loaded, 0.01, 0)  # a network too large for the space's limit is pruned, as in a search
    big = COMPACT.parse("conv32k5-relu+conv64k5-relu+conv96k5-relu+conv128k3-relu+flat-fc128")
    assert "parameter" in ev.refusal(big, ev.params(big)) and ev.refusal(table.genotypes[0], 0) is None
    assert "a sample of 6 of the space's 4,119,552,000 networks" in compare_markdown(rows)


def test_a_table_looks_a_network_up_as_itself_or_its_nearest_sampled_one():
    from nas4cnn.tables.tabulate import Table

    genotypes = [COMPACT.canonical(g) for g in _random(COMPACT, 5, seed=2)]
    n = len(genotypes)
    table = Table(RunConfig(space=COMPACT), "fixture", 1, [0], genotypes, np.ones(n, dtype=np.int64),
                  np.zeros((1, n, 1)), np.zeros((1, n, 1)), space_networks=COMPACT.n_networks)
    for row, g in enumerate(genotypes):
        assert table.lookup(g) == row
    near = list(genotypes[3])
    d = COMPACT.genes.index("dropout")
    near[d] = (near[d] + 1) % COMPACT.sizes[d]
    rows = np.asarray(genotypes)
    distance = (rows != np.asarray(COMPACT.canonical(near))).sum(1)
    assert table.lookup(tuple(near)) == int(distance.argmin()) and distance.min() >= 1


@pytest.mark.parametrize("args, fragment", [
    (["--space", "compact", "--sample", "0"], "--sample must be an integer >= 1; got 0"),
    (["--sample", "5000"], "--sample 5,000: the space has only 900 networks; leave --sample out"),
])
def test_a_bad_sample_is_one_line(args, fragment, capsys):
    assert main(["tabulate", *args, "--out", "never.json.gz"]) == 2
    err = capsys.readouterr().err
    assert fragment in err and len(err.strip().splitlines()) == 1


def test_evaluate_says_why_a_network_was_not_trained(capsys):
    name = "conv16k3-relu-maxpool2+conv32k3s2-relu-maxpool2+conv48k3s2-relu-maxpool2+gap"
    assert main(["evaluate", "--space", "compact", "--genotype", name, "--epochs", "1"]) in (0, None)
    out = capsys.readouterr().out
    assert "pruned: its feature map shrinks to nothing in block 3" in out


def test_a_deep_space_small_enough_is_tabulated_and_strategies_compared_on_it(tmp_path):
    tiny = space_from_dict({"name": "tiny", "depth": [1, 2],
                            "block": [{"filters": [4, 6], "pool": ["max2"]}, {"filters": [8], "kernel": [3, 5],
                                                                              "pool": ["none"]}]})
    config = RunConfig(space=tiny).override("train", epochs=1)
    table = api.tabulate(config, seeds=1, out=tmp_path / "t.json.gz", data=make_dataset(), device="cpu", workers=1)
    assert len(table.genotypes) == tiny.n_networks == 6
    rows = api.compare(["evolution", "grid"], table=tmp_path / "t.json.gz", repeats=3, population=2)
    assert [r["strategy"] for r in rows] == ["evolution", "grid"] and rows[1]["found_optimum_fraction"] == 1.0


def test_a_deep_final_model_is_the_same_on_one_or_two_workers():
    from nas4cnn.final.training import architecture, train_repeats

    data = make_dataset(n=(60, 30, 30))
    cfg = RunConfig().train.__class__(epochs=2, batch_size=16)
    g = SMALL.parse("conv6k5-elu-maxpool2+sep8k3s2-relu-bn+gap-drop25-fc5-fc7")  # dropout: seeded per run
    net = architecture(SMALL, g, data)
    assert net.arch is None  # the plain loop
    one = train_repeats(net, data, cfg, 2, seed=4, trainval=True, workers=1).first
    two = train_repeats(net, data, cfg, 2, seed=4, trainval=True, workers=2).first
    assert [h.val_error for h in one.history] == [h.val_error for h in two.history]
    assert [h.train_loss for h in one.trainval_history] == [h.train_loss for h in two.trainval_history]
    assert (one.test_error, one.test_nll) == (two.test_error, two.test_nll) and one.best_epoch == 2
    for a, b in zip(one.model.state_dict().values(), two.model.state_dict().values()):
        assert torch.equal(a, b)
