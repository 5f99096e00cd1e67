"""Population-batched training: many candidates trained together, in lockstep.

Candidates with the same filter count, pooling and compatible convolutions form a group
(`groups.make_groups`), trained as one network with stacked parameters
(`stacked.StackedGroup`), sharing the mini-batch sequence; each keeps its own
initialisation, gradients and optimiser state. The optimiser updates the group's one flat
parameter tensor: a few tensor operations a step, however many candidates and layers there
are (`steps`: with PyTorch operations, or one call of the fused C step).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

import torch
import torch.nn.functional as F

from nas4cnn.core.config import TrainConfig
from nas4cnn.core.deep_space import DeepArchitecture
from nas4cnn.core.defaults import settle
from nas4cnn.core.record import Status
from nas4cnn.data.dataset import DataSet
from nas4cnn.nn.deep_train import train_deep_group
from nas4cnn.nn.groups import Candidate
from nas4cnn.nn.model import build_model
from nas4cnn.nn.optimizers import make_group_optimizer
from nas4cnn.nn.stacked import Patches, StackedGroup
from nas4cnn.nn.steps import make_steps
from nas4cnn.nn.train import Ended, EpochStats, Prepared, lr_factor

# after_epoch(group, members, histories) -> {candidate: reason} of the candidates to stop now
AfterEpoch = Callable[[StackedGroup, list[int], list[list[EpochStats]]], Mapping[int, str]]


# Unfolded patches a patch cache keeps, over all its layouts: beyond this the least recently
# used layout is dropped (and unfolded again when a group needs it). Two layouts of a 2,000-
# image search subset fit; a worker per core then stays well inside a few GB.
PATCH_CACHE_TOTAL = 512 * 2**20


def _cached_bytes(entry) -> int:
    return sum(p.data.nbytes for p in entry if isinstance(p, Patches))


def _make_room(cache: dict) -> None:
    """Drop the least recently used patch layouts until at most PATCH_CACHE_TOTAL bytes remain
    with room for one more (the cache's other entries, the prepared data, stay)."""
    layouts = [k for k in cache if isinstance(k, tuple)]
    total = sum(_cached_bytes(cache[k]) for k in layouts)
    share = max((_cached_bytes(cache[k]) for k in layouts), default=0)
    for k in layouts:  # oldest first: a dict keeps insertion order, and a used layout moves to the end
        if total + share <= PATCH_CACHE_TOTAL:
            break
        total -= _cached_bytes(cache.pop(k))


def train_group(
    candidates: Sequence[Candidate],
    data: DataSet,
    cfg: TrainConfig,
    epochs: int,
    seed: int,
    patch_cache: dict | None = None,
    val_every_epoch: bool = False,
    stop: Mapping[int, float] | None = None,
    track_val: bool = True,
    after_epoch: AfterEpoch | None = None,
) -> tuple[StackedGroup, list[list[EpochStats]], list[Ended | None]]:
    """Train one group of compatible candidates together with the recipe `cfg`. Returns the
    group, per-candidate histories (validation measured after the last epoch only) and
    per candidate how its training ended early (None for one that trained). A candidate whose
    loss becomes NaN or infinite stops at once: its weights are zeroed and frozen, and the
    others go on. `patch_cache` lets groups share the prepared data and, with the same patch
    layout, the unfolded patches; it belongs to one data set and one `cfg`.

    Early stopping: `stop` maps checkpoint epochs to objective thresholds. Validation is
    measured after each checkpoint epoch; a candidate whose objective there (validation
    error + its `penalty`) is above the threshold stops (status STOPPED) and leaves the group, so the others train without it. The returned group then holds
    only the candidates that trained to the end.

    Without `track_val`, validation is never measured (NaN; for training on training +
    validation images). `after_epoch(group, members, histories)`, if given, is called after
    every epoch, with `members` the candidate at each position of the group (final training:
    progress, and patience with the best epoch's weights); the candidates it names, with a
    reason, stop there (status STOPPED) and leave the group, as at an early-stop checkpoint."""
    if stop and not track_val:
        raise ValueError("train_group: early-stop checkpoints need validation (track_val=True)")
    if any(isinstance(c.arch, DeepArchitecture) for c in candidates):  # a deep space's: `nn.deep_train`
        return train_deep_group(candidates, data, cfg, epochs, seed, patch_cache, val_every_epoch, stop, track_val,
                                after_epoch)
    cfg = settle(cfg, len(data.train))
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
    if key in cache:
        cache[key] = cache.pop(key)  # the most recently used layout is kept longest
    else:
        _make_room(cache)
        # Augmented batches are new images every step: their patches are cut per batch.
        cache[key] = (group.patches(data.train.x, lazy=True if prepared.raw_train is not None else None),
                      group.patches(data.val.x) if track_val else None)
    train_patches, val_patches = cache[key]
    if track_val and val_patches is None:  # the cache was filled by a group that measured no validation
        val_patches = group.patches(data.val.x)
        cache[key] = (train_patches, val_patches)
    opt = make_group_optimizer([group.flat], cfg)
    stop = dict(stop or {})
    y = data.train.y
    n = len(y)
    total = epochs * -(-n // cfg.batch_size)
    histories: list[list[EpochStats]] = [[] for _ in candidates]
    failed: list[Ended | None] = [None] * len(candidates)
    members = list(range(len(candidates)))  # the candidate at each position of the group
    alive = torch.ones(len(members), dtype=torch.bool, device=device)
    steps = make_steps(group, opt, cfg, onehot, alive)
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
                failed[members[p]] = Ended(Status.FAILED, f"loss became {kind} in epoch {epoch + 1}, step {step}")
        if not steps.alive.any():
            break
        loss_sum, wrong = steps.epoch_totals()
        last = epoch == epochs - 1
        if track_val and (val_every_epoch or last or epoch + 1 in stop):
            val_loss, val_error = group.measure(val_patches, data.val.y)
        else:
            val_loss = val_error = [float("nan")] * P
        for p, c in enumerate(members):
            histories[c].append(EpochStats(epoch + 1, loss_sum[p] / n, wrong[p] / n, val_loss[p], val_error[p]))
        ending: dict[int, str] = {}
        if epoch + 1 in stop:
            for p, c in enumerate(members):
                score = val_error[p] + candidates[c].penalty
                if failed[c] is None and score > stop[epoch + 1]:  # a failed one stays, zeroed
                    ending[c] = (f"stopped after epoch {epoch + 1}: objective {score:.4f} "
                                 f"above the early-stop threshold {stop[epoch + 1]:.4f}")
        if after_epoch is not None:
            for c, reason in after_epoch(group, list(members), histories).items():
                ending.setdefault(c, reason)
        if ending and not last:
            keep = []
            for p, c in enumerate(members):
                if c not in ending:
                    keep.append(p)
                elif failed[c] is None:
                    failed[c] = Ended(Status.STOPPED, ending[c])
            if len(keep) < P:
                if not keep:
                    break
                steps.select(keep)
                members = [members[p] for p in keep]
    return group, histories, failed
