import pytest
import torch

from nas4cnn.core.errors import ConfigError
from nas4cnn.core.space import SearchSpace
from nas4cnn.nn.activations import activation_names
from nas4cnn.nn.model import build_model, check_space_fits, count_params, max_params

SHAPES = [(1, 8, 8), (1, 28, 28), (3, 32, 32), (2, 5, 7)]


def test_seed_space_nmax_is_206742():
    assert max_params(SearchSpace(), (1, 8, 8), 10) == 206_742


def test_seed_best_architecture_params():
    space = SearchSpace()
    arch = space.decode((2, 0, 0, 1, 6))
    model = build_model(arch, (1, 8, 8), 10)
    assert count_params(arch, (1, 8, 8), 10) == sum(p.numel() for p in model.parameters()) == 36_940


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("num_classes", [2, 10])
def test_every_gene_choice_builds_and_counts_right(shape, num_classes):
    space = SearchSpace()
    x = torch.randn(3, *shape)
    for f in range(3):
        for c in range(2):
            for a in range(5):
                for p in range(4):
                    g = (f, c, a, p, 4 if a % 2 else 9)
                    arch = space.decode(g)
                    model = build_model(arch, shape, num_classes)
                    out = model(x)
                    assert out.shape == (3, num_classes)
                    assert torch.allclose(out.exp().sum(1), torch.ones(3), atol=1e-5)
                    assert count_params(arch, shape, num_classes) == sum(q.numel() for q in model.parameters())


def test_nmax_is_the_largest_count():
    space = SearchSpace()
    shape = (3, 32, 32)
    counts = [count_params(space.decode(g), shape, 7) for g in space.all_genotypes()]
    assert max_params(space, shape, 7) == max(counts)


def test_same_seed_same_initial_weights():
    arch = SearchSpace().decode((1, 1, 2, 0, 3))
    a = build_model(arch, (1, 8, 8), 10, seed=5)
    b = build_model(arch, (1, 8, 8), 10, seed=5)
    c = build_model(arch, (1, 8, 8), 10, seed=6)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    assert not torch.equal(a.conv.weight, c.conv.weight)


def test_space_that_leaves_no_features_is_refused():
    space = SearchSpace.from_lists(conv=["k5s1p0"], pooling=["max8"])
    with pytest.raises(ConfigError, match="leaves no features on 8x8"):
        check_space_fits(space, (1, 8, 8))
    check_space_fits(space, (1, 28, 28))


def test_space_with_an_unknown_activation_is_refused():
    space = SearchSpace.from_lists(activation=["relu", "swish"])
    with pytest.raises(ConfigError) as e:
        check_space_fits(space, (1, 8, 8))
    assert str(e.value) == f"space.activation: expected one of {list(activation_names())}; got 'swish'"
