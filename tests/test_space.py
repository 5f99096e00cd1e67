import numpy as np
import pytest

from nas4cnn.core.errors import ConfigError, GenotypeError
from nas4cnn.core.space import SearchSpace


def test_default_space_matches_the_seed():
    space = SearchSpace()
    assert space.sizes == (3, 2, 5, 4, 10)
    assert space.size == 1200
    assert space.name((2, 0, 0, 1, 6)) == "conv32k3-relu-maxpool2-fc70"


def test_every_genotype_round_trips_through_its_name_and_indices():
    space = SearchSpace()
    names = set()
    for g in space.all_genotypes():
        name = space.name(g)
        names.add(name)
        assert space.parse(name) == g
        assert space.parse(",".join(map(str, g))) == g
    assert len(names) == space.size


def test_decode_gives_the_choices():
    arch = SearchSpace().decode((0, 1, 4, 2, 9))
    assert (arch.filters, arch.conv.kernel, arch.conv.padding) == (8, 5, 2)
    assert (arch.activation, arch.pooling.kind, arch.pooling.size, arch.linear) == ("elu", "avg", 1, 100)


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("3,0,0,1,6", "gene 'filters' must be an index in 0..2; got 3"),
        ("2,0,0,1", "expected 5 genes"),
        ("2,0,0,1,6,1", "expected 5 genes"),
        ("2,0,-1,1,6", "gene 'activation' must be an index in 0..4; got -1"),
        ("2,,0,1,6", "comma-separated"),
        ("conv64k3-relu-maxpool2-fc70", "filters '64' is not in the space"),
        ("conv32k3-gelu-maxpool2-fc70", "activation 'gelu' is not in the space"),
        ("hello", "expected indices like"),
    ],
)
def test_bad_genotypes_are_explained(text, fragment):
    with pytest.raises(GenotypeError) as e:
        SearchSpace().parse(text)
    assert fragment in str(e.value)


def test_custom_space_from_lists():
    space = SearchSpace.from_lists(filters=[4, 12], conv=["k3", "k7s2p1"], pooling=["max3"], linear=[5])
    assert space.sizes == (2, 2, 5, 1, 1)
    assert space.name((1, 1, 0, 0, 0)) == "conv12k7s2p1-relu-maxpool3-fc5"
    assert space.parse("conv12k7s2p1-relu-maxpool3-fc5") == (1, 1, 0, 0, 0)


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        ({"filters": []}, "at least one choice"),
        ({"filters": [8, 8]}, "distinct"),
        ({"filters": [0]}, "positive integers"),
        ({"linear": ["ten"]}, "positive integers"),
        ({"conv": ["3x3"]}, "space.conv"),
        ({"pooling": ["min2"]}, "space.pooling"),
        ({"activation": [3]}, "space.activation: expected strings"),
    ],
)
def test_bad_space_lists(kwargs, fragment):
    with pytest.raises(ConfigError) as e:
        SearchSpace.from_lists(**kwargs)
    assert fragment in str(e.value)


def test_activation_names_are_normalised_and_left_to_the_registry():
    """Names are checked where networks are built (nn.model.check_space_fits, test_model.py)."""
    assert SearchSpace.from_lists(activation=[" ReLU", "swish"]).activation == ("relu", "swish")


def test_random_genotypes_are_valid_and_seeded():
    space = SearchSpace()
    a = [space.random_genotype(np.random.default_rng(1)) for _ in range(3)]
    b = [space.random_genotype(np.random.default_rng(1)) for _ in range(3)]
    assert a == b
    for g in a:
        assert space.validate(g) == g
