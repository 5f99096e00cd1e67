"""Grouping candidates for population-batched training (`engine.train_group`).

Candidates with the same filter count, pooling and compatible convolutions
(`stacked.group_key`) can be trained as one stacked network; `make_groups` decides which do,
splitting further by Linear-1 width where padding costs more than another group.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from nas4cnn.core.deep_space import DeepArchitecture
from nas4cnn.core.space import Architecture
from nas4cnn.nn.model import feature_hw
from nas4cnn.nn.stacked import group_key


@dataclass(frozen=True)
class Candidate:
    arch: Architecture | DeepArchitecture
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
    out = []
    for i, cand in enumerate(candidates):
        if isinstance(cand.arch, DeepArchitecture):  # a deep space's candidates train one by one, for now
            out.append([i])
        else:
            by_key.setdefault(group_key(cand.arch), []).append(i)
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
