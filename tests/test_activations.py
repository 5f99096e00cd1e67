"""Contract tests over every registered activation (the fused C step's are in test_engine.py)."""

import re
import subprocess
import sys

import pytest
import torch

from nas4cnn.core.errors import ConfigError
from nas4cnn.core.space import DEFAULT_ACTIVATIONS, GENES, SearchSpace
from nas4cnn.nn import fused
from nas4cnn.nn.activations import (
    ACTIVATIONS,
    activation_names,
    check_activation_names,
    get_activation,
)

NAMES = activation_names()
# around 0, the softplus threshold (20) and where exp overflows in float32
Z = torch.cat([torch.linspace(-30, 30, 2001), torch.tensor([0.0, -1e-7, 1e-7, 19.99, 20.0, 20.01, -90.0, 90.0])])


@pytest.mark.parametrize("name", NAMES)
def test_kernels_compute_the_module_and_its_derivative(name):
    act = ACTIVATIONS[name]
    z = Z.clone().requires_grad_()
    layer = act.layer()
    assert isinstance(layer, torch.nn.Module)
    expected = layer(z)
    g = torch.randn(Z.shape, generator=torch.Generator().manual_seed(0))
    (expected_grad,) = torch.autograd.grad(expected, z, g)
    a = act.forward(Z, torch.empty_like(Z))
    assert torch.allclose(a, expected.detach(), rtol=1e-6, atol=1e-6), name
    d = act.backward(g, Z, a, torch.empty_like(Z))
    assert torch.allclose(d, expected_grad, rtol=1e-5, atol=1e-6), name


@pytest.mark.parametrize("name", NAMES)
def test_activation_is_non_decreasing(name):
    """The engines max-pool before the activation: the same as after it only for such functions."""
    a = ACTIVATIONS[name].forward(Z.sort().values, torch.empty_like(Z))
    assert bool((a[1:] >= a[:-1]).all()), name


@pytest.mark.parametrize("name", NAMES)
def test_name_round_trips_through_readable_names(name):
    assert re.fullmatch(r"[a-z0-9_]+", name)
    space = SearchSpace.from_lists(activation=[name.upper(), *(n for n in NAMES if n != name)])
    assert space.activation[0] == name
    genotype = (0,) * len(GENES)
    assert name in space.name(genotype)
    assert space.parse(space.name(genotype)) == genotype


def test_codes_are_the_cases_of_the_fused_step():
    """Each entry's code is its case in fused_step.c's `enum { RELU, ... }` (the C switch)."""
    enum = re.search(r"enum\s*\{\s*(RELU[^}]*)\}", fused.SOURCE.read_text())
    cases = [c.strip() for c in enum.group(1).split(",")]
    assert sorted(a.code for a in ACTIVATIONS.values()) == list(range(len(ACTIVATIONS)))
    for a in ACTIVATIONS.values():
        assert cases[a.code] == a.name.upper()


def test_the_default_space_is_registered():
    check_activation_names(DEFAULT_ACTIVATIONS)
    assert set(DEFAULT_ACTIVATIONS) <= set(NAMES)


def test_an_unknown_name_is_one_line_listing_the_valid_ones():
    with pytest.raises(ConfigError) as e:
        get_activation("swish")
    assert str(e.value) == f"space.activation: expected one of {list(NAMES)}; got 'swish'"


def test_the_registry_imports_without_torch():
    code = "import sys, nas4cnn.nn.activations as a; a.activation_names(); assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
