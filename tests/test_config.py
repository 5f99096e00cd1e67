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
    assert (c.train.epochs, c.train.weight_decay, c.train.batch_size, c.train.optimizer) == (8, 1e-5, 64, "adamax")
    assert (c.train.lr, c.train.scaling, c.train.schedule) == (1e-2, "standardize", "cosine")
    assert (c.search.final_epochs, c.search.final_patience, c.search.final_trainval) == (100, 0, True)


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
        ("[train]\noptimizer = 'adagrad'", "train.optimizer"),
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
