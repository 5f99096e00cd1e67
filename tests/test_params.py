"""The torch-free parameter counter against the networks PyTorch builds (the oracle)."""

import pytest

from nas4cnn.core import params
from nas4cnn.core.errors import ConfigError
from nas4cnn.core.space import SearchSpace
from nas4cnn.nn.model import CNN

SPACE = SearchSpace()


@pytest.mark.parametrize("input_shape, num_classes", [((1, 8, 8), 10), ((1, 28, 28), 10), ((3, 9, 7), 4)])
def test_every_genotype_counts_as_the_built_network(input_shape, num_classes):
    for g in SPACE.all_genotypes():
        arch = SPACE.decode(g)
        built = sum(p.numel() for p in CNN(arch, input_shape, num_classes).parameters())
        assert params.count_params(arch, input_shape, num_classes) == built, arch.name


def test_nmax_of_the_default_space():
    assert params.max_params(SPACE, (1, 8, 8), 10) == 206_742
    assert params.max_params(SPACE, (1, 28, 28), 10) == max(
        params.count_params(SPACE.decode(g), (1, 28, 28), 10) for g in SPACE.all_genotypes())


def test_a_space_leaving_no_features_is_refused():
    space = SearchSpace.from_lists(conv=["k5"], pooling=["max4"])
    params.check_features(space, (1, 8, 8))  # 8 -> 8 -> 2
    with pytest.raises(ConfigError, match="leaves no features on 3x3 inputs"):
        params.check_features(space, (1, 3, 3))
