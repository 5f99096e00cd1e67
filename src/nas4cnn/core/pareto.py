"""Pareto fronts on two minimised objectives, validation error and parameter count."""

from __future__ import annotations

import math
from collections.abc import Sequence

from nas4cnn.core.space import Genotype

Point = tuple[Genotype, float, float]  # genotype, val_error, params


def dominates(a: Point, b: Point) -> bool:
    return a[1] <= b[1] and a[2] <= b[2] and (a[1] < b[1] or a[2] < b[2])


def fronts(points: Sequence[Point]) -> list[list[int]]:
    """Fast non-dominated sort: indices per front, best front first."""
    dominated_by = [[] for _ in points]
    count = [0] * len(points)
    for i, p in enumerate(points):
        for j, q in enumerate(points):
            if dominates(p, q):
                dominated_by[i].append(j)
            elif dominates(q, p):
                count[i] += 1
    out, current = [], [i for i, c in enumerate(count) if c == 0]
    while current:
        out.append(current)
        nxt = []
        for i in current:
            for j in dominated_by[i]:
                count[j] -= 1
                if count[j] == 0:
                    nxt.append(j)
        current = sorted(nxt)
    return out


def pareto_front(points: Sequence[Point]) -> list[Point]:
    """The non-dominated points, by increasing parameter count, one per genotype."""
    unique = list({p[0]: p for p in points if math.isfinite(p[1])}.values())
    if not unique:
        return []
    return sorted((unique[i] for i in fronts(unique)[0]), key=lambda p: (p[2], p[1]))
