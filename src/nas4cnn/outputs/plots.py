"""PNG plots of a run: objective progression and the final model's learning curves."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib.ticker
from matplotlib.figure import Figure

from nas4cnn.core.rundir import atomic_path
from nas4cnn.nn.train import EpochStats
from nas4cnn.searching.history import Generation


def _figure(figsize: tuple[float, float], ncols: int = 1):
    """A figure outside pyplot: no backend is chosen or changed (a notebook's stays as it is),
    and nothing is kept once it is saved."""
    fig = Figure(figsize=figsize)
    return fig, fig.subplots(1, ncols)


def _save(fig, axes, path, fontsize: float | None = None) -> None:
    for ax in axes:
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=fontsize)
    fig.tight_layout()
    _write(fig, path)


def _write(fig, path) -> None:
    """A PNG to `path` (written whole or not at all, see `rundir.atomic_path`) or to a file object."""
    if not isinstance(path, (str, Path)):
        fig.savefig(path, dpi=110, format="png")
        return
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")


def plot_progression(records: Sequence[Generation], path: str | Path) -> None:
    gens = [r.generation for r in records]
    fig, ax = _figure((7, 4))
    nan = float("nan")
    finite = [(r.global_best if r.global_best < float("inf") else nan,
               r.local_best if r.local_best < float("inf") else nan) for r in records]
    ax.plot(gens, [g for g, _ in finite], label="global best", lw=2)
    ax.plot(gens, [loc for _, loc in finite], label="local best (this generation)", lw=1, alpha=0.8)
    ax.set_xlabel("generation")
    ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    ax.set_ylabel("objective (val error + λ·Np/Nmax)")
    ax.set_title("Objective progression")
    _save(fig, [ax], path)


def plot_curves(history: Sequence[EpochStats], test_nll: float, test_error: float, path: str | Path) -> None:
    epochs = [h.epoch for h in history]
    fig, (a, b) = _figure((11, 4), 2)
    _curve_panel(a, epochs, [h.train_loss for h in history], [h.val_loss for h in history],
                 f"test ({test_nll:.3f})", test_nll, "mean NLL", "Loss")
    _curve_panel(b, epochs, [h.train_error for h in history], [h.val_error for h in history],
                 f"test ({test_error:.4f})", test_error, "classification error", "Classification error")
    _save(fig, [a, b], path)


def _curve_panel(ax, epochs: Sequence[int], train: Sequence[float], val: Sequence[float], test_label: str,
                 test: float, ylabel: str, title: str) -> None:
    ax.plot(epochs, train, label="train")
    ax.plot(epochs, val, label="validation")
    ax.axhline(test, ls="--", color="grey", label=test_label)
    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    ax.set_ylabel(ylabel)
    ax.set_title(title)


def plot_bars(rows: Sequence[dict], path: str | Path) -> None:
    """The seed's comparison chart: test NLL and classification error per model, this run's
    mean (± std over seeds) beside the seed's published figure where there is one.
    rows: dicts with label, test_error_mean, test_error_std, test_nll_mean, test_nll_std and
    optionally repeats, published_error, published_nll. A row of one seed, or whose std is
    None, gets no error bar."""
    labels = [r["label"] for r in rows]

    def spread(r: dict, key: str) -> float:
        std = r.get(f"test_{key}_std")
        return float("nan") if std is None or r.get("repeats") == 1 else std  # NaN: matplotlib draws no bar

    x = range(len(rows))
    fig, axes = _figure((11, 4), 2)
    for ax, key, title in ((axes[0], "nll", "Test NLL"), (axes[1], "error", "Test classification error")):
        ours = ax.bar([i - 0.2 for i in x], [r[f"test_{key}_mean"] for r in rows], 0.4,
                      yerr=[spread(r, key) for r in rows], capsize=3, label="this tool")
        ax.bar_label(ours, fmt="%.3f", fontsize=8)
        published = [r.get(f"published_{key}") for r in rows]
        if any(v is not None for v in published):
            seed = ax.bar([i + 0.2 for i in x], [v or 0 for v in published], 0.4, label="seed (published)",
                          color="lightgrey", edgecolor="grey")
            ax.bar_label(seed, labels=[f"{v:.3f}" if v is not None else "" for v in published], fontsize=8)
        ax.set_xticks(list(x), labels)
        ax.set_title(title)
    _save(fig, axes, path)


def plot_regret(curves: dict, grid, path: str | Path) -> None:
    """Median regret (best objective found minus the optimum) against compute, per strategy."""
    fig, ax = _figure((8, 4.5))
    for name, ys in curves.items():
        ys = [y if y < float("inf") else float("nan") for y in ys]
        ax.plot(grid, [max(y, 1e-5) for y in ys], label=name)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("trained architecture-epochs")
    ax.set_ylabel("median regret (objective − optimum), floor 1e-5")
    ax.set_title("Regret against compute")
    _save(fig, [ax], path, fontsize=8)


def plot_pareto(points, front: list[dict], best: dict | None, path: str | Path) -> None:
    """Every trained network, validation error against parameters; the Pareto front and the
    lambda-weighted winner marked."""
    fig, ax = _figure((7, 4.5))
    if points:
        ax.scatter([p for p, _ in points], [e for _, e in points], s=10, alpha=0.4, label="trained networks")
    if front:
        ax.plot([f["params"] for f in front], [f["val_error"] for f in front], "o-", color="C3", ms=4,
                label="Pareto front")
    if best:
        ax.scatter([best["params"]], [best["val_error"]], marker="*", s=200, color="C2", zorder=5,
                   label=f"chosen: {best['arch']}")
    ax.set_xscale("log")
    ax.set_xlabel("parameters")
    ax.set_ylabel("validation error")
    ax.set_title("Validation error against size")
    _save(fig, [ax], path, fontsize=8)


def plot_confusion(matrix: Sequence[Sequence[int]], class_names: Sequence[str], path) -> None:
    """A confusion matrix (rows the true class, columns the predicted one), shaded by the
    fraction of each true class, with the counts written in when there are few classes.
    `path` may be a file name or a binary file object (PNG either way)."""
    import numpy as np

    m = np.asarray(matrix, dtype=float).reshape(len(matrix), -1)
    n = len(m)
    totals = m.sum(1, keepdims=True)
    frac = np.divide(m, totals, out=np.zeros_like(m), where=totals > 0)
    side = min(3.0 + 0.3 * n, 10.0)
    fig, ax = _figure((side + 1.2, side))
    im = ax.imshow(frac, cmap="Blues", vmin=0.0, vmax=1.0)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="fraction of the true class")
    if n <= 30:
        labels = [str(c) for c in class_names] if len(class_names) == n else [str(i) for i in range(n)]
        ax.set_xticks(range(n), labels, rotation=45 if max(map(len, labels)) > 2 else 0, ha="right"
                      if max(map(len, labels)) > 2 else "center", fontsize=8)
        ax.set_yticks(range(n), labels, fontsize=8)
    if n <= 20:
        for i in range(n):
            for j in range(n):
                if m[i, j]:
                    ax.text(j, i, f"{m[i, j]:.0f}", ha="center", va="center", fontsize=7,
                            color="white" if frac[i, j] > 0.5 else "black")
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title("Confusion matrix (test split)")
    fig.tight_layout()
    _write(fig, path)
