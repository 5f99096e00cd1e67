"""Population-batched training: many candidates trained together, in lockstep.

Candidates with the same filter count, pooling and compatible convolutions form a group,
trained as one network with stacked parameters (`stacked.StackedGroup`), sharing the
mini-batch sequence; each keeps its own initialisation, gradients and optimiser state. The
optimiser updates the group's one flat parameter tensor: a few tensor operations a step,
however many candidates and layers there are.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from nas4cnn.core.config import TrainConfig
from nas4cnn.core.early_stop import STOPPED
from nas4cnn.core.space import Architecture
from nas4cnn.data.dataset import DataSet
from nas4cnn.nn import fused
from nas4cnn.nn.model import build_model, feature_hw
from nas4cnn.nn.stacked import Patches, StackedGroup, group_key
from nas4cnn.nn.optimizers import FastAdamax, get_optimizer, make_group_optimizer
from nas4cnn.nn.train import EpochStats, Prepared, lr_factor


@dataclass(frozen=True)
class Candidate:
    arch: Architecture
    init_seed: int
    penalty: float = 0.0  # its size penalty, added to the validation error at early-stop checkpoints


def make_groups(
    candidates: Sequence[Candidate], input_shape: tuple[int, int, int], overhead: float = 50_000
) -> list[list[int]]:
    """Indices of `candidates`, grouped; deterministic for a given candidate list.

    Compatible candidates are split further, by Linear-1 width, where padding every one to
    the widest would cost more than running another group: a group costs `overhead` (its
    fixed per-step cost, in padded Linear-1 weights) plus its padded Linear-1 weights. Small
    on a CPU, where the work is memory-bound; large on a GPU, where launches dominate."""
    _, height, width = input_shape
    by_key: dict[tuple, list[int]] = {}
    for i, cand in enumerate(candidates):
        by_key.setdefault(group_key(cand.arch), []).append(i)
    out = []
    for _, idx in sorted(by_key.items(), key=lambda kv: str(kv[0])):
        arch = candidates[idx[0]].arch
        h, w = feature_hw(arch, height, width)
        per_unit = arch.filters * h * w  # Linear-1 weights per output neuron
        idx = sorted(idx, key=lambda i: (candidates[i].arch.linear, i))
        widths = [candidates[i].arch.linear for i in idx]
        for s, e in _split_by_width(widths, per_unit, overhead):
            out.append(sorted(idx[s:e], key=lambda i: (candidates[i].arch.activation, i)))
    return out


def _split_by_width(widths: Sequence[int], per_unit: int, overhead: float) -> list[tuple[int, int]]:
    """Cheapest split of sorted widths into contiguous chunks (dynamic programming)."""
    n = len(widths)
    best = [0.0] + [float("inf")] * n
    cut = [0] * (n + 1)
    for e in range(1, n + 1):
        for s in range(e):
            cost = best[s] + overhead + (e - s) * widths[e - 1] * per_unit
            if cost < best[e]:
                best[e], cut[e] = cost, s
    chunks, e = [], n
    while e > 0:
        chunks.append((cut[e], e))
        e = cut[e]
    return chunks[::-1]


def uses_fused_step(device: torch.device, cfg: TrainConfig) -> bool:
    """Whether groups trained on `device` with `cfg` take the fused C step (an optimiser it
    supports, on a CPU where it builds) rather than PyTorch operations: the same results to
    float rounding."""
    return device.type == "cpu" and get_optimizer(cfg.optimizer).fused and fused.available()


class _TorchSteps:
    """Training steps with PyTorch operations (`StackedGroup.train_step`, then the optimiser).
    A candidate whose loss becomes NaN or infinite is zeroed and frozen; the others go on."""

    def __init__(self, group: StackedGroup, opt, onehot: torch.Tensor, alive: torch.Tensor):
        self.group, self.opt, self.onehot, self.alive = group, opt, onehot, alive
        self.any_dead = not bool(alive.all())

    def start_epoch(self) -> None:
        self.nlls: list[torch.Tensor] = []
        self.preds: list[torch.Tensor] = []
        self.targets: list[torch.Tensor] = []

    def step(self, patches: Patches | None, idx: torch.Tensor, cols: torch.Tensor | None,
             y: torch.Tensor) -> list[tuple[int, float]]:
        """One step on the images at `idx`, their patches cut from `patches` or given as `cols`.
        Returns (position, loss) of each candidate that died in it."""
        group, alive = self.group, self.alive
        if cols is None:
            cols = patches.batch(idx)
        logp, nll = group.train_step(cols, self.onehot.index_select(0, idx))
        if self.any_dead:
            nll = torch.where(alive, nll, 0.0)
        died = []
        if not math.isfinite(nll.sum().item()):  # one check per step; find the culprits only when needed
            bad = ~torch.isfinite(nll) & alive
            died = [(p, nll[p].item()) for p in bad.nonzero().flatten().tolist()]
            alive &= ~bad
            self.any_dead = True
            nll = torch.where(alive, nll, 0.0)
        if self.any_dead:
            group.zero_candidates(~alive, grads=True)
        self.opt.step()
        if self.any_dead:
            group.zero_candidates(~alive)
        self.nlls.append(nll)
        self.preds.append(logp.argmax(2))
        self.targets.append(y.index_select(0, idx))
        return died

    def epoch_totals(self) -> tuple[list[float], list[float]]:
        """Each candidate's summed training NLL and wrong predictions over the epoch."""
        wrong = (torch.cat(self.preds, 1) != torch.cat(self.targets)).sum(1)
        return torch.stack(self.nlls).sum(0).tolist(), wrong.tolist()

    def select(self, keep: Sequence[int]) -> None:
        self.opt.select(self.group.select(keep), [self.group.flat])
        self.alive = self.alive[keep]


class _FusedSteps:
    """The same steps, each one call of the fused C step (`fused.FusedStep`)."""

    def __init__(self, group: StackedGroup, opt: FastAdamax, cfg: TrainConfig, alive: torch.Tensor):
        self.group, self.opt, self.batch_size = group, opt, cfg.batch_size
        self.fused = fused.FusedStep(group, opt, cfg.batch_size, alive)

    @property
    def alive(self) -> torch.Tensor:
        return self.fused.alive.bool()

    def start_epoch(self) -> None:
        self.fused.loss.zero_()
        self.fused.wrong.zero_()

    def step(self, patches: Patches | None, idx: torch.Tensor, cols: torch.Tensor | None,
             y: torch.Tensor) -> list[tuple[int, float]]:
        f = self.fused
        if cols is None:
            died = f.step(patches.data, patches.data.shape[1], idx, y, idx, len(idx))
        else:
            died = f.step(cols, len(idx), None, y, idx, len(idx))
        if not died:
            return []
        # Candidates dead before have zero weights, hence a finite loss: the non-finite are new.
        new = (f.alive == 0) & ~torch.isfinite(f.last_nll)
        return [(p, f.last_nll[p].item()) for p in new.nonzero().flatten().tolist()]

    def epoch_totals(self) -> tuple[list[float], list[float]]:
        return self.fused.loss.tolist(), self.fused.wrong.tolist()

    def select(self, keep: Sequence[int]) -> None:
        alive = self.fused.alive[keep].bool()
        self.opt.select(self.group.select(keep), [self.group.flat])
        self.fused = fused.FusedStep(self.group, self.opt, self.batch_size, alive)


def train_group(
    candidates: Sequence[Candidate],
    data: DataSet,
    cfg: TrainConfig,
    epochs: int,
    seed: int,
    patch_cache: dict | None = None,
    val_every_epoch: bool = False,
    stop: Mapping[int, float] | None = None,
) -> tuple[StackedGroup, list[list[EpochStats]], list[str | None]]:
    """Train one group of compatible candidates together with the recipe `cfg`. Returns the
    group, per-candidate histories (validation measured after the last epoch only) and
    per-candidate failure reasons (None for a candidate that trained). A candidate whose
    loss becomes NaN or infinite stops at once: its weights are zeroed and frozen, and the
    others go on. `patch_cache` lets groups share the prepared data and, with the same patch
    layout, the unfolded patches; it belongs to one data set and one `cfg`.

    Early stopping: `stop` maps checkpoint epochs to objective thresholds. Validation is
    measured after each checkpoint epoch; a candidate whose objective there (validation
    error + its `penalty`) is above the threshold stops, with a reason starting "stopped",
    and leaves the group, so the others train without it. The returned group then holds
    only the candidates that trained to the end."""
    cache = patch_cache if patch_cache is not None else {}
    if "prepared" not in cache:
        ready = Prepared.from_data(data, cfg)
        cache["prepared"] = ready
        cache["onehot"] = F.one_hot(ready.data.train.y, ready.data.num_classes).to(ready.data.train.x.dtype)
    prepared: Prepared = cache["prepared"]
    onehot: torch.Tensor = cache["onehot"]  # training targets as rows of the identity
    data = prepared.data
    device = data.train.x.device
    shape, nc = data.input_shape, data.num_classes
    models = [build_model(c.arch, shape, nc, seed=c.init_seed) for c in candidates]
    group = StackedGroup([c.arch for c in candidates], models, shape, nc, device)
    key = group.patch_key()
    if key not in cache:
        # Augmented batches are new images every step: their patches are cut per batch.
        cache[key] = (group.patches(data.train.x, lazy=True if prepared.raw_train is not None else None),
                      group.patches(data.val.x))
    train_patches, val_patches = cache[key]
    opt = make_group_optimizer([group.flat], cfg)
    stop = dict(stop or {})
    y = data.train.y
    n = len(y)
    total = epochs * -(-n // cfg.batch_size)
    histories: list[list[EpochStats]] = [[] for _ in candidates]
    failed: list[str | None] = [None] * len(candidates)
    members = list(range(len(candidates)))  # the candidate at each position of the group
    alive = torch.ones(len(members), dtype=torch.bool, device=device)
    if uses_fused_step(device, cfg):
        steps = _FusedSteps(group, opt, cfg, alive)
    else:
        steps = _TorchSteps(group, opt, onehot, alive)
    step = 0
    for epoch in range(epochs):
        P = len(members)
        steps.start_epoch()
        for idx, xb in prepared.batches(cfg.batch_size, seed, epoch):
            if cfg.schedule != "constant":
                opt.set_lr(cfg.lr * lr_factor(cfg.schedule, step, total))
            step += 1
            if xb is None and isinstance(train_patches, Patches):
                died = steps.step(train_patches, idx, None, y)
            else:
                cols = train_patches.batch(idx) if xb is None else group.patches(xb, lazy=False).batch()
                died = steps.step(None, idx, cols, y)
            for p, value in died:
                kind = "nan" if math.isnan(value) else "inf"
                failed[members[p]] = f"loss became {kind} in epoch {epoch + 1}, step {step}"
        if not steps.alive.any():
            break
        loss_sum, wrong = steps.epoch_totals()
        last = epoch == epochs - 1
        if val_every_epoch or last or epoch + 1 in stop:
            val_loss, val_error = group.measure(val_patches, data.val.y)
        else:
            val_loss = val_error = [float("nan")] * P
        for p, c in enumerate(members):
            histories[c].append(EpochStats(epoch + 1, loss_sum[p] / n, wrong[p] / n, val_loss[p], val_error[p]))
        if epoch + 1 in stop and not last:
            keep = []
            for p, c in enumerate(members):
                score = val_error[p] + candidates[c].penalty
                if failed[c] is None and score > stop[epoch + 1]:
                    failed[c] = (f"{STOPPED} after epoch {epoch + 1}: objective {score:.4f} above the early-stop "
                                 f"threshold {stop[epoch + 1]:.4f}")
                else:
                    keep.append(p)
            if len(keep) < P:
                if not keep:
                    break
                steps.select(keep)
                members = [members[p] for p in keep]
    return group, histories, failed
