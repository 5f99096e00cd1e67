import re

import pytest

from nas4cnn.core.config import RunConfig, load_config
from nas4cnn.core.errors import ConfigError


def write(tmp_path, text):
    p = tmp_path / "c.toml"
    p.write_text(text)
    return p


def test_search_defaults_are_the_seeds_and_the_recipe_is_ours():
    c = RunConfig()
    assert (c.search.generations, c.search.population, c.search.lam) == (50, 20, 0.01)
    assert (c.train.epochs, c.train.weight_decay, c.train.optimizer) == (8, 1e-5, "adamax")
    assert (c.train.lr, c.train.scaling, c.train.schedule) == (1e-2, "standardize", "cosine")
    assert (c.search.final_patience, c.search.final_trainval) == (0, True)
    # chosen from the data's size (nas4cnn.core.defaults): on the seed's digits, batches of 64 and 100 epochs
    assert (c.train.batch_size, c.search.final_epochs, c.search.subset, c.search.budget) == (0, 0, 0, 0)


def test_file_sets_space_and_settings(tmp_path):
    c = load_config(write(tmp_path, """
[space]
filters = [4, 8]
pooling = ["max2"]
[train]
lr = 0.01
[search]
lambda = 0.5
population = 4
"""))
    assert c.space.filters == (4, 8)
    assert c.space.size == 2 * 2 * 5 * 1 * 10
    assert c.train.lr == 0.01 and c.search.lam == 0.5 and c.search.population == 4
    assert c.to_dict()["search"]["lambda"] == 0.5


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("[search]\nlamda = 0.1", "unknown key 'lamda' in [search]"),
        ("[search]\nlamda = 0.1", "did you mean 'lambda'?"),
        ("[serch]\n", "unknown section [serch]"),
        ("[search]\nlambda = -1", "search.lambda (--lambda) must be a finite number >= 0; got -1"),
        ("[search]\npopulation = 1", "search.population (--population) must be an integer >= 2; got 1"),
        ("[train]\nepochs = 0", "train.epochs (--epochs) must be an integer >= 1; got 0"),
        ("[train]\nepochs = 'many'", "got 'many'"),
        ("[space]\nfilters = []", "at least one choice"),
        ("this is not toml", "not valid TOML"),
    ],
)
def test_bad_config_files(tmp_path, text, fragment):
    with pytest.raises(ConfigError) as e:
        load_config(write(tmp_path, text))
    assert fragment in str(e.value)


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match="no such file"):
        load_config(tmp_path / "nope.toml")


def test_override_validates():
    with pytest.raises(ConfigError, match="--lambda"):
        RunConfig().override("search", lam=-0.1)
    assert RunConfig().override("search", lam=None) == RunConfig()


def test_a_config_stored_before_the_recipe_existed_reads_as_the_seeds_recipe():
    from nas4cnn.core.config import config_from_dict

    stored = RunConfig.recipe("seed").to_dict()
    for key in ("scaling", "schedule", "aug_shift", "aug_rotate", "aug_scale"):
        del stored["train"][key]
    for key in ("final_patience", "final_trainval", "final_repeats"):
        del stored["search"][key]
    c = config_from_dict(stored)
    assert c == RunConfig.recipe("seed")
    assert config_from_dict(RunConfig().to_dict()) == RunConfig()  # a current one is read as written


def test_a_config_stored_before_mirroring_existed_reads_as_no_mirroring():
    from nas4cnn.core.config import config_from_dict

    stored = RunConfig().to_dict()
    del stored["train"]["aug_flip"]
    assert config_from_dict(stored) == RunConfig().override("train", aug_flip="off")


def test_every_field_is_declared_once_as_a_setting():
    from dataclasses import fields

    from nas4cnn.core.config import SETTINGS, DataConfig, SearchConfig, TrainConfig

    declared = {f"{section}.{f.name}" for section, record in (("train", TrainConfig), ("search", SearchConfig),
                                                               ("data", DataConfig)) for f in fields(record)}
    assert set(SETTINGS) == declared
    for key, s in SETTINGS.items():
        s.check(s.default, s.name)  # every default passes its own check
        assert s.help and key == f"{s.section}.{s.key}"
    flags = [s.flag for s in SETTINGS.values() if s.flag]
    assert len(flags) == len(set(flags))


def test_names_in_messages_and_files_come_from_the_declarations():
    from nas4cnn.core.config import setting_name

    assert setting_name("search", "lam") == "search.lambda (--lambda)"
    assert setting_name("search", "distinct_survivors") == "search.distinct_survivors (--keep-duplicates)"
    assert setting_name("train", "optimizer") == "train.optimizer"  # a config file's setting alone: no flag
    assert RunConfig().to_dict()["search"]["lambda"] == 0.01 and "lam" not in RunConfig().to_dict()["search"]


@pytest.mark.parametrize(
    "section, values, message",
    [
        ("train", {"aug_rotate": 181.0}, "train.aug_rotate (--aug-rotate) must be at most 180 degrees; got 181.0"),
        ("train", {"aug_scale": 1.0}, "train.aug_scale (--aug-scale) must be below 1; got 1.0"),
        ("train", {"lr": 0.0}, "train.lr (--lr) must be a finite number > 0; got 0.0"),
        ("train", {"lr": float("inf")}, "train.lr (--lr) must be a finite number > 0; got inf"),
        ("search", {"early_stop": 1.0}, ("search.early_stop (--early-stop) must be 0 (off) or a quantile between "
                                         "0 and 1, like 0.75; got 1.0")),
        ("search", {"final_trainval": "yes"}, "search.final_trainval (--no-trainval) must be true or false; got 'yes'"),
        ("data", {"split_seed": 2**32}, "data.split_seed (--split-seed) must be an integer in 0..4294967295"),
        ("data", {"val_fraction": 1.0}, "data.val_fraction (--val-fraction) must be below 1; got 1.0"),
        ("data", {"channels": 2}, "data.channels (--channels) must be one of [0, 1, 3]; got 2"),
        ("data", {"data_dir": 3}, "data.data_dir (--data-dir) must be a folder path; got 3"),
    ],
)
def test_each_check_names_the_setting_the_rule_and_the_value(section, values, message):
    with pytest.raises(ConfigError) as e:
        RunConfig().override(section, **values)
    assert message in str(e.value)


def test_the_strategy_is_checked_by_the_registry():
    from nas4cnn.strategies import STRATEGIES, check_strategy

    check_strategy("evolution")
    with pytest.raises(ConfigError) as e:
        check_strategy("evolutoin")
    assert str(e.value) == f"search.strategy (--strategy) must be one of {list(STRATEGIES)}; got 'evolutoin'"


@pytest.mark.parametrize("text, fragment", [
    ("[train]\noptimizer = 'adagrad'", "train.optimizer must be one of ['adamax'"),
    ("[search]\nstrategy = 'annealing'", "search.strategy (--strategy) must be one of ['evolution'"),
    ("[space]\nactivation = ['relu', 'swish']", "space.activation: expected one of"),
    ("[data]\ndataset = 'imagenet'", "data.dataset (--dataset) must be one of ['digits', "),
    ("[data]\ndataset = 'npz:'", "data.dataset (--dataset) must be one of ['digits', "),
])
def test_names_are_checked_against_their_registries_before_any_work(tmp_path, monkeypatch, text, fragment):
    from nas4cnn.api import preparation as api_prepare

    monkeypatch.setattr(api_prepare, "load_dataset", lambda cfg: pytest.fail("the data was loaded first"))
    path = tmp_path / "c.toml"
    path.write_text(text)
    config = load_config(path)  # the config's own checks take any name
    with pytest.raises(ConfigError, match=re.escape(fragment)):
        api_prepare.prepare(config, None)
