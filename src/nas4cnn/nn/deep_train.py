"""Training a group of deep-space candidates, with the contract of `engine.train_group`.

Each candidate trains with the plain loop (`nn.train.train_model`: its PyTorch module, the
recipe's optimiser and schedule, the mini-batch order of the run seed), one after another;
what `train_group` promises holds: validation after the last epoch (and at early-stop
checkpoints), a candidate whose loss is not finite recorded as failed, one above an
early-stop threshold as stopped, `after_epoch` told after every epoch. The population-
batched path for deep spaces (candidates of one skeleton as one wide network) is to be
measured against this one, its oracle.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import torch

from nas4cnn.core.config import TrainConfig
from nas4cnn.core.defaults import settle
from nas4cnn.core.record import Status
from nas4cnn.data.dataset import DataSet
from nas4cnn.nn.groups import Candidate
from nas4cnn.nn.model import build_model
from nas4cnn.nn.train import Ended, EpochStats, Prepared, train_model


def train_deep_group(
    candidates: Sequence[Candidate],
    data: DataSet,
    cfg: TrainConfig,
    epochs: int,
    seed: int,
    patch_cache: dict | None = None,
    val_every_epoch: bool = False,
    stop: Mapping[int, float] | None = None,
    track_val: bool = True,
    after_epoch=None,
) -> tuple[None, list[list[EpochStats]], list[Ended | None]]:
    """`engine.train_group` for deep candidates (see the module docstring); the group returned
    is None (there is no stacked network)."""
    cfg = settle(cfg, len(data.train))
    cache = patch_cache if patch_cache is not None else {}
    if "prepared" not in cache:
        cache["prepared"] = Prepared.from_data(data, cfg)
    prepared: Prepared = cache["prepared"]
    device = prepared.data.train.x.device
    shape, nc = prepared.data.input_shape, prepared.data.num_classes
    checkpoints = dict(stop or {})
    histories: list[list[EpochStats]] = []
    ended: list[Ended | None] = [None] * len(candidates)
    for i, cand in enumerate(candidates):
        model = build_model(cand.arch, shape, nc, seed=cand.init_seed).to(device)

        def check(history: list[EpochStats], i: int = i, cand: Candidate = cand) -> bool:
            e, h = len(history), history[-1]
            if not math.isfinite(h.train_loss):
                kind = "nan" if math.isnan(h.train_loss) else "inf"
                ended[i] = Ended(Status.FAILED, f"loss became {kind} in epoch {e}")
                return True
            if after_epoch is not None:
                reason = after_epoch(None, [i], [history]).get(i)
                if reason is not None and e < epochs:
                    ended[i] = Ended(Status.STOPPED, reason)
                    return True
            if e in checkpoints and e < epochs and h.val_error + cand.penalty > checkpoints[e]:
                ended[i] = Ended(Status.STOPPED, f"stopped after epoch {e}: objective "
                                                      f"{h.val_error + cand.penalty:.4f} above the early-stop "
                                                      f"threshold {checkpoints[e]:.4f}")
                return True
            return False

        with torch.random.fork_rng(devices=[]):  # dropout draws: the same whatever trained before
            torch.manual_seed(cand.init_seed)
            histories.append(train_model(model, prepared, cfg, epochs, seed, track_val=track_val, stop=check,
                                         val_epochs=None if val_every_epoch else checkpoints))
    return None, histories, ended
