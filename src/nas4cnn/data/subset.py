"""Stratified subsets of a split: the search's cheap fidelity on large data sets.

Candidates are ranked on a subset of the training images (and of the validation images); the
final model trains on all of them. A subset keeps every class's share of the split (up to
rounding), is drawn with a seed, and keeps the split's own order, so the same seed gives the
same subset on every machine.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch

from nas4cnn.core.seeding import SUBSET, derive_seed
from nas4cnn.data.dataset import DataSet, Split


def subset_indices(y: np.ndarray, n: int, seed: int) -> np.ndarray:
    """Sorted indices of `n` of the labels `y`, each class keeping its share: the classes'
    quotas are their shares of `n` rounded down, the images left over go to the classes with
    the largest remainders (ties to the smaller label), and each class's images are a seeded
    random choice. All indices when `n` is at least len(y)."""
    y = np.asarray(y)
    total = len(y)
    if n >= total:
        return np.arange(total)
    if n < 1:
        raise ValueError(f"a subset needs at least one image; got {n}")
    classes, counts = np.unique(y, return_counts=True)
    exact = counts * n / total
    quota = np.floor(exact).astype(np.int64)
    left = n - int(quota.sum())
    order = sorted(range(len(classes)), key=lambda i: (-(exact[i] - quota[i]), classes[i]))
    for i in order[:left]:
        quota[i] += 1
    rng = np.random.default_rng(seed)
    chosen = [rng.choice(np.flatnonzero(y == c), size=int(q), replace=False) for c, q in zip(classes, quota)]
    return np.sort(np.concatenate(chosen))


def subset_split(split: Split, n: int, seed: int) -> Split:
    """The split itself when `n` >= its size, else a stratified subset of `n` images."""
    if n >= len(split):
        return split
    idx = torch.from_numpy(subset_indices(split.y.cpu().numpy(), n, seed)).to(split.y.device)
    return Split(split.x.index_select(0, idx), split.y.index_select(0, idx))


def search_subset(data: DataSet, train: int, val: int, seed: int) -> DataSet:
    """`data` with its training and validation splits cut to stratified subsets of at most
    `train` and `val` images (the test split unchanged), drawn with seeds derived from `seed`
    (the run's split seed); `data` itself when both fit."""
    if train >= len(data.train) and val >= len(data.val):
        return data
    return replace(data, train=subset_split(data.train, train, derive_seed(SUBSET, seed, 0)),
                   val=subset_split(data.val, val, derive_seed(SUBSET, seed, 1)))
