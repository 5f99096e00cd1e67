"""P compatible candidates as one network with stacked parameters, differentiated by hand.

Layout (P candidates, F filters, the group's K x K kernel, S pooled positions, L the widest
Linear 1, NC classes); all parameters live in one flat tensor, and so do their gradients:

- the convolution is one matrix product of a batch's input patches (unfolded once per data
  set, with a column of ones for the bias) with every candidate's kernels side by side,
  (C*K*K + 1) x P x F; a k x k kernel is embedded, centred and zero-padded, in the K x K
  kernel, which with stride 1 and matching padding is the same map;
- the patch rows are ordered (pooling-window offset, image, position), so pooling reduces
  over contiguous blocks; max-pooling comes before the activation, which gives the same
  values for the monotone activations of the space (f(max y) = max f(y)), and its gradient
  goes to the first maximum, as PyTorch's max-pooling does;
- Linear 1 and Linear 2 are batched matrix products, P x (S*F) x L and P x L x NC, each
  candidate's layer padded to the group's widest;
- each candidate's activation is applied to its own slice (candidates sorted by activation).

The backward pass is written out: about forty tensor operations a step however many
candidates there are, with no autograd graph, every gradient written in place into the
flat gradient tensor. The loss is the sum of the candidates' summed NLLs, so each
candidate's gradient is its own: nothing leaks between candidates, and a candidate trained
in a group follows its trajectory alone up to float rounding (tested against autograd
training of the same network). Padded weights start at zero and their gradients are
masked to zero, so element-wise optimisers keep them zero.

Every intermediate is a dense float tensor: on a CPU, boolean masks, `where`, max-with-
indices and PyTorch's pooling kernels are many times slower on these tiny images.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F

from nas4cnn.core.space import Architecture
from nas4cnn.nn.activations import ACTIVATIONS
from nas4cnn.nn.model import CNN, build_model, feature_hw

# Unfolded patches of a whole split are kept when they take at most this many bytes;
# larger data sets (MNIST-sized and up) are unfolded batch by batch instead.
PATCH_CACHE_BYTES = 256 * 2**20

_PDIM = (1, 0, 0, 0, 0)  # the candidate dimension of each parameter: conv, w1, b1, w2, b2


def _tn(a: torch.Tensor, b: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """out = a^T b (batched if 3-d), for the weight gradients, whose inner dimension (a batch's
    rows) is large. With few output columns (< 16) the BLAS runs this shape at a tenth of its
    speed or less, and the transposed product (b^T a)^T is fast: the same sums, blocked otherwise
    (the fused C step does the same)."""
    if out.shape[-1] >= 16:
        return torch.matmul(a.transpose(-2, -1), b, out=out)
    return out.copy_(torch.matmul(b.transpose(-2, -1), a).transpose(-2, -1))


def group_key(arch: Architecture) -> tuple:
    """Candidates with equal keys can share one stacked network."""
    c, p = arch.conv, arch.pooling
    pool = ("id", 1) if p.is_identity else (p.kind, p.size)
    return (arch.filters, c.stride, c.kernel % 2, c.padding - c.kernel // 2, pool)


class Patches:
    """Input patches of a whole split, unfolded once and shared by every group with the same
    kernel, padding, stride and pooling size: kk x N x S x (C*K*K + 1), window offset first,
    the last column all ones (it multiplies the convolution's bias)."""

    def __init__(self, x: torch.Tensor, kernel: int, padding: int, stride: int, pool: int, out_hw, pooled_hw):
        N = x.shape[0]
        cols = F.unfold(x, kernel, padding=padding, stride=stride)  # N x CKK x (H*W)
        cols = cols.view(N, -1, *out_hw)
        h, w = pooled_hw
        cols = cols[:, :, : h * pool, : w * pool].unflatten(3, (w, pool)).unflatten(2, (h, pool))
        # N x CKK x h x pool_i x w x pool_j -> pool_i x pool_j x N x h x w x CKK, in one copy
        cols = cols.permute(3, 5, 0, 2, 4, 1)
        self.data = cols.new_empty(pool * pool, N, h * w, cols.shape[-1] + 1)
        self.data[..., :-1].view(*cols.shape[:-1], -1).copy_(cols)
        self.data[..., -1] = 1

    def batch(self, idx: torch.Tensor | None = None) -> torch.Tensor:
        """kk x (B*S) x (CKK + 1) for the given rows (all rows if None)."""
        d = self.data if idx is None else self.data.index_select(1, idx)  # much faster than data[:, idx]
        return d.view(d.shape[0], -1, d.shape[-1])


class LazyPatches:
    """The same interface as `Patches`, unfolding only the rows asked for: for splits whose
    patches would take too much memory."""

    def __init__(self, x: torch.Tensor, *layout):
        self.x, self.layout = x, layout

    def batch(self, idx: torch.Tensor | None = None) -> torch.Tensor:
        return Patches(self.x if idx is None else self.x.index_select(0, idx), *self.layout).batch()


class StackedGroup:
    """P compatible candidates as stacked, zero-padded parameters in one flat tensor."""

    def __init__(self, archs: Sequence[Architecture], models: Sequence[CNN], input_shape, num_classes: int,
                 device: torch.device):
        if len({group_key(a) for a in archs}) != 1:
            raise ValueError("StackedGroup: candidates are not compatible; form groups with make_groups")
        self.archs = list(archs)
        self.input_shape = tuple(input_shape)
        self.num_classes = num_classes
        C, H, W = input_shape
        a0 = archs[0]
        self.F = a0.filters
        self.K = max(a.conv.kernel for a in archs)
        self.L = max(a.linear for a in archs)
        self.stride = a0.conv.stride
        self.padding = a0.conv.padding + (self.K - a0.conv.kernel) // 2
        self.pool = a0.pooling
        self.kk = 1 if self.pool.is_identity else self.pool.size**2
        c = a0.conv
        self.conv_hw = ((H + 2 * c.padding - c.kernel) // c.stride + 1, (W + 2 * c.padding - c.kernel) // c.stride + 1)
        self.pooled_hw = feature_hw(a0, H, W)
        self.S = self.pooled_hw[0] * self.pooled_hw[1]
        self.device = device
        self._layout(len(archs))
        self.flat = torch.zeros(self._size, device=device)
        conv_w, w1, b1, w2, b2 = self._split(self.flat)
        ckk = C * self.K**2
        conv_mask, w2_mask = torch.zeros_like(conv_w), torch.zeros_like(w2)
        conv_mask[ckk] = 1
        for p, (a, m) in enumerate(zip(archs, models)):
            k, o, n = a.conv.kernel, (self.K - a.conv.kernel) // 2, a.linear
            kernel = conv_w[:ckk, p].view(C, self.K, self.K, self.F)
            kernel[:, o : o + k, o : o + k] = m.conv.weight.detach().permute(1, 2, 3, 0)
            conv_mask[:ckk, p].view(C, self.K, self.K, self.F)[:, o : o + k, o : o + k] = 1
            conv_w[ckk, p] = m.conv.bias.detach()
            w1[p, :, :n] = m.linear1.weight.detach().view(n, self.F, self.S).permute(2, 1, 0).reshape(-1, n)
            b1[p, 0, :n] = m.linear1.bias.detach()
            w2[p, :n] = m.linear2.weight.detach().T
            w2_mask[p, :n] = 1
            b2[p, 0] = m.linear2.bias.detach()
        # Padded Linear-1 units get exactly zero gradients (their Linear-2 weights are zero),
        # so only the convolution's and Linear 2's padding needs masking.
        self._masks = {i: mk for i, mk in ((0, conv_mask), (3, w2_mask)) if not bool(mk.all())}
        self._set_views()

    def _layout(self, P: int) -> None:
        C = self.input_shape[0]
        L, NC, F_ = self.L, self.num_classes, self.F
        self.P = P
        self._shapes = [(C * self.K**2 + 1, P, F_), (P, self.S * F_, L), (P, 1, L), (P, L, NC), (P, 1, NC)]
        self._size = sum(math.prod(s) for s in self._shapes)

    def _split(self, flat: torch.Tensor, shapes: Sequence[tuple[int, ...]] | None = None) -> list[torch.Tensor]:
        """Views of a flat tensor laid out as this group's parameters (or as `shapes`)."""
        out, o = [], 0
        for shape in shapes or self._shapes:
            n = math.prod(shape)
            out.append(flat[o : o + n].view(shape))
            o += n
        return out

    def _set_views(self) -> None:
        self.grad = torch.zeros_like(self.flat)
        self.flat.grad = self.grad  # what an optimiser of [self.flat] reads
        self.params = self._split(self.flat)
        self.grads = self._split(self.grad)
        runs: list[list] = []
        for p, a in enumerate(self.archs):
            if runs and runs[-1][0] == a.activation:
                runs[-1][2] += 1
            else:
                runs.append([a.activation, p, 1])
        self.act_runs = [(ACTIVATIONS[name], start, n) for name, start, n in runs]

    def select(self, keep: Sequence[int]) -> Callable[[torch.Tensor], torch.Tensor]:
        """Keep only the candidates at positions `keep`. Returns the map that does the same to
        any other flat tensor laid out as the parameters were (an optimiser's state)."""
        idx = torch.tensor(list(keep), dtype=torch.long, device=self.device)
        shapes = self._shapes

        def take(flat: torch.Tensor) -> torch.Tensor:
            return torch.cat([v.index_select(d, idx).reshape(-1) for v, d in zip(self._split(flat, shapes), _PDIM)])

        self.flat = take(self.flat)
        self._masks = {i: m.index_select(_PDIM[i], idx) for i, m in self._masks.items()}
        self.archs = [self.archs[i] for i in keep]
        self._layout(len(keep))
        self._set_views()
        return take

    def patches(self, x: torch.Tensor, lazy: bool | None = None) -> Patches | LazyPatches:
        """The patches of images `x`, unfolded now, or on demand if `lazy` (by default: if
        they would take more than PATCH_CACHE_BYTES)."""
        layout = (self.K, self.padding, self.stride, self.pool.size, self.conv_hw, self.pooled_hw)
        if lazy is None:
            kk = self.pool.size**2
            lazy = 4 * x.shape[0] * kk * self.S * (x.shape[1] * self.K**2 + 1) > PATCH_CACHE_BYTES
        return LazyPatches(x, *layout) if lazy else Patches(x, *layout)

    def patch_key(self) -> tuple:
        return (self.K, self.padding, self.stride, self.pool.size)

    def _act(self, z: torch.Tensor, out: torch.Tensor, dim: int) -> torch.Tensor:
        """out = each candidate's activation of z; `dim` is the candidate dimension."""
        if len(self.act_runs) == 1:
            return self.act_runs[0][0].forward(z, out)
        for act, start, n in self.act_runs:
            act.forward(z.narrow(dim, start, n), out.narrow(dim, start, n))
        return out

    def _act_backward(self, g: torch.Tensor, z: torch.Tensor, a: torch.Tensor, out: torch.Tensor,
                      dim: int) -> torch.Tensor:
        if len(self.act_runs) == 1:
            return self.act_runs[0][0].backward(g, z, a, out)
        for act, start, n in self.act_runs:
            act.backward(*(t.narrow(dim, start, n) for t in (g, z, a, out)))
        return out

    def _forward(self, cols: torch.Tensor, batch: int, train: bool = True) -> dict[str, torch.Tensor]:
        """cols: kk x (B*S) x (CKK + 1) patches of `batch` images. Returns the intermediates
        the backward pass needs (if `train`); "logp" holds the log-probabilities, P x B x classes."""
        conv_w, w1, b1, w2, b2 = self.params
        P, F_, kk, S = self.P, self.F, self.kk, self.S
        rows = batch * S
        y = torch.mm(cols.view(-1, cols.shape[-1]), conv_w.view(conv_w.shape[0], -1)).view(kk, rows, P, F_)
        h = torch.empty(P, rows, F_, device=y.device)
        hv = h.transpose(0, 1)  # rows x P x F, the layout of y
        s: dict[str, torch.Tensor] = {"y": y, "h": h}
        if kk == 1:
            s["z"] = y[0]
            self._act(y[0], hv, 1)
        elif self.pool.kind == "max":
            # running maximum over the window; masks[k-1] = 1 where offset k beats all before it
            m, masks = y[0], []
            for k in range(1, kk):
                if train:
                    masks.append(torch.gt(y[k], m, out=torch.empty_like(y[k])))
                m = torch.maximum(m, y[k])
            s["z"], s["masks"] = m, masks
            self._act(m, hv, 1)
        else:
            a = self._act(y, torch.empty_like(y), 2)
            s["a"] = a
            torch.mean(a, 0, out=hv)
        z1 = torch.baddbmm(b1, h.view(P, batch, S * F_), w1)
        a1 = self._act(z1, torch.empty_like(z1), 0)
        s.update(z1=z1, a1=a1, logp=torch.log_softmax(torch.baddbmm(b2, a1, w2), dim=-1))
        return s

    def forward(self, cols: torch.Tensor, batch: int) -> torch.Tensor:
        """Log-probabilities, P x batch x classes."""
        return self._forward(cols, batch, train=False)["logp"]

    def train_step(self, cols: torch.Tensor, onehot: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Forward and backward on one batch (onehot: B x classes targets): writes the
        gradient of the summed NLL into `self.grad`, masked. Returns the log-probabilities
        and each candidate's summed NLL (P)."""
        B = onehot.shape[0]
        s = self._forward(cols, B)
        conv_w, w1, b1, w2, b2 = self.params
        g_conv, g_w1, g_b1, g_w2, g_b2 = self.grads
        P, F_, kk, S = self.P, self.F, self.kk, self.S
        logp, z1, a1, h, y = s["logp"], s["z1"], s["a1"], s["h"], s["y"]
        nll = torch.mul(logp, onehot).sum((1, 2)).neg_()
        d_out = torch.exp(logp).sub_(onehot)  # gradient of the NLL w.r.t. Linear 2's output
        torch.bmm(a1.transpose(1, 2), d_out, out=g_w2)
        torch.sum(d_out, 1, keepdim=True, out=g_b2)
        d_z1 = self._act_backward(torch.bmm(d_out, w2.transpose(1, 2)), z1, a1, torch.empty_like(z1), 0)
        h2 = h.view(P, B, S * F_)
        _tn(h2, d_z1, g_w1)
        torch.sum(d_z1, 1, keepdim=True, out=g_b1)
        d_h = torch.bmm(d_z1, w1.transpose(1, 2)).view(P, B * S, F_).transpose(0, 1)  # rows x P x F
        hv = h.transpose(0, 1)
        d_y = torch.empty_like(y)
        if kk == 1:
            self._act_backward(d_h, s["z"], hv, d_y[0], 1)
        elif self.pool.kind == "max":
            d = self._act_backward(d_h, s["z"], hv, torch.empty_like(y[0]), 1)
            masks = s["masks"]
            for k in range(kk - 1, 0, -1):  # hand the gradient back along the running maximum
                torch.mul(d, masks[k - 1], out=d_y[k])
                d = torch.sub(d, d_y[k], out=d_y[0] if k == 1 else None)
        else:
            g = torch.mul(d_h, 1.0 / kk).unsqueeze(0).expand_as(y)
            self._act_backward(g, y, s["a"], d_y, 2)
        c = cols.view(-1, cols.shape[-1])
        _tn(c, d_y.view(c.shape[0], -1), g_conv.view(c.shape[1], -1))
        for i, m in self._masks.items():
            self.grads[i].mul_(m)
        return logp, nll

    @torch.no_grad()
    def zero_candidates(self, which: torch.Tensor, grads: bool = False) -> None:
        """Zero the weights (or their gradients) of the candidates selected by `which` (bool, P)."""
        idx = which.nonzero().flatten()
        for t, d in zip(self.grads if grads else self.params, _PDIM):
            t.index_fill_(d, idx, 0.0)

    @torch.no_grad()
    def measure(self, patches: Patches | LazyPatches, y: torch.Tensor,
                chunk: int = 256) -> tuple[list[float], list[float]]:
        """Mean NLL and error of every candidate on a split, `chunk` images at a time (small
        enough that a chunk's intermediates stay in the CPU's caches: 256 measured fastest)."""
        P = self.P
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
        conv_w, w1, b1, w2, b2 = (t.detach().cpu() for t in self.params)
        C = self.input_shape[0]
        ckk = C * self.K**2
        out = []
        for p, a in enumerate(self.archs):
            m = build_model(a, self.input_shape, self.num_classes)
            k, o, n = a.conv.kernel, (self.K - a.conv.kernel) // 2, a.linear
            kernel = conv_w[:ckk, p].reshape(C, self.K, self.K, self.F)
            with torch.no_grad():
                m.conv.weight.copy_(kernel[:, o : o + k, o : o + k].permute(3, 0, 1, 2))
                m.conv.bias.copy_(conv_w[ckk, p])
                m.linear1.weight.copy_(w1[p, :, :n].view(self.S, self.F, n).permute(2, 1, 0).reshape(n, -1))
                m.linear1.bias.copy_(b1[p, 0, :n])
                m.linear2.weight.copy_(w2[p, :n].T)
                m.linear2.bias.copy_(b2[p, 0])
            out.append(m)
        return out
