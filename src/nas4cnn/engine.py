"""Population-batched training: many candidates trained together, in lockstep.

Candidates whose feature maps have the same size (same pooling size, compatible
convolutions) and the same filter count form a group. A group is one network with
stacked, zero-padded parameters:

- one Conv2d with P*F output channels (the input batch is shared, so no grouping is
  needed); a k x k kernel is embedded centred in the group's K x K kernel, which with
  stride 1 and matching padding computes the same thing;
- Linear 1 and Linear 2 as batched matrix products over the P candidates, each padded
  to the group's widest layer;
- activation and pooling applied to each candidate's slice (candidates are sorted so
  that those sharing an activation, or a pooling kind, are contiguous).

Padded weights start at zero and their gradients are masked to zero, so with an
element-wise optimiser (Adamax, Adam, AdamW, SGD) they stay zero: a candidate trained in
a group follows the same trajectory as alone, up to float rounding. The loss is the sum
of the candidates' summed NLLs, whose gradient with respect to one candidate's weights
is that candidate's own gradient: nothing leaks between candidates.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .config import TrainConfig
from .data import DataSet
from .model import CNN, build_model, feature_hw
from .space import Architecture
from .train import EpochStats, epoch_batches, make_optimizer

_ACT = {"relu": F.relu, "sigmoid": torch.sigmoid, "tanh": torch.tanh, "softplus": F.softplus, "elu": F.elu}


@dataclass(frozen=True)
class Candidate:
    arch: Architecture
    init_seed: int


def group_key(arch: Architecture) -> tuple:
    """Candidates with equal keys can share one padded network."""
    c = arch.conv
    return (arch.filters, c.stride, c.kernel % 2, c.padding - c.kernel // 2, arch.pooling.size)


def make_groups(candidates: Sequence[Candidate]) -> list[list[int]]:
    """Indices of `candidates`, grouped; deterministic for a given candidate list."""
    groups: dict[tuple, list[int]] = {}
    for i, cand in enumerate(candidates):
        groups.setdefault(group_key(cand.arch), []).append(i)
    return [sorted(idx, key=lambda i: (candidates[i].arch.activation, candidates[i].arch.pooling.kind))
            for _, idx in sorted(groups.items())]


def _runs(labels: Sequence[str]) -> list[tuple[str, int, int]]:
    """Contiguous runs of equal labels as (label, start, end)."""
    runs: list[tuple[str, int, int]] = []
    for i, lab in enumerate(labels):
        if runs and runs[-1][0] == lab:
            runs[-1] = (lab, runs[-1][1], i + 1)
        else:
            runs.append((lab, i, i + 1))
    return runs


class StackedGroup:
    """P candidates of one group as padded, stacked tensors."""

    def __init__(self, archs: Sequence[Architecture], models: Sequence[CNN], input_shape, num_classes: int,
                 device: torch.device):
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
        self.pool_size = a0.pooling.size
        h, w = feature_hw(a0, H, W)
        c = a0.conv
        self.conv_hw = ((H + 2 * c.padding - c.kernel) // c.stride + 1, (W + 2 * c.padding - c.kernel) // c.stride + 1)
        self.pooled_hw = (h, w)
        self.S = h * w
        F_, K, L, S, NC = self.F, self.K, self.L, self.S, num_classes
        z = dict(device=device, dtype=torch.float32)
        conv_w = torch.zeros(P * F_, C, K, K, **z)
        conv_b = torch.zeros(P * F_, **z)
        w1 = torch.zeros(P, F_ * S, L, **z)
        b1 = torch.zeros(P, 1, L, **z)
        w2 = torch.zeros(P, L, NC, **z)
        b2 = torch.zeros(P, 1, NC, **z)
        masks = [torch.zeros_like(t) for t in (conv_w, conv_b, w1, b1, w2)]
        for p, (a, m) in enumerate(zip(archs, models)):
            k, off, n = a.conv.kernel, (K - a.conv.kernel) // 2, a.linear
            rows = slice(p * F_, (p + 1) * F_)
            conv_w[rows, :, off:off + k, off:off + k] = m.conv.weight.detach()
            conv_b[rows] = m.conv.bias.detach()
            w1[p, :, :n] = m.linear1.weight.detach().T
            b1[p, 0, :n] = m.linear1.bias.detach()
            w2[p, :n] = m.linear2.weight.detach().T
            b2[p, 0] = m.linear2.bias.detach()
            masks[0][rows, :, off:off + k, off:off + k] = 1
            masks[1][rows] = 1
            masks[2][p, :, :n] = 1
            masks[3][p, 0, :n] = 1
            masks[4][p, :n] = 1
        self.params = [t.requires_grad_() for t in (conv_w, conv_b, w1, b1, w2, b2)]
        self.masks = masks
        self.act_runs = _runs([a.activation for a in archs])
        self.pool_runs = _runs([a.pooling.kind for a in archs])

    def _act(self, h: torch.Tensor) -> torch.Tensor:
        """Each candidate's activation on its slice of a P-first tensor."""
        if len(self.act_runs) == 1:
            return _ACT[self.act_runs[0][0]](h)
        parts = h.split([e - s for _, s, e in self.act_runs])
        return torch.cat([_ACT[name](part) for (name, _, _), part in zip(self.act_runs, parts)])

    def _pool(self, h: torch.Tensor) -> torch.Tensor:
        """h: P x B x F x H x W -> P x B x F x H' x W'. Small windows are reduced as
        element-wise max/sum of strided views, much faster than the pooling kernels
        on many tiny planes."""
        if self.pool_size == 1:
            return h
        if len(self.pool_runs) == 1:
            return self._pool_kind(h, self.pool_runs[0][0])
        parts = h.split([e - s for _, s, e in self.pool_runs])
        return torch.cat([self._pool_kind(part, kind) for (kind, _, _), part in zip(self.pool_runs, parts)])

    def _pool_kind(self, h: torch.Tensor, kind: str) -> torch.Tensor:
        k, (hh, ww) = self.pool_size, self.pooled_hw
        if k > 3:
            op = F.avg_pool2d if kind == "avg" else F.max_pool2d
            return op(h.flatten(0, 1), k).view(*h.shape[:3], hh, ww)
        views = [h[..., i : hh * k : k, j : ww * k : k] for i in range(k) for j in range(k)]
        out = views[0]
        for v in views[1:]:
            out = out + v if kind == "avg" else torch.maximum(out, v)
        return out / (k * k) if kind == "avg" else out

    def conv(self, cols: torch.Tensor) -> torch.Tensor:
        """The convolution as one matrix product over unfolded input patches.
        cols: B x (H*W) x (C*K*K), from `unfold_input`; returns P x B x F x H x W."""
        conv_w, conv_b = self.params[:2]
        B, HW, _ = cols.shape
        h = torch.addmm(conv_b, cols.reshape(B * HW, -1), conv_w.flatten(1).T)  # (B*HW) x (P*F)
        return h.view(B, *self.conv_hw, len(self.archs), self.F).permute(3, 0, 4, 1, 2).contiguous()

    def unfold_input(self, x: torch.Tensor) -> torch.Tensor:
        """Input patches for `conv`: B x (H*W) x (C*K*K)."""
        return F.unfold(x, self.K, padding=self.padding, stride=self.stride).transpose(1, 2).contiguous()

    def forward(self, x: torch.Tensor, cols: torch.Tensor | None = None) -> torch.Tensor:
        """Log-probabilities, P x B x classes; `cols` are the unfolded `x` if already computed."""
        _, _, w1, b1, w2, b2 = self.params
        P, B = len(self.archs), x.shape[0]
        h = self.conv(self.unfold_input(x) if cols is None else cols)
        h = self._pool(self._act(h)).reshape(P, B, self.F * self.S)
        h = self._act(torch.baddbmm(b1, h, w1))
        return torch.log_softmax(torch.baddbmm(b2, h, w2), dim=-1)

    def mask_grads(self) -> None:
        for p, m in zip(self.params, self.masks):
            p.grad.mul_(m)

    @torch.no_grad()
    def measure(self, x: torch.Tensor, y: torch.Tensor, chunk: int = 2048) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean NLL and error of every candidate on (x, y), as two length-P tensors."""
        nll = torch.zeros(len(self.archs), device=x.device, dtype=torch.float64)
        wrong = torch.zeros(len(self.archs), device=x.device, dtype=torch.float64)
        for xs, ys in zip(x.split(chunk), y.split(chunk)):
            logp = self.forward(xs)
            nll -= logp.gather(2, ys.expand(len(self.archs), -1).unsqueeze(2)).squeeze(2).double().sum(1)
            wrong += (logp.argmax(2) != ys).sum(1)
        return nll / len(y), wrong / len(y)

    def extract(self) -> list[CNN]:
        """The candidates as ordinary networks, with their trained weights."""
        conv_w, conv_b, w1, b1, w2, b2 = (t.detach().cpu() for t in self.params)
        out = []
        for p, a in enumerate(self.archs):
            m = build_model(a, self.input_shape, self.num_classes)
            k, off, n = a.conv.kernel, (self.K - a.conv.kernel) // 2, a.linear
            rows = slice(p * self.F, (p + 1) * self.F)
            with torch.no_grad():
                m.conv.weight.copy_(conv_w[rows, :, off:off + k, off:off + k])
                m.conv.bias.copy_(conv_b[rows])
                m.linear1.weight.copy_(w1[p, :, :n].T)
                m.linear1.bias.copy_(b1[p, 0, :n])
                m.linear2.weight.copy_(w2[p, :n].T)
                m.linear2.bias.copy_(b2[p, 0])
            out.append(m)
        return out


def train_group(
    candidates: Sequence[Candidate],
    data: DataSet,
    cfg: TrainConfig,
    epochs: int,
    seed: int,
) -> tuple[StackedGroup, list[list[EpochStats]]]:
    """Train one group of compatible candidates together; per-candidate histories
    (validation measured after the last epoch only)."""
    device = data.train.x.device
    shape, nc = data.input_shape, data.num_classes
    models = [build_model(c.arch, shape, nc, seed=c.init_seed) for c in candidates]
    group = StackedGroup([c.arch for c in candidates], models, shape, nc, device)
    opt = make_optimizer(group.params, cfg)
    x, y = data.train.x, data.train.y
    cols = group.unfold_input(x)  # the input is shared: unfold it once
    P, n = len(candidates), len(y)
    histories: list[list[EpochStats]] = [[] for _ in range(P)]
    for epoch in range(epochs):
        loss_sum = torch.zeros(P, device=device)
        wrong = torch.zeros(P, device=device)
        for idx in epoch_batches(n, cfg.batch_size, seed, epoch, device):
            xb, yb = x[idx], y[idx]
            logp = group.forward(xb, cols[idx])
            nll = -logp.gather(2, yb.expand(P, -1).unsqueeze(2)).squeeze(2).sum(1)  # per candidate
            opt.zero_grad(set_to_none=True)
            nll.sum().backward()
            group.mask_grads()
            opt.step()
            loss_sum += nll.detach()
            wrong += (logp.detach().argmax(2) != yb).sum(1)
        last = epoch == epochs - 1
        if last:
            val_loss, val_error = (t.tolist() for t in group.measure(data.val.x, data.val.y))
        else:
            val_loss = val_error = [float("nan")] * P
        for p in range(P):
            histories[p].append(
                EpochStats(epoch + 1, loss_sum[p].item() / n, wrong[p].item() / n, val_loss[p], val_error[p])
            )
    return group, histories
