"""Seeded, stratified hold-out splits (validation from train, or test from a single pool).

Stratified means each class keeps its share in both parts. When a class is too small for that
(fewer than two images, or fewer held-out images than classes), the split falls back to a plain
seeded random split and logs a warning: the run still works, but some class may be missing from
one part. Either way the same seed gives the same split.
"""

from __future__ import annotations

import logging

import numpy as np

from nas4cnn.core.errors import DataError

log = logging.getLogger(__name__)


def hold_out(
    name: str, x: np.ndarray, y: np.ndarray, fraction: float, seed: int, part: str
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Split (x, y) into (kept, held out), with `fraction` of the images held out as `part`
    ("val" or "test"), stratified by label where every class allows it."""
    from sklearn.model_selection import train_test_split

    n = len(y)
    held = int(np.ceil(fraction * n))
    if n < 2 or held >= n:
        raise DataError(
            f"data set {name!r}: {n} image(s) are too few to hold out {fraction:g} of them as the {part} split"
        )
    index = np.arange(n)
    classes, counts = np.unique(y, return_counts=True)
    if counts.min() >= 2 and held >= len(classes) and n - held >= len(classes):
        keep, out = train_test_split(index, test_size=held, random_state=seed, stratify=y)
    else:
        if counts.min() < 2:
            why = f"class {classes[counts.argmin()]} has only {counts.min()} image"
        else:
            why = f"{min(held, n - held)} image(s) cannot hold all {len(classes)} classes"
        log.warning("data set %r: cannot stratify the %s split (%s); using a plain random split", name, part, why)
        keep, out = train_test_split(index, test_size=held, random_state=seed)
    keep, out = np.sort(keep), np.sort(out)  # the data's own order within each part
    return (x[keep], y[keep]), (x[out], y[out])
