"""Population-batched training: many candidates trained together, in lockstep.

Candidates with the same filter count, pooling and compatible convolutions form a group,
trained as one network with stacked parameters (P candidates):

- the convolution is one batched matrix product of the shared, pre-unfolded input patches
  with the P candidates' kernels; a k x k kernel is embedded, centred and zero-padded, in
  the group's K x K kernel, which with stride 1 and matching padding is the same map;
- pooling reduces over the window offsets, which the patch layout puts in their own
  dimension; max-pooling is done before the activation, which gives the same values for
  the monotone activations of the space (f(max y) = max f(y));
- Linear 1 and Linear 2 are batched matrix products, each candidate's layer padded to the
  group's widest;
- each candidate's activation is applied to its contiguous slice (candidates are sorted
  by activation).

Padded weights start at zero and their gradients are masked to zero, so with an
element-wise optimiser (Adamax, Adam, AdamW, SGD) they stay zero. The loss is the sum of
the candidates' summed NLLs, whose gradient with respect to one candidate's weights is
that candidate's own: nothing leaks between candidates, and a candidate trained in a
group follows its trajectory alone up to float rounding (tested against `train_model`).

Everything is laid out so that the per-operation tensors stay small and contiguous: on a
CPU that is what decides the speed (PyTorch's pooling kernels and its convolution for one
input channel are several times slower on such tiny images than these reductions and
matrix products).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .config import TrainConfig
from .data import DataSet
from .early_stop import STOPPED
from .model import CNN, build_model, feature_hw
from .space import Architecture
from .train import EpochStats, Prepared, lr_factor, make_optimizer

# Unfolded patches of a whole split are kept when they take at most this many bytes;
# larger data sets (MNIST-sized and up) are unfolded batch by batch instead.
PATCH_CACHE_BYTES = 256 * 2**20

_ACT = {"relu": F.relu, "sigmoid": torch.sigmoid, "tanh": torch.tanh, "softplus": F.softplus, "elu": F.elu}


@dataclass(frozen=True)
class Candidate:
    arch: Architecture
    init_seed: int
    penalty: float = 0.0  # its size penalty, added to the validation error at early-stop checkpoints


def group_key(arch: Architecture) -> tuple:
    """Candidates with equal keys share one stacked network."""
    c, p = arch.conv, arch.pooling
    pool = ("id", 1) if p.is_identity else (p.kind, p.size)
    return (arch.filters, c.stride, c.kernel % 2, c.padding - c.kernel // 2, pool)


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


class MaxOverOffsets(torch.autograd.Function):
    """Max over dim 1 (the pooling window's offsets). The gradient is shared evenly among
    tied maxima, as `torch.amax` does, but computed in one pass. Ties other than between
    identical input patches (blank image regions) have probability zero, and identical
    patches get identical gradients however the share is split, so the weights receive the
    same gradient as with PyTorch's max-pooling, which gives it all to the first maximum."""

    @staticmethod
    def forward(ctx, y: torch.Tensor) -> torch.Tensor:
        m = y.amax(1)
        ctx.save_for_backward(y, m)
        return m

    @staticmethod
    def backward(ctx, g: torch.Tensor) -> torch.Tensor:
        y, m = ctx.saved_tensors
        hit = y == m.unsqueeze(1)
        return hit * (g / hit.sum(1)).unsqueeze(1)


class Patches:
    """Input patches of a whole split, unfolded once and shared by every group with the same
    kernel, padding, stride and pooling size: k*k x N x S x (C*K*K), window offset first."""

    def __init__(self, x: torch.Tensor, kernel: int, padding: int, stride: int, pool: int, out_hw, pooled_hw):
        N = x.shape[0]
        cols = F.unfold(x, kernel, padding=padding, stride=stride)  # N x CKK x (H*W)
        cols = cols.view(N, -1, *out_hw)
        h, w = pooled_hw
        cols = cols[:, :, : h * pool, : w * pool].unflatten(3, (w, pool)).unflatten(2, (h, pool))
        # N x CKK x h x pool_i x w x pool_j -> pool_i x pool_j x N x h x w x CKK
        self.data = cols.permute(3, 5, 0, 2, 4, 1).reshape(pool * pool, N, h * w, -1).contiguous()

    def batch(self, idx: torch.Tensor | None = None) -> torch.Tensor:
        """k*k x (B*S) x CKK for the given rows (all rows if None)."""
        d = self.data if idx is None else self.data[:, idx]
        return d.reshape(d.shape[0], -1, d.shape[-1])


class LazyPatches:
    """The same interface as `Patches`, unfolding only the rows asked for: for splits whose
    patches would take too much memory."""

    def __init__(self, x: torch.Tensor, *layout):
        self.x, self.layout = x, layout

    def batch(self, idx: torch.Tensor | None = None) -> torch.Tensor:
        return Patches(self.x if idx is None else self.x[idx], *self.layout).batch()


class StackedGroup:
    """P compatible candidates as stacked, zero-padded parameter tensors."""

    def __init__(self, archs: Sequence[Architecture], models: Sequence[CNN], input_shape, num_classes: int,
                 device: torch.device):
        if len({group_key(a) for a in archs}) != 1:
            raise ValueError("StackedGroup: candidates are not compatible; form groups with make_groups")
        self.archs = list(archs)
        self.input_shape = tuple(input_shape)
        self.num_classes = num_classes
        P = len(archs)
        C, H, W = input_shape
        a0 = archs[0]
        self.F = a0.filters
        self.K = max(a.conv.kernel for a in archs)
        self.L = max(a.linear for a in archs)
        self.stride = a0.conv.stride
        self.padding = a0.conv.padding + (self.K - a0.conv.kernel) // 2
        self.pool = a0.pooling
        c = a0.conv
        self.conv_hw = ((H + 2 * c.padding - c.kernel) // c.stride + 1, (W + 2 * c.padding - c.kernel) // c.stride + 1)
        self.pooled_hw = feature_hw(a0, H, W)
        self.S = self.pooled_hw[0] * self.pooled_hw[1]
        F_, K, L, S, NC = self.F, self.K, self.L, self.S, num_classes
        z = dict(device=device, dtype=torch.float32)
        conv_w = torch.zeros(P, C, K, K, F_, **z)  # flattened to P x CKK x F
        conv_b = torch.zeros(P, 1, F_, **z)
        w1 = torch.zeros(P, S, F_, L, **z)  # rows in (position, filter) order
        b1 = torch.zeros(P, 1, L, **z)
        w2 = torch.zeros(P, L, NC, **z)
        b2 = torch.zeros(P, 1, NC, **z)
        masks = [torch.zeros_like(t) for t in (conv_w, w1, b1, w2)]
        for p, (a, m) in enumerate(zip(archs, models)):
            k, o, n = a.conv.kernel, (K - a.conv.kernel) // 2, a.linear
            conv_w[p, :, o : o + k, o : o + k] = m.conv.weight.detach().permute(1, 2, 3, 0)
            conv_b[p, 0] = m.conv.bias.detach()
            w1[p, :, :, :n] = m.linear1.weight.detach().view(n, F_, S).permute(2, 1, 0)
            b1[p, 0, :n] = m.linear1.bias.detach()
            w2[p, :n] = m.linear2.weight.detach().T
            b2[p, 0] = m.linear2.bias.detach()
            masks[0][p, :, o : o + k, o : o + k] = 1
            masks[1][p, :, :, :n] = 1
            masks[2][p, 0, :n] = 1
            masks[3][p, :n] = 1
        self.params = [t.requires_grad_() for t in (conv_w, conv_b, w1, b1, w2, b2)]
        # Padded Linear-1 units get exactly zero gradients (their Linear-2 weights are zero),
        # so only the convolution's and Linear 2's padding needs masking.
        self._masks = {i: m for i, m in ((0, masks[0]), (4, masks[3])) if not bool(m.all())}
        self._set_runs()

    def _set_runs(self) -> None:
        runs: list[list] = []
        for a in self.archs:
            if runs and runs[-1][0] == a.activation:
                runs[-1][1] += 1
            else:
                runs.append([a.activation, 1])
        self.act_runs = [(name, n) for name, n in runs]

    def select(self, keep: Sequence[int]) -> None:
        """Keep only the candidates at positions `keep` (new parameter tensors)."""
        idx = torch.tensor(list(keep), dtype=torch.long, device=self.params[0].device)
        self.params = [t.detach().index_select(0, idx).requires_grad_() for t in self.params]
        self._masks = {i: m.index_select(0, idx) for i, m in self._masks.items()}
        self.archs = [self.archs[i] for i in keep]
        self._set_runs()

    def patches(self, x: torch.Tensor, lazy: bool | None = None) -> Patches | LazyPatches:
        """The patches of images `x`, unfolded now, or on demand if `lazy` (by default: if
        they would take more than PATCH_CACHE_BYTES)."""
        layout = (self.K, self.padding, self.stride, self.pool.size, self.conv_hw, self.pooled_hw)
        if lazy is None:
            kk = self.pool.size**2
            lazy = 4 * x.shape[0] * kk * self.S * x.shape[1] * self.K**2 > PATCH_CACHE_BYTES
        return LazyPatches(x, *layout) if lazy else Patches(x, *layout)

    def patch_key(self) -> tuple:
        return (self.K, self.padding, self.stride, self.pool.size)

    def _act(self, h: torch.Tensor) -> torch.Tensor:
        if len(self.act_runs) == 1:
            return _ACT[self.act_runs[0][0]](h)
        parts = h.split([n for _, n in self.act_runs])
        return torch.cat([_ACT[name](part) for (name, _), part in zip(self.act_runs, parts)])

    def forward(self, cols: torch.Tensor, batch: int) -> torch.Tensor:
        """cols: k*k x (B*S) x CKK patches of a batch of `batch` images -> log-probs, P x B x classes."""
        conv_w, conv_b, w1, b1, w2, b2 = self.params
        P, KK = len(self.archs), cols.shape[0]
        wf = conv_w.view(P, -1, self.F)
        y = torch.baddbmm(conv_b, cols.view(1, -1, cols.shape[-1]).expand(P, -1, -1), wf)  # P x (kk*B*S) x F
        if self.pool.is_identity:
            h = self._act(y)
        elif self.pool.kind == "max":
            h = self._act(MaxOverOffsets.apply(y.view(P, KK, -1, self.F)))  # f(max y) = max f(y)
        else:
            h = self._act(y).view(P, KK, -1, self.F).mean(1)
        h = h.reshape(P, batch, self.S * self.F)
        h = self._act(torch.baddbmm(b1, h, w1.view(P, -1, self.L)))
        return torch.log_softmax(torch.baddbmm(b2, h, w2), dim=-1)

    @torch.no_grad()
    def zero_candidates(self, which: torch.Tensor, grads: bool = False) -> None:
        """Zero the weights (or their gradients) of the candidates selected by `which`."""
        for t in self.params:
            target = t.grad if grads else t
            if target is not None:
                target[which] = 0

    def mask_grads(self) -> None:
        for i, m in self._masks.items():
            self.params[i].grad.mul_(m)

    @torch.no_grad()
    def measure(self, patches: Patches | LazyPatches, y: torch.Tensor,
                chunk: int = 1024) -> tuple[list[float], list[float]]:
        """Mean NLL and error of every candidate on a split."""
        P = len(self.archs)
        nll = torch.zeros(P, dtype=torch.float64, device=y.device)
        wrong = torch.zeros(P, dtype=torch.float64, device=y.device)
        for idx in torch.arange(len(y), device=y.device).split(chunk):
            ys = y[idx]
            logp = self.forward(patches.batch(idx), len(idx))
            nll -= logp.gather(2, ys.expand(P, -1).unsqueeze(2)).squeeze(2).double().sum(1)
            wrong += (logp.argmax(2) != ys).sum(1)
        return (nll / len(y)).tolist(), (wrong / len(y)).tolist()

    def extract(self) -> list[CNN]:
        """The candidates as ordinary networks, with their trained weights."""
        conv_w, conv_b, w1, b1, w2, b2 = (t.detach().cpu() for t in self.params)
        out = []
        for p, a in enumerate(self.archs):
            m = build_model(a, self.input_shape, self.num_classes)
            k, o, n = a.conv.kernel, (self.K - a.conv.kernel) // 2, a.linear
            with torch.no_grad():
                m.conv.weight.copy_(conv_w[p, :, o : o + k, o : o + k].permute(3, 0, 1, 2))
                m.conv.bias.copy_(conv_b[p, 0])
                m.linear1.weight.copy_(w1[p, :, :, :n].permute(2, 1, 0).reshape(n, -1))
                m.linear1.bias.copy_(b1[p, 0, :n])
                m.linear2.weight.copy_(w2[p, :n].T)
                m.linear2.bias.copy_(b2[p, 0])
            out.append(m)
        return out


class FastAdamax:
    """Adamax with PyTorch's update rule (weight decay added to the gradient), as a few
    in-place multi-tensor operations: `torch.optim.Adamax` spends more time in Python per
    step than this whole update takes on a small group."""

    def __init__(self, params: list[torch.Tensor], lr: float, weight_decay: float,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8):
        self.params, self.lr, self.wd, self.betas, self.eps = params, lr, weight_decay, betas, eps
        self.exp_avg = [torch.zeros_like(p) for p in params]
        self.exp_inf = [torch.zeros_like(p) for p in params]
        self.t = 0

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.params:
            p.grad = None

    def set_lr(self, lr: float) -> None:
        self.lr = lr

    def select(self, keep: torch.Tensor, params: list[torch.Tensor]) -> None:
        """Follow `StackedGroup.select`: keep the state of the candidates at `keep`."""
        self.exp_avg = [m.index_select(0, keep) for m in self.exp_avg]
        self.exp_inf = [m.index_select(0, keep) for m in self.exp_inf]
        self.params = params

    @torch.no_grad()
    def step(self) -> None:
        b1, b2 = self.betas
        self.t += 1
        grads = [p.grad for p in self.params]
        if self.wd:
            torch._foreach_add_(grads, self.params, alpha=self.wd)
        torch._foreach_lerp_(self.exp_avg, grads, 1 - b1)
        torch._foreach_mul_(self.exp_inf, b2)
        torch._foreach_abs_(grads)
        torch._foreach_add_(grads, self.eps)
        torch._foreach_maximum_(self.exp_inf, grads)
        torch._foreach_addcdiv_(self.params, self.exp_avg, self.exp_inf, value=-self.lr / (1 - b1**self.t))


class _TorchOptimizer:
    """A `torch.optim` optimiser with the `set_lr` of `FastAdamax`."""

    def __init__(self, params: list[torch.Tensor], cfg: TrainConfig):
        self.opt = make_optimizer(params, cfg)
        self.zero_grad, self.step = self.opt.zero_grad, self.opt.step

    def set_lr(self, lr: float) -> None:
        for g in self.opt.param_groups:
            g["lr"] = lr

    def select(self, keep: torch.Tensor, params: list[torch.Tensor]) -> None:
        """Follow `StackedGroup.select`: keep the state of the candidates at `keep`."""
        (group,) = self.opt.param_groups
        state = {}
        for old, new in zip(group["params"], params):
            state[new] = {k: v.index_select(0, keep) if torch.is_tensor(v) and v.dim() > 0 else v
                          for k, v in self.opt.state.get(old, {}).items()}
        group["params"] = list(params)
        self.opt.state.clear()
        self.opt.state.update(state)


def _optimizer(params: list[torch.Tensor], cfg: TrainConfig):
    if cfg.optimizer == "adamax":
        return FastAdamax(params, cfg.lr, cfg.weight_decay)
    return _TorchOptimizer(params, cfg)


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
        cache["prepared"] = Prepared.from_data(data, cfg)
    prepared: Prepared = cache["prepared"]
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
    opt = _optimizer(group.params, cfg)
    stop = dict(stop or {})
    y = data.train.y
    n = len(y)
    total = epochs * -(-n // cfg.batch_size)
    histories: list[list[EpochStats]] = [[] for _ in candidates]
    failed: list[str | None] = [None] * len(candidates)
    members = list(range(len(candidates)))  # the candidate at each position of the group
    alive = torch.ones(len(members), dtype=torch.bool, device=device)
    any_dead = False
    step = 0
    for epoch in range(epochs):
        P = len(members)
        loss_sum = torch.zeros(P, device=device)
        wrong = torch.zeros(P, device=device)
        for idx, xb in prepared.batches(cfg.batch_size, seed, epoch):
            if cfg.schedule != "constant":
                opt.set_lr(cfg.lr * lr_factor(cfg.schedule, step, total))
            step += 1
            yb = y[idx]
            cols = train_patches.batch(idx) if xb is None else group.patches(xb, lazy=False).batch()
            logp = group.forward(cols, len(idx))
            nll = -logp.gather(2, yb.expand(P, -1).unsqueeze(2)).squeeze(2).sum(1)  # per candidate
            loss = nll.sum() if not any_dead else torch.where(alive, nll, 0.0).sum()
            if not torch.isfinite(loss):  # one check per step; find the culprits only when needed
                bad = ~torch.isfinite(nll.detach()) & alive
                for p in bad.nonzero().flatten().tolist():
                    kind = "nan" if torch.isnan(nll[p]) else "inf"
                    failed[members[p]] = f"loss became {kind} in epoch {epoch + 1}, step {step}"
                alive &= ~bad
                any_dead = True
                loss = torch.where(alive, nll, 0.0).sum()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            group.mask_grads()
            if any_dead:
                group.zero_candidates(~alive, grads=True)
            opt.step()
            if any_dead:
                group.zero_candidates(~alive)
            loss_sum += nll.detach()
            wrong += (logp.detach().argmax(2) != yb).sum(1)
        if not alive.any():
            break
        last = epoch == epochs - 1
        if val_every_epoch or last or epoch + 1 in stop:
            val_loss, val_error = group.measure(val_patches, data.val.y)
        else:
            val_loss = val_error = [float("nan")] * P
        for p, c in enumerate(members):
            histories[c].append(
                EpochStats(epoch + 1, loss_sum[p].item() / n, wrong[p].item() / n, val_loss[p], val_error[p])
            )
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
                group.select(keep)
                opt.select(torch.tensor(keep, dtype=torch.long, device=device), group.params)
                members = [members[p] for p in keep]
                alive = alive[keep]
    return group, histories, failed
