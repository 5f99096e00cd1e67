"""PNG plots of a run: objective progression and the final model's learning curves."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from .search import GenerationRecord  # noqa: E402
from .train import EpochStats  # noqa: E402


def _save(fig, axes, path: str | Path, fontsize: float | None = None) -> None:
    for ax in axes:
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=fontsize)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_progression(records: Sequence[GenerationRecord], path: str | Path) -> None:
    gens = [r.generation for r in records]
    fig, ax = plt.subplots(figsize=(7, 4))
    nan = float("nan")
    finite = [(r.global_best if r.global_best < float("inf") else nan,
               r.local_best if r.local_best < float("inf") else nan) for r in records]
    ax.plot(gens, [g for g, _ in finite], label="global best", lw=2)
    ax.plot(gens, [loc for _, loc in finite], label="local best (this generation)", lw=1, alpha=0.8)
    ax.set_xlabel("generation")
    ax.set_ylabel("objective (val error + λ·Np/Nmax)")
    ax.set_title("Objective progression")
    _save(fig, [ax], path)


def plot_curves(history: Sequence[EpochStats], test_nll: float, test_error: float, path: str | Path) -> None:
    epochs = [h.epoch for h in history]
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4))
    a.plot(epochs, [h.train_loss for h in history], label="train")
    a.plot(epochs, [h.val_loss for h in history], label="validation")
    a.axhline(test_nll, ls="--", color="grey", label=f"test ({test_nll:.3f})")
    a.set_xlabel("epoch")
    a.set_ylabel("mean NLL")
    a.set_title("Loss")
    b.plot(epochs, [h.train_error for h in history], label="train")
    b.plot(epochs, [h.val_error for h in history], label="validation")
    b.axhline(test_error, ls="--", color="grey", label=f"test ({test_error:.4f})")
    b.set_xlabel("epoch")
    b.set_ylabel("classification error")
    b.set_title("Classification error")
    _save(fig, [a, b], path)


def plot_regret(curves: dict, grid, path: str | Path) -> None:
    """Median regret (best objective found minus the optimum) against compute, per strategy."""
    fig, ax = plt.subplots(figsize=(8, 4.5))
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
    fig, ax = plt.subplots(figsize=(7, 4.5))
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
