"""Contract tests over every registered optimiser (the fused C step's update is in test_engine.py)."""

import subprocess
import sys

import pytest
import torch

from nas4cnn.core.config import RunConfig, TrainConfig, setting_name, validate
from nas4cnn.core.errors import ConfigError
from nas4cnn.nn.optimizers import (
    OPTIMIZERS,
    FastAdamax,
    check_optimizer,
    get_optimizer,
    make_group_optimizer,
    make_optimizer,
    optimizer_names,
)

NAMES = optimizer_names()


def _grads(shape, steps, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(shape, generator=g) for _ in range(steps)]


@pytest.mark.parametrize("name", NAMES)
def test_group_optimizer_updates_as_its_torch_class(name):
    """20 steps with weight decay and a learning rate changed half-way, against torch.optim."""
    cfg = TrainConfig(optimizer=name, lr=0.01, weight_decay=1e-3)
    torch.manual_seed(0)
    ours_p = torch.randn(35)
    ref_p = ours_p.clone().requires_grad_()
    ours_p.grad = torch.zeros_like(ours_p)
    ours = make_group_optimizer([ours_p], cfg)
    ref = getattr(torch.optim, get_optimizer(name).torch_class)([ref_p], lr=0.01, weight_decay=1e-3)
    for step, g in enumerate(_grads(35, 20)):
        if step == 10:
            ours.set_lr(0.003)
            for group in ref.param_groups:
                group["lr"] = 0.003
        ours_p.grad.copy_(g)
        ref_p.grad = g.clone()
        ours.step()
        ref.step()
    assert torch.allclose(ours_p, ref_p.detach(), atol=1e-6), name


@pytest.mark.parametrize("name", NAMES)
def test_select_keeps_the_kept_candidates_state(name):
    """After `select`, training goes on as if only the kept elements had been trained (the
    registered optimisers are element-wise)."""
    cfg = TrainConfig(optimizer=name, lr=0.01, weight_decay=1e-3)
    keep = torch.tensor([0, 2, 3, 7])
    start = torch.randn(10, generator=torch.Generator().manual_seed(1))
    full = start.clone()
    full.grad = torch.zeros_like(full)
    opt = make_group_optimizer([full], cfg)
    part = start[keep].clone()
    part.grad = torch.zeros_like(part)
    part_opt = make_group_optimizer([part], cfg)
    for step, g in enumerate(_grads(10, 10, seed=2)):
        if step == 5:
            full = full[keep].clone()
            full.grad = torch.zeros_like(full)
            opt.select(lambda t: t[keep].clone(), [full])
        full.grad.copy_(g if step < 5 else g[keep])
        part.grad.copy_(g[keep])
        opt.step()
        part_opt.step()
    assert torch.allclose(full, part, atol=1e-6), name


@pytest.mark.parametrize("name", NAMES)
def test_the_plain_loop_gets_the_torch_class(name):
    p = torch.zeros(3, requires_grad=True)
    opt = make_optimizer([p], TrainConfig(optimizer=name, lr=0.5, weight_decay=0.25))
    assert type(opt).__name__ == get_optimizer(name).torch_class
    assert opt.param_groups[0]["lr"] == 0.5 and opt.param_groups[0]["weight_decay"] == 0.25


def test_fused_entries_train_with_fast_adamax():
    """The C step implements FastAdamax's update on its state; an entry it supports must use it."""
    assert any(o.fused for o in OPTIMIZERS.values())
    for o in OPTIMIZERS.values():
        if o.fused:
            opt = make_group_optimizer([torch.zeros(4)], TrainConfig(optimizer=o.name))
            assert isinstance(opt, FastAdamax), o.name


def test_advance_counts_the_steps_taken_elsewhere():
    opt = FastAdamax([torch.zeros(2)], lr=0.01, weight_decay=0.0)
    assert opt.advance() == pytest.approx(0.01 / (1 - 0.9))
    assert opt.advance() == pytest.approx(0.01 / (1 - 0.9**2))
    assert opt.t == 2


def test_the_registry_accepts_exactly_the_registered_names():
    for name in NAMES:
        validate(RunConfig(train=TrainConfig(optimizer=name)))
        check_optimizer(name)
    message = f"{setting_name('train', 'optimizer')} must be one of {list(NAMES)}; got 'lbfgs'"
    with pytest.raises(ConfigError) as e:
        check_optimizer("lbfgs")
    assert str(e.value) == message
    with pytest.raises(ConfigError) as e:
        get_optimizer("lbfgs")
    assert str(e.value) == message


def test_the_registry_imports_without_torch():
    code = "import sys, nas4cnn.nn.optimizers as o; o.optimizer_names(); assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
